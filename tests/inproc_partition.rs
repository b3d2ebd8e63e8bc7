//! A leader cut off from both followers, in one test process (`support::inproc`): the
//! minority side acknowledges none of the writes sent to it, the majority elects a leader
//! and takes writes, and after the heal the old leader follows, keeps its unacknowledged
//! tail aside and serves none of it. (Moved from the real-process `replication.rs`: it
//! needs no process of its own.)

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use georep::group::GroupId;
use support::cluster::FAST;
use support::inproc::{InProcCluster, REGIONS};
use support::phase;

const MINORITY: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_leader_acknowledges_nothing_and_keeps_its_tail_aside() {
    let dir = tempfile::tempdir().unwrap();
    let c = InProcCluster::start(dir.path(), FAST).await;
    let g = GroupId::DEFAULT_DATA;
    let old = c.leader(g, Duration::from_secs(20)).await;
    for i in 0..50 {
        let r = c
            .client(i % 3)
            .put("c", &format!("before{i}"), Bytes::from("b"), &[])
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    phase(&format!(
        "cut the leader {} off from both followers",
        REGIONS[old]
    ));
    c.isolate(old, true);
    let cut = Instant::now();
    // writes sent to the old leader: none may be acknowledged
    let minority_writes: Vec<_> = (0..MINORITY)
        .map(|i| {
            let client = c.client(old);
            tokio::spawn(async move {
                let key = format!("minority{i}");
                // a write can only fail here: 503 (no quorum) or the client's timeout
                match client.put("c", &key, Bytes::from("m"), &[]).await {
                    Ok(r) if r.status == 200 => Some(key),
                    _ => None,
                }
            })
        })
        .collect();
    let majority: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let view = |i: usize| {
        c.nodes[i]
            .as_ref()
            .unwrap()
            .groups()
            .get(g)
            .unwrap()
            .clone()
    };
    let new = loop {
        if let Some(l) = view(majority[0]).leader()
            && l != REGIONS[old]
        {
            break l;
        }
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "the majority elected nobody"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("majority elected {new} after {:?}", cut.elapsed());
    let r = c
        .client(majority[0])
        .put("c", "during", Bytes::from("d"), &[])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "the majority side serves writes");
    let mut acked_by_minority = Vec::new();
    for w in minority_writes {
        acked_by_minority.extend(w.await.unwrap());
    }
    assert!(
        acked_by_minority.is_empty(),
        "the cut-off leader acknowledged {acked_by_minority:?}"
    );

    phase("heal: the old leader rejoins as a follower and drops its uncommitted tail");
    c.isolate(old, false);
    c.converged(g, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while view(old).leader().as_deref() != Some(new.as_str()) || view(old).is_leader() {
        assert!(
            Instant::now() < deadline,
            "the old leader does not follow {new}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = c
        .client(old)
        .get("c", "during", &[("x-georep-consistency", "strong")])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let aside = dir.path().join(REGIONS[old]).join("groups/g1/truncated");
    let kept: Vec<_> = std::fs::read_dir(&aside)
        .map(|d| d.filter_map(|e| e.ok()).collect())
        .unwrap_or_default();
    assert!(
        !kept.is_empty(),
        "the old leader's unacknowledged tail is kept aside in {}",
        aside.display()
    );
    for i in 0..MINORITY {
        let r = c
            .client(old)
            .get(
                "c",
                &format!("minority{i}"),
                &[("x-georep-consistency", "strong")],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 404, "an unacknowledged minority write survived");
    }
}
