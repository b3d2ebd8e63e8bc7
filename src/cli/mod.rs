//! Command-line interface (CONTRACT.md): every subcommand has `--help`; exit code 0 on
//! success, 2 for bad usage or invalid configuration, 1 for failures while running.

pub mod archive;
pub mod auth;
pub mod bench;
pub mod certs;
pub mod demo;
pub mod doc;
pub mod node;
pub mod restore;
pub mod stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use georep::consistency::Consistency;

#[derive(Debug, Parser)]
#[command(
    name = "georep",
    version,
    about = "Geo-distributed replication with per-request consistency",
    long_about = "georep stores JSON (or any bytes) documents in collections placed across regions.\n\
        Each request chooses its consistency: strong, bounded_staleness, session, consistent_prefix or eventual.\n\n\
        Start here:  georep demo            (three local regions and a short workload)\n\
        Run a node:  georep node --topology regions/local.toml --region us-east-1\n\
        Talk to it:  georep put --endpoint http://127.0.0.1:7101 orders o-1 '{\"qty\":2}'"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every region of a topology on this machine with a short workload, then keep serving.
    Demo(demo::DemoArgs),
    /// Run one region node in the foreground (logs to stderr; SIGTERM or Ctrl-C stops it cleanly).
    Node(node::NodeArgs),
    /// Write a document: prints the write result; the new session token goes to stderr.
    Put(doc::PutArgs),
    /// Read a document: prints it to stdout; version, region, staleness and session token to stderr.
    Get(doc::DocArgs),
    /// Delete a document.
    Delete(doc::DocArgs),
    /// Drive a running node over HTTP with concurrent clients; print throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Certificates for mutual TLS between regions.
    Certs(certs::CertsArgs),
    /// Inspect an archive: list restore points, verify every object.
    Archive(archive::ArchiveArgs),
    /// Restore a data dir to a point in time from the archive alone.
    Restore(restore::RestoreArgs),
    /// Client credentials for [auth]: new bearer tokens (and the line to paste), signed JWTs.
    Auth(auth::AuthArgs),
}

/// Where and how to reach a node's API: every client command and `georep bench` take these.
#[derive(Debug, clap::Args)]
pub struct ConnectOpts {
    /// Node API address, e.g. http://127.0.0.1:7101 or https://georep.example.com:7101
    #[arg(long, env = "GEOREP_ENDPOINT")]
    pub endpoint: String,
    /// Bearer token (static or JWT) for a cluster with [auth]; prefer the environment
    /// variable, which stays out of the process list
    #[arg(long, env = "GEOREP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify an https:// endpoint with, e.g. the ca.pem of
    /// `georep certs init`; without it the system's trust store is used
    #[arg(long, env = "GEOREP_CACERT")]
    pub cacert: Option<PathBuf>,
}

impl ConnectOpts {
    /// A client for --endpoint, trusting --cacert and sending --token if given.
    pub fn client(&self) -> Result<georep::client::Client, UsageError> {
        let c = georep::client::Client::connect(&self.endpoint, self.cacert.as_deref())
            .map_err(|e| UsageError(e.to_string()))?;
        Ok(match &self.token {
            Some(t) => c.with_bearer(t),
            None => c,
        })
    }
}

/// Options every document command shares.
#[derive(Debug, clap::Args)]
pub struct ClientOpts {
    #[command(flatten)]
    pub connect: ConnectOpts,
    /// strong | bounded_staleness | session | consistent_prefix | eventual (default: the collection's)
    #[arg(long, value_parser = parse_consistency)]
    pub consistency: Option<Consistency>,
    /// Session token from an earlier response (read-your-writes across requests and regions)
    #[arg(long, env = "GEOREP_SESSION_TOKEN")]
    pub session_token: Option<String>,
    /// Staleness bound in ms for --consistency bounded_staleness
    #[arg(long)]
    pub max_staleness_ms: Option<u64>,
}

impl ClientOpts {
    pub fn client(&self) -> Result<georep::client::Client, UsageError> {
        self.connect.client()
    }
}

fn parse_consistency(s: &str) -> Result<Consistency, String> {
    s.parse::<Consistency>().map_err(|e| e.to_string())
}

/// An error in what the user asked for: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn default_data_dir(region: &str) -> PathBuf {
    PathBuf::from("georep-data").join(region)
}
