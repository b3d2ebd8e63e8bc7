//! Archive lag (the RPO) under a steady write rate: one node with a `file://` archive and a
//! 1 s segment age cap, writes offered at a fixed rate, and the node's
//! `georep_archive_lag_seconds` sampled every 100 ms. Reports p50/p99/max.
//!
//! `cargo bench --bench archive_rpo`; `GEOREP_RPO_RATE` (writes/s, default 2000) and
//! `GEOREP_BENCH_SECS` (default 20).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;

use support::{BIN, Procs, free_port as port};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rate = env("GEOREP_RPO_RATE", 2000);
    let secs = env("GEOREP_BENCH_SECS", 20);
    let dir = tempfile::tempdir().unwrap();
    let api = format!("127.0.0.1:{}", port());
    let key = dir.path().join("archive.key");
    std::fs::write(
        &key,
        "k1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    )
    .unwrap();
    let topo = dir.path().join("topology.toml");
    std::fs::write(
        &topo,
        format!(
            "cluster = \"rpo\"\n[node]\nwal_segment_age_ms = 1000\n\
             [[regions]]\nname = \"r1\"\napi = \"{api}\"\npeer = \"127.0.0.1:{}\"\n\
             [archive]\nurl = \"file://{}\"\nkey_file = \"{}\"\n",
            port(),
            dir.path().join("archive").display(),
            key.display()
        ),
    )
    .unwrap();
    let _node = Procs(vec![
        Command::new(BIN)
            .args(["node", "--topology"])
            .arg(&topo)
            .args(["--region", "r1", "--data-dir"])
            .arg(dir.path().join("r1"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ]);
    let probe = Client::new(&api).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe
        .request(hyper::Method::GET, "/healthz", &[], Bytes::new())
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "node did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let clients = 32u64;
    let end = Instant::now() + Duration::from_secs(secs);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = Client::new(&api).unwrap();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(clients * 1_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let value = Bytes::from(vec![b'x'; 1024]);
            let mut i = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                i += 1;
                if client
                    .put("rpo", &format!("k{c}-{}", i % 1000), value.clone(), &[])
                    .await
                    .is_ok_and(|r| r.status.is_success())
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // skip the first seconds: the archiver's first rounds
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut lag = Vec::new();
    while Instant::now() < end {
        if let Ok(r) = probe
            .request(hyper::Method::GET, "/metrics", &[], Bytes::new())
            .await
            && let Some(v) = String::from_utf8_lossy(&r.body)
                .lines()
                .find(|l| l.starts_with("georep_archive_lag_seconds{"))
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        {
            lag.push((v * 1000.0) as u64);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    lag.sort_unstable();
    let pct = |p: f64| lag[((lag.len() as f64 * p) as usize).min(lag.len() - 1)];
    println!(
        "offered {rate} writes/s (1 KiB, {clients} clients) for {secs} s; achieved {:.0}/s; segment age cap 1 s; {} samples",
        done.load(Ordering::Relaxed) as f64 / secs as f64,
        lag.len()
    );
    println!(
        "archive lag (RPO): p50 {} ms, p99 {} ms, max {} ms",
        pct(0.5),
        pct(0.99),
        lag[lag.len() - 1]
    );
}
