use std::path::PathBuf;

use anyhow::Context;
use georep::config::Topology;
use georep::node::{Node, NodeConfig};

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// Topology file (TOML) naming the cluster, its regions and placements
    #[arg(long)]
    pub topology: PathBuf,
    /// This node's region, as named in the topology
    #[arg(long)]
    pub region: String,
    /// Where the WAL and store live [default: georep-data/<region>]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Listen for the HTTP API here instead of the topology's `api` address: for hosts whose
    /// advertised address is not on an interface (cloud NAT), e.g. 0.0.0.0:7101
    #[arg(long)]
    pub api_listen: Option<std::net::SocketAddr>,
    /// Directory with the cluster CA and this region's certificate and key, as made by
    /// `georep certs init` [default: the topology's tls.certs_dir]
    #[arg(long)]
    pub certs: Option<PathBuf>,
    /// Reach REGION at ADDR instead of its topology `peer` address (e.g. a WAN relay);
    /// repeatable: --peer-route eu-west-1=127.0.0.1:9000
    #[arg(long, value_name = "REGION=ADDR", value_parser = parse_route)]
    pub peer_route: Vec<(String, std::net::SocketAddr)>,
    /// Fault testing only: a file holding a signed offset in ms (e.g. `-300`, `2000`) added
    /// to this node's wall clock, re-read every 100 ms, so a test can skew one region's clock
    /// while it runs. Peers refuse a node whose clock is beyond node.max_clock_skew_ms ahead
    #[arg(long, value_name = "FILE")]
    pub clock_offset_file: Option<PathBuf>,
}

fn parse_route(s: &str) -> Result<(String, std::net::SocketAddr), String> {
    let (region, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not REGION=ADDR"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an IP:port address: {e}"))?;
    Ok((region.to_string(), addr))
}

pub async fn run(args: NodeArgs) -> anyhow::Result<()> {
    let topology = Topology::load(&args.topology)?;
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| super::default_data_dir(&args.region));
    let node = Node::start(NodeConfig {
        topology,
        region: args.region,
        data_dir,
        api_override: args.api_listen,
        certs_dir: args.certs,
        peer_routes: args.peer_route.into_iter().collect(),
        clock_offset_file: args.clock_offset_file,
    })
    .await?;
    wait_for_signal()
        .await
        .context("installing signal handlers")?;
    tracing::info!(region = node.region(), "shutting down");
    node.shutdown().await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
