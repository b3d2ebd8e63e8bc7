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
use georep::wan::Mesh;

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
    #[arg(long, default_value_t = 20)]
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
    // Dev certificates for mutual TLS between the regions, made once.
    let certs = args.dir.join("certs");
    if !georep::transport::ca_cert_path(&certs).exists() {
        georep::transport::init_certs(&certs, &topology.cluster, &topology.region_names(), &[])
            .with_context(|| format!("creating dev certificates in {}", certs.display()))?;
    }
    topology.certs_dir = Some(certs);
    // A file:// archive under the demo dir, with a fresh master key made once.
    let archive_key = args.dir.join("archive.key");
    if !archive_key.exists() {
        super::archive::write_new_key(&archive_key, "demo")?;
    }
    let archive_dir = std::path::absolute(args.dir.join("archive"))
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let url = format!("file://{}", archive_dir.display());
    let key = georep::config::ArchiveKey::File(archive_key);
    topology.archive = Some(match topology.archive.take() {
        Some(a) => georep::config::Archive { url, key, ..a },
        None => georep::config::Archive::new(url, key),
    });

    // Secure by default here too: the demo's API (loopback) takes a bearer token it makes
    // now; its own clients send it, and it is printed for yours.
    let (token, sha256) = super::auth::new_token()?;
    // (a --topology with its own [auth] keeps its credentials; this one is added)
    topology.auth.mode = georep::config::AuthMode::Token;
    topology.auth.tokens.retain(|t| t.name != "demo");
    topology.auth.tokens.push(georep::config::StaticToken {
        name: "demo".into(),
        role: georep::config::Role::Admin,
        sha256,
    });

    println!(
        "georep demo: cluster {:?}, {} regions, data in {}",
        topology.cluster,
        topology.regions.len(),
        args.dir.display()
    );
    let mesh = Mesh::start(&topology)
        .await
        .context("starting the WAN relays")?;
    println!("emulated WAN (one relay per direction; RTT from the topology's [[links]]):");
    for l in &topology.links {
        println!(
            "  {} <-> {}: {} ms RTT",
            l.between[0], l.between[1], l.rtt_ms
        );
    }
    println!(
        "regions replicate over QUIC with mutual TLS (dev certificates in {}/certs), through the relays",
        args.dir.display()
    );
    let mut nodes = Vec::new();
    for region in &topology.regions {
        let node = Node::start(NodeConfig {
            topology: topology.clone(),
            region: region.name.clone(),
            data_dir: args.dir.join(&region.name),
            api_override: None,
            certs_dir: None,
            peer_routes: mesh.routes_from(&region.name),
            clock_offset_file: None,
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
    println!("waiting for every log group to elect a leader...");
    let t = Instant::now();
    wait_for_leaders(&nodes, Duration::from_secs(60)).await?;
    println!("  leaders elected in {:.1} s", t.elapsed().as_secs_f64());
    for node in &nodes {
        for g in node.groups().iter() {
            if g.is_leader() {
                let s = g.spec();
                println!(
                    "  group {:<12} ({:<8}) leader {:<12} voters {:?} learners {:?} ack {:?}",
                    g.id().to_string(),
                    s.name,
                    node.region(),
                    s.voters,
                    s.learners,
                    s.ack.mode
                );
            }
        }
    }

    let result = workload(&nodes, &topology, args.ops, &token).await;
    match &result {
        Ok(()) => {
            let first = nodes[0].api_addr();
            println!(
                "\nTry it (any region; see README.md for every header). The API takes this demo's admin token:"
            );
            println!("  export GEOREP_TOKEN={token}");
            println!(
                "  curl -i -X PUT http://{first}/v1/collections/orders/docs/o-1 -H \"authorization: Bearer $GEOREP_TOKEN\" -H 'content-type: application/json' -d '{{\"qty\":2}}'"
            );
            println!(
                "  curl -i http://{first}/v1/collections/orders/docs/o-1 -H \"authorization: Bearer $GEOREP_TOKEN\" -H 'x-georep-consistency: strong'"
            );
            println!("  georep get --endpoint http://{first} --consistency strong orders o-1");
            if topology
                .collections
                .iter()
                .any(|c| c.name == "views" && c.crdt.is_some())
            {
                println!(
                    "  curl -s -X POST http://{first}/v1/collections/views/docs/home/ops -H \"authorization: Bearer $GEOREP_TOKEN\" -d '{{\"op\":\"increment\",\"by\":1}}'"
                );
            }
            if topology.collections.iter().any(|c| c.name == "carts") {
                println!(
                    "  curl -s http://{first}/v1/collections/carts/conflicts -H \"authorization: Bearer $GEOREP_TOKEN\""
                );
            }
            println!(
                "  georep archive list --archive file://{}",
                std::path::absolute(args.dir.join("archive"))
                    .unwrap_or_default()
                    .display()
            );
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
    drop(mesh);
    result
}

type Reads = BTreeMap<(usize, String), Vec<Duration>>;

/// One session in `region`: for each level, write a key and read it back at that level.
/// Returns the read latencies, reads that broke read-your-writes, and reads that trailed.
async fn read_session(
    region: &str,
    client: &Client,
    ops: usize,
) -> anyhow::Result<(Reads, usize, usize)> {
    let mut reads = Reads::new();
    let mut mismatches = 0;
    let mut trailing = 0;
    let mut token = String::new();

    for (li, level) in Consistency::ALL.iter().enumerate() {
        for i in 0..ops {
            let key = format!("read-{region}-{level}-{i}");
            let value = Bytes::from(format!("{{\"i\":{i}}}"));
            let headers = [
                ("content-type", "application/json"),
                ("x-georep-session-token", token.as_str()),
            ];
            let resp = client.put("demo", &key, value.clone(), &headers).await?;
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
                .entry((li, region.to_string()))
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
            if let Some(t) = resp.header("x-georep-session-token") {
                token = t.to_string();
            }
        }
        println!("  {region}: {level} done ({ops} writes and reads)");
    }
    Ok((reads, mismatches, trailing))
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut out = Vec::with_capacity(handles.len());
    // few regions: awaiting them pinned side by side is enough
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().map(|d| d.expect("every future finished")));
    out
}

async fn wait_for_leaders(nodes: &[Node], limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let missing: Vec<String> = nodes
            .iter()
            .flat_map(|n| n.groups().iter())
            // idle slots of regions a group is not placed in have no leader to know
            .filter(|g| g.is_member() && g.leader().is_none())
            .map(|g| g.spec().name)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no leader after {limit:?} for groups {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn workload(
    nodes: &[Node],
    topology: &Topology,
    ops: usize,
    token: &str,
) -> anyhow::Result<()> {
    let regions: Vec<String> = nodes.iter().map(|n| n.region().to_string()).collect();
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Client::new(&n.api_addr().to_string()).map(|c| c.with_bearer(token)))
        .collect::<Result<_, _>>()?;
    let cell = |v: &mut Vec<Duration>| {
        if v.is_empty() {
            return "-".to_string();
        }
        v.sort_unstable();
        format!("{} / {}", ms(percentile(v, 50.0)), ms(percentile(v, 99.0)))
    };

    // Writes: every collection from every region that holds a replica of it. A region that
    // does not lead the group forwards the write to the leader over QUIC.
    let mut tiers: Vec<(String, String, Vec<String>)> = topology
        .collections
        .iter()
        .map(|c| {
            let tier = match (c.tier, c.crdt) {
                (georep::config::Tier::MultiMaster, Some(kind)) => {
                    format!("multi_master, {}", kind.as_str())
                }
                (georep::config::Tier::MultiMaster, None) => "multi_master".to_string(),
                (t, _) => format!("{t:?}").to_lowercase(),
            };
            (c.name.clone(), tier, c.regions.clone())
        })
        .collect();
    let crdt: std::collections::BTreeSet<String> = topology
        .collections
        .iter()
        .filter(|c| c.crdt.is_some())
        .map(|c| c.name.clone())
        .collect();
    tiers.push(("demo".into(), "default".into(), regions.clone()));
    let mut writes: BTreeMap<(usize, String), Vec<Duration>> = BTreeMap::new();
    let blocks: usize = tiers
        .iter()
        .map(|(_, _, h)| regions.iter().filter(|r| h.contains(r)).count())
        .sum();
    println!(
        "\nphase 1 of 2: {ops} writes per collection from each region holding it ({blocks} runs \
         over the emulated WAN; a region that does not lead forwards to the leader)"
    );
    let mut block = 0;
    for (ti, (collection, tier, holders)) in tiers.iter().enumerate() {
        for (ri, region) in regions.iter().enumerate() {
            if !holders.contains(region) {
                continue;
            }
            block += 1;
            let began = Instant::now();
            for i in 0..ops {
                let key = format!("{region}-{i}");
                let value = Bytes::from(format!("{{\"region\":\"{region}\",\"i\":{i}}}"));
                let t = Instant::now();
                let resp = if crdt.contains(collection) {
                    // a CRDT collection changes through operations: every region counts
                    // into the same few documents
                    let op = Bytes::from_static(br#"{"op":"increment","by":1}"#);
                    let path = format!("/v1/collections/{collection}/docs/k{}/ops", i % 8);
                    clients[ri]
                        .request(hyper::Method::POST, &path, &[], op)
                        .await?
                } else {
                    clients[ri]
                        .put(
                            collection,
                            &key,
                            value,
                            &[("content-type", "application/json")],
                        )
                        .await?
                };
                writes
                    .entry((ti, region.clone()))
                    .or_default()
                    .push(t.elapsed());
                anyhow::ensure!(
                    resp.status.is_success(),
                    "PUT {collection}/{key} in {region}: HTTP {}: {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body)
                );
            }
            println!(
                "  [{block}/{blocks}] {collection} ({tier}) from {region}: {ops} writes in {:.1} s",
                began.elapsed().as_secs_f64()
            );
        }
    }

    // Reads at every level in every region, each right after this session's write.
    let mut reads: BTreeMap<(usize, String), Vec<Duration>> = BTreeMap::new();
    let mut mismatches = 0;
    let mut trailing = 0;
    println!(
        "\nphase 2 of 2: in every region at once, a session writes and reads back at each of \
         the {} levels ({ops} each)",
        Consistency::ALL.len()
    );
    let began = Instant::now();
    // the regions run their sessions at the same time
    let sessions = regions
        .iter()
        .zip(&clients)
        .map(|(region, client)| read_session(region, client, ops));
    for r in futures_join_all(sessions).await {
        let (region_reads, m, t) = r?;
        for (li, v) in region_reads {
            reads.insert(li, v);
        }
        mismatches += m;
        trailing += t;
    }
    println!("  sessions done in {:.1} s", began.elapsed().as_secs_f64());

    println!("\nwrites: {ops} per collection and region holding it; latency in ms, p50 / p99");
    print!("{:<34}", "collection (tier)");
    for r in &regions {
        print!("{r:>18}");
    }
    println!();
    for (ti, (collection, tier, _)) in tiers.iter().enumerate() {
        print!("{:<34}", format!("{collection} ({tier})"));
        for r in &regions {
            print!("{:>18}", cell(writes.entry((ti, r.clone())).or_default()));
        }
        println!();
    }
    println!(
        "multi_master collections are acknowledged by the region that received the write after \
         its own fsync: no WAN round trip (the others are one or two RTTs to their leader)"
    );
    println!(
        "\nreads of collection demo (every region a voter), each right after its session's write"
    );
    print!("{:<34}", "read at level");
    for r in &regions {
        print!("{r:>18}");
    }
    println!();
    for (li, level) in Consistency::ALL.iter().enumerate() {
        print!("{:<34}", level.as_str());
        for r in &regions {
            print!("{:>18}", cell(reads.entry((li, r.clone())).or_default()));
        }
        println!();
    }
    anyhow::ensure!(
        mismatches == 0,
        "{mismatches} strong/session reads did not return the value just written"
    );
    println!(
        "every strong and session read returned the value its session had just written; \
         {trailing} bounded/prefix/eventual reads ran ahead of replication, as those levels allow"
    );
    Ok(())
}
