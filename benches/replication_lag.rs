//! Replication lag under a steady write rate: three georep regions on loopback, a `critical`
//! collection in SEMI_SYNC with one replica (so one of the two followers may trail), writes
//! offered at a fixed rate to the leader while the leader's `/v1/cluster` is sampled every
//! 20 ms. Reports the achieved rate and p50/p99/max of the slowest replica's lag, in ms of
//! HLC age (how old the newest entry it lacks is) and in entries.
//!
//! `cargo bench --bench replication_lag`; `GEOREP_LAG_RATE` (writes/s, default 2000) and
//! `GEOREP_BENCH_SECS` (default 10).

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;

use support::cluster::{Cluster, FAST};

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let rate: u64 = std::env::var("GEOREP_LAG_RATE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let secs: u64 = std::env::var("GEOREP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_direct(
        dir.path(),
        &format!(
            "{FAST}[[collections]]\nname = \"lag\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
             ack_mode = \"semi_sync\"\nmin_sync_replicas = 1\n"
        ),
    )
    .await;
    let leader = cluster.leader_endpoint("lag").await;
    let clients = 64u64;
    let end = Instant::now() + Duration::from_secs(secs);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = Client::new(&leader)
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(clients * 1_000_000 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let value = Bytes::from(vec![b'x'; 1024]);
            let mut i = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                i += 1;
                let key = format!("k{c}-{}", i % 1000);
                if client
                    .put("lag", &key, value.clone(), &[])
                    .await
                    .is_ok_and(|r| r.status.is_success())
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let probe = Client::new(&leader).unwrap();
    let (mut lag_ms, mut lag_entries) = (Vec::new(), Vec::new());
    tokio::time::sleep(Duration::from_secs(1)).await;
    while Instant::now() + Duration::from_millis(500) < end {
        if let Ok(r) = probe
            .request(hyper::Method::GET, "/v1/cluster", &[], Bytes::new())
            .await
            && let Some(v) = r.json()
            && let Some(g) = v["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|g| g["name"] == "lag"))
            && let Some(reps) = g["replicas"].as_array()
            && !reps.is_empty()
        {
            lag_ms.push(
                reps.iter()
                    .filter_map(|r| r["lag_ms"].as_u64())
                    .max()
                    .unwrap_or(0),
            );
            lag_entries.push(
                reps.iter()
                    .filter_map(|r| r["lag_entries"].as_u64())
                    .max()
                    .unwrap_or(0),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let achieved = done.load(Ordering::Relaxed) as f64 / secs as f64;
    println!(
        "offered {rate} writes/s (1 KiB, 64 clients) for {secs} s to the leader; achieved {achieved:.0}/s; {} samples",
        lag_ms.len()
    );
    let n = lag_ms.len();
    println!(
        "slowest replica lag: p50 {} ms / p99 {} ms / max {} ms; entries p50 {} / p99 {} / max {}",
        pct(&mut lag_ms, 0.5),
        pct(&mut lag_ms, 0.99),
        lag_ms.get(n.saturating_sub(1)).copied().unwrap_or(0),
        pct(&mut lag_entries, 0.5),
        pct(&mut lag_entries, 0.99),
        lag_entries.get(n.saturating_sub(1)).copied().unwrap_or(0),
    );
}
