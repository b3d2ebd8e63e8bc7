//! Reads and writes across an emulated WAN: three georep regions on loopback whose every peer
//! byte crosses a relay adding the link's delay (RTTs r1-r2 60 ms, r1-r3 90 ms, r2-r3
//! 120 ms). Reports p50/p99 against the physical floor, the RTT:
//! - STRONG writes at the leader region of a `critical` collection (SEMI_SYNC, 1 replica:
//!   a majority of 3), against the RTT to the nearest other voter;
//! - reads at each follower region at every consistency level, against its RTT to the leader;
//! - cross-region ASYNC replication lag: an `archival` collection in r1 with learners in r2
//!   and r3; after each acknowledged write at r1, a SESSION read carrying its token at each
//!   learner returns once that learner has applied it: ack-to-visible time, against RTT/2.
//!
//! `cargo bench --bench wan`; `GEOREP_BENCH_OPS` operations per cell (default 300),
//! `GEOREP_WAN_GAP_MS` pause between the ASYNC writes (default 10).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;

use support::cluster::{Cluster, FAST, REGIONS};
use support::wan_links::{links_toml, quantile, rtt};

/// (p50, p99) in ms.
fn pcts(v: &mut [Duration]) -> (f64, f64) {
    (quantile(v, 0.50), quantile(v, 0.99))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let ops: usize = std::env::var("GEOREP_BENCH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // pause between the ASYNC writes (the lag cell's write rate)
    let gap_ms: u64 = std::env::var("GEOREP_WAN_GAP_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let mut extra = String::from(FAST) + links_toml().as_str();
    extra += "[[collections]]\nname = \"strong\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
              ack_mode = \"semi_sync\"\nmin_sync_replicas = 1\n\
              [[collections]]\nname = \"async\"\ntier = \"archival\"\nregions = [\"r1\"]\n\
              learners = [\"r2\", \"r3\"]\n";
    // every peer byte crosses the kit's relays, which add each link's delay
    let cluster = Cluster::start(dir.path(), &extra).await;
    let clients: Vec<Client> = (0..3)
        .map(|i| cluster.client(i).with_timeout(Duration::from_secs(10)))
        .collect();
    let leader = cluster.leader("strong", Duration::from_secs(30)).await;
    cluster.leader("async", Duration::from_secs(30)).await;
    let nearest = (0..3)
        .filter(|&i| i != leader)
        .map(|i| rtt(leader, i))
        .min()
        .unwrap();
    println!(
        "RTTs r1-r2 60 ms, r1-r3 90 ms, r2-r3 120 ms; `strong` led by {} (nearest voter \
         {nearest} ms away); {ops} operations per cell, one client at a time",
        REGIONS[leader]
    );
    let value = Bytes::from(vec![b'x'; 256]);
    for k in 0..100 {
        let r = clients[leader]
            .put("strong", &format!("k{k}"), value.clone(), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    println!("\n| what | where | p50 ms | p99 ms | floor (RTT) ms | p50/floor | p99/floor |");
    println!("|---|---|---|---|---|---|---|");
    let row = |what: &str, at: &str, lat: &mut Vec<Duration>, floor: f64| {
        let (p50, p99) = pcts(lat);
        let ratio = |x: f64| {
            if floor > 0.0 {
                format!("{:.2}", x / floor)
            } else {
                "-".into()
            }
        };
        println!(
            "| {what} | {at} | {p50:.2} | {p99:.2} | {floor:.0} | {} | {} |",
            ratio(p50),
            ratio(p99)
        );
    };

    let mut lat = Vec::new();
    for i in 0..ops {
        let t = Instant::now();
        let r = clients[leader]
            .put("strong", &format!("k{}", i % 100), value.clone(), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        lat.push(t.elapsed());
    }
    row(
        "STRONG write (SEMI_SYNC 1 of 2)",
        &format!("leader {}", REGIONS[leader]),
        &mut lat,
        nearest as f64,
    );

    for f in (0..3).filter(|&i| i != leader) {
        let floor = rtt(f, leader) as f64;
        // a token for this region's own replica: SESSION is caught up by construction
        let r = clients[f]
            .get("strong", "k0", &[("x-georep-consistency", "eventual")])
            .await
            .unwrap();
        let token = r.header("x-georep-session-token").unwrap().to_string();
        for (level, extra) in [
            ("eventual", None),
            ("consistent_prefix", None),
            ("session", Some(("x-georep-session-token", token.as_str()))),
            (
                "bounded_staleness",
                Some(("x-georep-max-staleness-ms", "5000")),
            ),
            ("strong", None),
        ] {
            let mut lat = Vec::new();
            let mut local = 0;
            for i in 0..ops {
                let mut headers = vec![("x-georep-consistency", level)];
                headers.extend(extra);
                let t = Instant::now();
                let r = clients[f]
                    .get("strong", &format!("k{}", i % 100), &headers)
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                assert_eq!(
                    r.status,
                    200,
                    "{level}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                if r.header("x-georep-region") == Some(REGIONS[f]) {
                    local += 1;
                }
            }
            row(
                &format!("{level} read ({local}/{ops} served locally)"),
                &format!("follower {}", REGIONS[f]),
                &mut lat,
                floor,
            );
        }
    }

    let mut lags: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for i in 0..ops {
        let r = clients[0]
            .put("async", &format!("a{}", i % 100), value.clone(), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let acked = Instant::now();
        let token = r.header("x-georep-session-token").unwrap().to_string();
        let reads = [1, 2].map(|l| {
            let (client, token) = (clients[l].clone(), token.clone());
            let key = format!("a{}", i % 100);
            tokio::spawn(async move {
                let r = client
                    .get(
                        "async",
                        &key,
                        &[
                            ("x-georep-consistency", "session"),
                            ("x-georep-session-token", &token),
                        ],
                    )
                    .await
                    .unwrap();
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                assert_eq!(r.header("x-georep-region"), Some(REGIONS[l]));
                acked.elapsed()
            })
        });
        for (n, read) in reads.into_iter().enumerate() {
            lags[n].push(read.await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    for (n, l) in [1usize, 2].into_iter().enumerate() {
        let half = rtt(0, l) as f64 / 2.0;
        let (p50, p99) = pcts(&mut lags[n]);
        println!(
            "| ASYNC replication lag, one write every ~{gap_ms} ms, ack at r1 to visible at {} (target p99 <= RTT/2 + 20 = {:.0} ms) | learner {} | {p50:.2} | {p99:.2} | {half:.0} (RTT/2) | {:.2} | {:.2} |",
            REGIONS[l],
            half + 20.0,
            REGIONS[l],
            p50 / half,
            p99 / half
        );
    }
    drop(cluster);
}
