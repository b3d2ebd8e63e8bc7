//! A single-voter group in process: Raft over the real WAL and store, no network.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::config::{AckMode, NodeSettings};
use crate::store::Precondition;

fn spec() -> GroupSpec {
    GroupSpec {
        id: GroupId(1),
        name: "default".into(),
        voters: vec!["r1".into()],
        learners: Vec::new(),
        ack: AckPolicy {
            mode: AckMode::Async,
            min_sync_replicas: 0,
            semi_sync_timeout: Duration::from_secs(1),
        },
        promotes_learner: false,
    }
}

async fn open(dir: &Path) -> Arc<LogGroup> {
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(Store::open(&dir.join("store.redb")).unwrap());
    let settings = NodeSettings {
        wal_segment_bytes: 64 << 10,
        max_value_bytes: 4096,
        snapshot_every_entries: 10,
        snapshot_keep_entries: 1,
        ..NodeSettings::default()
    };
    let options = GroupOptions {
        wal: WalOptions {
            segment_bytes: settings.wal_segment_bytes,
            ..WalOptions::new(dir.join("g1").join("wal"), 1)
        },
        settings,
        regions: Vec::new(),
        bootstrap: true,
    };
    let caller = crate::transport::rpc::PeerCaller {
        transport: None,
        peers: Arc::new(crate::transport::rpc::PeerBook::default()),
    };
    let clock = Arc::new(Hlc::new(1, 500));
    let (g, _) = LogGroup::open(
        spec(),
        Arc::from("r1"),
        clock,
        store,
        options,
        caller,
        None,
        None,
    )
    .await
    .unwrap();
    g
}

fn put(key: &str, value: &str, precondition: Precondition) -> Command {
    Command::Put {
        collection: "c".into(),
        key: key.into(),
        value: Bytes::from(value.to_string()),
        content_type: None,
        precondition,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_batch_keep_distinct_versions_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let group = open(&dir.path().join("a")).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let g = group.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..50 {
                let key = format!("k{t}-{i}");
                let c = g
                    .propose(put(&key, &key, Precondition::None))
                    .await
                    .unwrap();
                assert_eq!(c.outcome, ApplyOutcome::Written { version: c.index });
                out.push((key, c.index));
            }
            out
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let last = acked.iter().map(|(_, v)| *v).max().unwrap();
    assert!(last < 400 + 2, "400 writes took {last} entries");

    // compare-and-set is decided in log order, also inside batches
    let c = group
        .propose(put("k0-0", "new", Precondition::Version(acked[0].1)))
        .await
        .unwrap();
    assert!(matches!(c.outcome, ApplyOutcome::Written { .. }));
    let stale = group
        .propose(put("k0-0", "newer", Precondition::Version(acked[0].1)))
        .await
        .unwrap();
    assert!(matches!(
        stale.outcome,
        ApplyOutcome::PreconditionFailed { .. }
    ));
    let digest = group.digest().unwrap();
    group.shutdown().await;
    drop(group);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A copy without its store: the log alone rebuilds the same state.
    copy_dir(&dir.path().join("a"), &dir.path().join("b"));
    std::fs::remove_file(dir.path().join("b/store.redb")).unwrap();
    let group = open(&dir.path().join("b")).await;
    assert!(group.read_barrier(Duration::from_secs(10)).await.is_ok());
    assert_eq!(group.digest().unwrap(), digest);
    for (key, version) in acked.iter().skip(1) {
        assert_eq!(group.get("c", key).unwrap().unwrap().version, *version);
    }
    let after = group
        .propose(put("after", "x", Precondition::None))
        .await
        .unwrap();
    assert!(after.index > c.index);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_purged_behind_snapshot_and_checkpoint_and_a_reopen_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let group = open(&dir.path().join("a")).await;
    let value = "v".repeat(2000);
    for i in 0..200 {
        group
            .propose(put(&format!("k{i}"), &value, Precondition::None))
            .await
            .unwrap();
    }
    let segments = group.wal().sealed_segments().len();
    assert!(segments >= 3, "{segments} sealed segments");
    assert_eq!(
        group.purge_upto(u64::MAX).unwrap(),
        0,
        "nothing checkpointed yet"
    );
    group.store.checkpoint().unwrap();
    group.set_checkpointed(group.applied_index());
    let removed = group.purge_upto(u64::MAX).unwrap();
    assert!(removed >= 2, "removed {removed}");
    assert!(group.wal().first_index().unwrap() > 1);
    let digest = group.digest().unwrap();
    group.shutdown().await;
    drop(group);
    tokio::time::sleep(Duration::from_millis(200)).await;
    copy_dir(&dir.path().join("a"), &dir.path().join("b"));
    let group = open(&dir.path().join("b")).await;
    assert!(group.read_barrier(Duration::from_secs(10)).await.is_ok());
    assert_eq!(group.digest().unwrap(), digest);
    assert_eq!(group.get("c", "k0").unwrap().unwrap().value.len(), 2000);
}
