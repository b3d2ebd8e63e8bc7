//! Multi-master writes across an emulated WAN (issue 16): three georep regions on loopback
//! whose every peer byte crosses a relay adding the link's delay (RTTs r1-r2 60 ms, r1-r3
//! 90 ms, r2-r3 120 ms). Reports p50/p99/p99.9:
//! - a write to a `multi_master` collection at each region, acknowledged after that
//!   region's own fsync (goal p50 <= 2 ms, independent of RTT), side by side with a write to
//!   a `critical` collection (SEMI_SYNC, a majority of 3) sent to the same region, which
//!   pays the way to its leader and a majority round;
//! - replication lag per origin: after each acknowledged multi-master write at an origin, a
//!   SESSION read carrying its token at each other region returns once that region has
//!   applied it: ack-to-visible time, against RTT/2 + 20 ms.
//!
//! `cargo bench --bench multi_master`; `GEOREP_BENCH_OPS` writes per cell (default 400).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::client::Client;

use support::cluster::{Cluster, FAST, REGIONS};
use support::wan_links::{links_toml, quantile, rtt};

/// (p50, p99, p99.9) in ms.
fn pcts(v: &mut [Duration]) -> (f64, f64, f64) {
    (quantile(v, 0.50), quantile(v, 0.99), quantile(v, 0.999))
}

async fn writes(client: &Client, collection: &str, ops: usize, value: &Bytes) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(ops);
    for i in 0..ops {
        let t = Instant::now();
        let r = client
            .put(collection, &format!("k{}", i % 100), value.clone(), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        lat.push(t.elapsed());
    }
    lat
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let ops: usize = std::env::var("GEOREP_BENCH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let dir = tempfile::tempdir().unwrap();
    let mut extra = String::from(FAST) + links_toml().as_str();
    extra += "[[collections]]\nname = \"carts\"\ntier = \"multi_master\"\n\
              regions = [\"r1\", \"r2\", \"r3\"]\n\
              [[collections]]\nname = \"strong\"\ntier = \"critical\"\nregions = [\"r1\", \"r2\", \"r3\"]\n\
              ack_mode = \"semi_sync\"\nmin_sync_replicas = 1\n";
    let cluster = Cluster::start(dir.path(), &extra).await;
    let clients: Vec<Client> = (0..3)
        .map(|i| cluster.client(i).with_timeout(Duration::from_secs(10)))
        .collect();
    let leader = cluster.leader("strong", Duration::from_secs(30)).await;
    let value = Bytes::from(vec![b'x'; 256]);
    // warm both paths (connections, the leader's lease)
    for c in &clients {
        writes(c, "carts", 20, &value).await;
        writes(c, "strong", 20, &value).await;
    }
    println!(
        "RTTs r1-r2 60 ms, r1-r3 90 ms, r2-r3 120 ms; `strong` (critical) led by {}; {ops} \
         writes of 256 bytes per cell, one client at a time",
        REGIONS[leader]
    );
    println!(
        "\n| write at | multi_master p50 / p99 / p99.9 ms | critical p50 / p99 / p99.9 ms | RTT to the critical leader ms |"
    );
    println!("|---|---|---|---|");
    for (i, c) in clients.iter().enumerate() {
        let (m50, m99, m999) = pcts(&mut writes(c, "carts", ops, &value).await);
        let (c50, c99, c999) = pcts(&mut writes(c, "strong", ops, &value).await);
        println!(
            "| {} | {m50:.2} / {m99:.2} / {m999:.2} | {c50:.2} / {c99:.2} / {c999:.2} | {} |",
            REGIONS[i],
            rtt(i, leader)
        );
    }

    println!(
        "\n| origin -> region | replication lag p50 / p99 / p99.9 ms | target p99 (RTT/2 + 20) ms |"
    );
    println!("|---|---|---|");
    for origin in 0..3 {
        let others: Vec<usize> = (0..3).filter(|&j| j != origin).collect();
        let mut lags: Vec<Vec<Duration>> = vec![Vec::new(); others.len()];
        for i in 0..ops {
            let key = format!("lag{}", i % 100);
            let r = clients[origin]
                .put("carts", &key, value.clone(), &[])
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let acked = Instant::now();
            let token = r.header("x-georep-session-token").unwrap().to_string();
            let reads: Vec<_> = others
                .iter()
                .map(|&j| {
                    let (client, token, key) = (clients[j].clone(), token.clone(), key.clone());
                    tokio::spawn(async move {
                        let r = client
                            .get(
                                "carts",
                                &key,
                                &[
                                    ("x-georep-consistency", "session"),
                                    ("x-georep-session-token", &token),
                                ],
                            )
                            .await
                            .unwrap();
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        acked.elapsed()
                    })
                })
                .collect();
            for (n, read) in reads.into_iter().enumerate() {
                lags[n].push(read.await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for (n, &j) in others.iter().enumerate() {
            let (p50, p99, p999) = pcts(&mut lags[n]);
            println!(
                "| {} -> {} | {p50:.2} / {p99:.2} / {p999:.2} | {:.0} |",
                REGIONS[origin],
                REGIONS[j],
                rtt(origin, j) as f64 / 2.0 + 20.0
            );
        }
    }
    drop(cluster);
}
