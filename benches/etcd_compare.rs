//! Three georep regions against a three-member etcd, side by side on this machine's
//! loopback (no added delay): write throughput and p50/p99 at 1, 16 and 64 clients, 1 KiB
//! values over 10k keys, every write sent to the leader.
//!
//! georep runs a `critical` collection (3 voters) twice: with its default ack mode SYNC
//! (every voter durable before the reply, stricter than etcd) and with SEMI_SYNC and one
//! replica (a majority of three, what etcd waits for). etcd 3.4 (Debian `etcd-server`) is
//! driven through its HTTP/JSON gateway (`POST /v3/kv/put`), georep through its HTTP API,
//! by the same client code.
//!
//! `cargo bench --bench etcd_compare` (needs `etcd` on PATH; skipped otherwise).
//! `GEOREP_BENCH_SECS` sets the measured seconds per cell (default 5).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use georep::client::Client;

use support::cluster::{Cluster, FAST};
use support::{Procs, free_port as port};
const KEYS: u64 = 10_000;
const VALUE: usize = 1024;

#[derive(Clone, Copy)]
enum Target {
    Etcd,
    Georep,
}

struct Cell {
    ops_per_s: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn put(client: &Client, target: Target, collection: &str, key: u64, value: &Bytes) -> bool {
    match target {
        Target::Etcd => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let body = format!(
                "{{\"key\":\"{}\",\"value\":\"{}\"}}",
                b64.encode(format!("k{key}")),
                b64.encode(value)
            );
            client
                .request(hyper::Method::POST, "/v3/kv/put", &[], Bytes::from(body))
                .await
                .is_ok_and(|r| r.status.is_success())
        }
        Target::Georep => client
            .put(collection, &format!("k{key}"), value.clone(), &[])
            .await
            .is_ok_and(|r| r.status.is_success()),
    }
}

async fn load(endpoint: &str, target: Target, collection: &str, clients: usize, secs: u64) -> Cell {
    let value = Bytes::from(vec![b'x'; VALUE]);
    let start = Instant::now() + Duration::from_millis(500);
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = Client::new(endpoint)
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        let value = value.clone();
        let collection = collection.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut k = c as u64 * 7919;
            loop {
                let t = Instant::now();
                if t >= end {
                    return (lat, errors);
                }
                k = (k + 104_729) % KEYS;
                let ok = put(&client, target, &collection, k, &value).await;
                if t >= start {
                    if ok {
                        lat.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Cell {
        ops_per_s: all.len() as f64 / secs as f64,
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

fn start_etcd(dir: &Path) -> (Procs, Vec<String>) {
    let peers: Vec<u16> = (0..3).map(|_| port()).collect();
    let clients: Vec<u16> = (0..3).map(|_| port()).collect();
    let initial: Vec<String> = (0..3)
        .map(|i| format!("e{i}=http://127.0.0.1:{}", peers[i]))
        .collect();
    let mut procs = Vec::new();
    for i in 0..3 {
        let client = format!("http://127.0.0.1:{}", clients[i]);
        let peer = format!("http://127.0.0.1:{}", peers[i]);
        let child = Command::new("etcd")
            .args(["--name", &format!("e{i}"), "--data-dir"])
            .arg(dir.join(format!("etcd{i}")))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &initial.join(",")])
            .args([
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "bench",
            ])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts");
        procs.push(child);
    }
    (
        Procs(procs),
        clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
    )
}

/// The etcd member that leads, by asking each for its status.
async fn etcd_leader(endpoints: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for e in endpoints {
            let c = Client::new(e).unwrap().with_timeout(Duration::from_secs(2));
            if let Ok(r) = c
                .request(
                    hyper::Method::POST,
                    "/v3/maintenance/status",
                    &[],
                    Bytes::from("{}"),
                )
                .await
                && let Some(v) = r.json()
                && v["leader"].as_str().is_some()
                && v["leader"] == v["header"]["member_id"]
            {
                return e.clone();
            }
        }
        assert!(Instant::now() < deadline, "etcd elected no leader");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if Command::new("etcd").arg("--version").output().is_err() {
        eprintln!("etcd not found (apt-get install etcd-server); skipping");
        return;
    }
    let secs: u64 = std::env::var("GEOREP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let (_etcd, etcd_eps) = start_etcd(dir.path());
    let georep = Cluster::start_direct(
        dir.path(),
        &format!(
            "{FAST}[[collections]]\nname = \"sync\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
             [[collections]]\nname = \"majority\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
             ack_mode = \"semi_sync\"\nmin_sync_replicas = 1\n"
        ),
    )
    .await;
    let etcd = etcd_leader(&etcd_eps).await;
    let sync = georep.leader_endpoint("sync").await;
    let majority = georep.leader_endpoint("majority").await;
    let rows: Arc<[(&str, Target, &str, &str)]> = Arc::from(vec![
        ("etcd 3.4 (majority)", Target::Etcd, etcd.as_str(), ""),
        (
            "georep SEMI_SYNC 1 (majority)",
            Target::Georep,
            majority.as_str(),
            "majority",
        ),
        (
            "georep SYNC (all voters)",
            Target::Georep,
            sync.as_str(),
            "sync",
        ),
    ]);
    println!(
        "three members on 127.0.0.1, {VALUE}-byte values over {KEYS} keys, writes to the leader, {secs} s per cell"
    );
    println!(
        "{:<32}{:>8}{:>12}{:>10}{:>10}{:>8}",
        "system", "clients", "writes/s", "p50 ms", "p99 ms", "errors"
    );
    for clients in [1usize, 16, 64] {
        let mut etcd_ops = 0.0;
        for (name, target, endpoint, collection) in rows.iter() {
            let cell = load(endpoint, *target, collection, clients, secs).await;
            if matches!(target, Target::Etcd) {
                etcd_ops = cell.ops_per_s;
            }
            let ratio = if matches!(target, Target::Etcd) {
                String::new()
            } else {
                format!("  ({:.2}x etcd)", cell.ops_per_s / etcd_ops.max(1.0))
            };
            println!(
                "{:<32}{:>8}{:>12.0}{:>10}{:>10}{:>8}{ratio}",
                name,
                clients,
                cell.ops_per_s,
                ms(cell.p50),
                ms(cell.p99),
                cell.errors
            );
        }
    }
}
