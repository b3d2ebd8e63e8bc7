//! A leader that an online placement change removes steps down and hears from no leader
//! again: the leader it remembers is itself. A write proposed through that replica (the
//! change's own last step, setting the new tier's ack policy, is one) must reach the placed
//! voters, not spin on the stale leader until it gives up. CI once failed
//! `placement.rs` this way: the old leader stepped down before it wrote the ack policy and
//! answered 503 after 30 s. In one process (`support::inproc`).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::config::AckMode;
use georep::group::AckPolicy;
use support::cluster::FAST;
use support::inproc::{InProcCluster, REGIONS};
use support::phase;

const PLACEMENT: &str = "[[collections]]\nname = \"orders\"\ntier = \"critical\"\n\
                         regions = [\"r1\", \"r2\", \"r3\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_leader_proposes_through_the_placed_voters() {
    let dir = tempfile::tempdir().unwrap();
    let c = InProcCluster::start(dir.path(), &format!("{FAST}{PLACEMENT}")).await;
    let g = georep::placement::group_id_for("orders");
    let old = c.leader(g, Duration::from_secs(20)).await;
    let keep = (old + 1) % 3;
    let r = c
        .client(old)
        .put("orders", "before", Bytes::from("b"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    phase(&format!(
        "move orders to archival in {} alone, asked of its leader {}",
        REGIONS[keep], REGIONS[old]
    ));
    let r = c
        .client(old)
        .with_timeout(Duration::from_secs(120))
        .request(
            hyper::Method::PUT,
            "/v1/admin/collections/orders",
            &[],
            Bytes::from(
                serde_json::json!({"tier": "archival", "regions": [REGIONS[keep]]}).to_string(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let removed = c.nodes[old]
        .as_ref()
        .unwrap()
        .groups()
        .get(g)
        .unwrap()
        .clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while removed.is_leader() {
        assert!(
            Instant::now() < deadline,
            "the removed leader never stepped down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!removed.is_member(), "{:?}", removed.spec());

    phase("a write proposed through the removed replica commits at the new leader");
    let policy = AckPolicy {
        mode: AckMode::Async,
        min_sync_replicas: 0,
        semi_sync_timeout: Duration::from_millis(500),
    };
    let started = Instant::now();
    let committed = tokio::time::timeout(Duration::from_secs(10), removed.set_ack_policy(policy))
        .await
        .expect("the propose answered within 10 s")
        .expect("the placed voters took the write");
    assert_eq!(committed.leader, REGIONS[keep], "{committed:?}");
    println!(
        "proposed through the placed voters in {:?}",
        started.elapsed()
    );
    let kept = c.nodes[keep]
        .as_ref()
        .unwrap()
        .groups()
        .get(g)
        .unwrap()
        .clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while kept.applied_index() < committed.index {
        assert!(Instant::now() < deadline, "the new leader never applied it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(kept.spec().ack.mode, AckMode::Async);
}
