//! `georep demo`: every region of a topology on this machine, a short workload at each
//! consistency level, a latency table, then serving until Ctrl-C or `--duration`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use georep::client::Client;
use georep::config::{LOCAL_TOPOLOGY, Topology};
use georep::consistency::Consistency;
use georep::node::{Node, NodeConfig, session_key};

use super::stats::{ms, percentile};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: serve until Ctrl-C)
    #[arg(long)]
    pub duration: Option<u64>,
    /// Topology to run [default: the embedded regions/local.toml]
    #[arg(long)]
    pub topology: Option<PathBuf>,
    /// Where the demo keeps its data
    #[arg(long, default_value = "georep-demo")]
    pub dir: PathBuf,
    /// Operations per consistency level and region in the workload
    #[arg(long, default_value_t = 200)]
    pub ops: usize,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut topology = match &args.topology {
        Some(path) => Topology::load(path)?,
        None => Topology::parse(
            LOCAL_TOPOLOGY,
            Path::new("regions/local.toml"),
            Path::new("regions"),
        )?,
    };
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    // One key for all regions, so a session token from one region verifies in the others.
    let key_path = args.dir.join("session.key");
    if !key_path.exists() {
        session_key::write_new(&key_path, &session_key::generate())
            .with_context(|| format!("writing {}", key_path.display()))?;
    }
    topology.session_key_file = Some(key_path);
    // Archiving needs replicated groups when several regions share one archive.
    topology.archive = None;

    println!(
        "georep demo: cluster {:?}, {} regions, data in {}",
        topology.cluster,
        topology.regions.len(),
        args.dir.display()
    );
    println!(
        "note: replication between regions is not built yet. Each region runs its own single-voter\n\
         log group, so a write is visible only in the region that took it, every consistency level is\n\
         served locally, and the topology's WAN delays are not used yet. Archiving runs for\n\
         single-region topologies only until then, so the demo does not archive.\n"
    );
    let mut nodes = Vec::new();
    for region in &topology.regions {
        let node = Node::start(NodeConfig {
            topology: topology.clone(),
            region: region.name.clone(),
            data_dir: args.dir.join(&region.name),
            api_override: None,
        })
        .await
        .with_context(|| {
            format!(
                "starting region {} (is another demo already running?)",
                region.name
            )
        })?;
        println!("  {:<12} api http://{}", region.name, node.api_addr());
        nodes.push(node);
    }

    let result = workload(&nodes, args.ops).await;
    match &result {
        Ok(()) => {
            let first = nodes[0].api_addr();
            println!("\nTry it (any region; see README.md for every header):");
            println!(
                "  curl -i -X PUT http://{first}/v1/collections/orders/docs/o-1 -H 'content-type: application/json' -d '{{\"qty\":2}}'"
            );
            println!(
                "  curl -i http://{first}/v1/collections/orders/docs/o-1 -H 'x-georep-consistency: strong'"
            );
            println!("  curl -s http://{first}/v1/cluster");
            match args.duration {
                Some(d) => println!("\nserving for {d} s in all (Ctrl-C to stop sooner)"),
                None => println!("\nserving until Ctrl-C"),
            }
        }
        Err(e) => eprintln!("workload failed: {e:#}"),
    }
    if result.is_ok() {
        let until = args.duration.map(|d| started + Duration::from_secs(d));
        tokio::select! {
            r = super::node::wait_for_signal() => r.context("installing signal handlers")?,
            _ = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
    println!("stopping");
    for node in nodes {
        node.shutdown().await;
    }
    result
}

async fn workload(nodes: &[Node], ops: usize) -> anyhow::Result<()> {
    let mut reads: BTreeMap<(usize, String), Vec<Duration>> = BTreeMap::new();
    let mut writes: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    // strong and session reads promise read-your-writes; the others may trail a write by up
    // to their bound (writes are acknowledged once durable, before they are applied)
    let mut mismatches = 0;
    let mut trailing = 0;
    for node in nodes {
        let client = Client::new(&node.api_addr().to_string())?;
        let region = node.region().to_string();
        let mut token = String::new();
        for (li, level) in Consistency::ALL.iter().enumerate() {
            for i in 0..ops {
                let key = format!("{region}-{level}-{i}");
                let value = Bytes::from(format!("{{\"region\":\"{region}\",\"i\":{i}}}"));
                let headers = [
                    ("content-type", "application/json"),
                    ("x-georep-session-token", token.as_str()),
                ];
                let t = Instant::now();
                let resp = client.put("demo", &key, value.clone(), &headers).await?;
                writes.entry(region.clone()).or_default().push(t.elapsed());
                anyhow::ensure!(
                    resp.status.is_success(),
                    "PUT {key} in {region}: HTTP {}",
                    resp.status
                );
                token = resp
                    .header("x-georep-session-token")
                    .unwrap_or_default()
                    .to_string();

                let headers = [
                    ("x-georep-consistency", level.as_str()),
                    ("x-georep-session-token", token.as_str()),
                ];
                let t = Instant::now();
                let resp = client.get("demo", &key, &headers).await?;
                reads
                    .entry((li, region.clone()))
                    .or_default()
                    .push(t.elapsed());
                let ryw = matches!(level, Consistency::Strong | Consistency::Session);
                let fresh = resp.status.is_success() && resp.body == value;
                if !fresh && ryw {
                    mismatches += 1;
                } else if !fresh && resp.status.as_u16() == 404 {
                    trailing += 1;
                } else if !fresh {
                    anyhow::bail!("GET {key} in {region} at {level}: HTTP {}", resp.status);
                }
                token = resp
                    .header("x-georep-session-token")
                    .unwrap_or_default()
                    .to_string();
            }
        }
    }
    let regions: Vec<String> = nodes.iter().map(|n| n.region().to_string()).collect();
    let cell = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        format!("{} / {}", ms(percentile(v, 50.0)), ms(percentile(v, 99.0)))
    };
    println!(
        "\nworkload: {ops} writes + {ops} reads per consistency level and region; latency in ms, p50 / p99"
    );
    print!("{:<20}", "read at level");
    for r in &regions {
        print!("{r:>18}");
    }
    println!();
    for (li, level) in Consistency::ALL.iter().enumerate() {
        print!("{:<20}", level.as_str());
        for r in &regions {
            let v = reads.entry((li, r.clone())).or_default();
            print!("{:>18}", cell(v));
        }
        println!();
    }
    print!("{:<20}", "write (local group)");
    for r in &regions {
        print!("{:>18}", cell(writes.entry(r.clone()).or_default()));
    }
    println!();
    anyhow::ensure!(
        mismatches == 0,
        "{mismatches} strong/session reads did not return the value just written"
    );
    println!(
        "every strong and session read returned the value its session had just written; \
         {trailing} bounded/prefix/eventual reads ran ahead of apply, as those levels allow"
    );
    Ok(())
}
