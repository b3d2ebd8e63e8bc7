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
