use std::sync::Arc;

use bytes::Bytes;

use super::*;

fn put(index: u64, key: &str, value: &str, p: Precondition) -> Entry {
    entry(
        index,
        Command::Put {
            collection: "c".into(),
            key: key.into(),
            value: Bytes::from(value.to_string()),
            content_type: None,
            precondition: p,
        },
    )
}

fn entry(index: u64, cmd: Command) -> Entry {
    Entry {
        index,
        term: 1,
        hlc: Timestamp::new(1000 + index, 0, 1),
        origin: Arc::from("r"),
        payload: cmd.encode(),
    }
}

fn del(index: u64, key: &str, p: Precondition) -> Entry {
    entry(
        index,
        Command::Delete {
            collection: "c".into(),
            key: key.into(),
            precondition: p,
        },
    )
}

#[test]
fn applies_puts_deletes_and_preconditions_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let batch = [
        put(1, "a", "1", Precondition::Absent),
        put(2, "a", "2", Precondition::Absent),
        put(3, "a", "3", Precondition::Version(1)),
        put(4, "a", "4", Precondition::Version(1)),
        del(5, "zz", Precondition::None),
        del(6, "a", Precondition::Version(2)),
        del(7, "a", Precondition::None),
    ];
    let refs: Vec<&Entry> = batch.iter().collect();
    let out = store.apply_batch(1, &refs, false).unwrap();
    assert_eq!(
        out,
        vec![
            ApplyOutcome::Written { version: 1 },
            ApplyOutcome::PreconditionFailed { current: Some(1) },
            ApplyOutcome::Written { version: 3 },
            ApplyOutcome::PreconditionFailed { current: Some(3) },
            ApplyOutcome::NotFound,
            ApplyOutcome::PreconditionFailed { current: Some(3) },
            ApplyOutcome::Deleted { version: 7 },
        ]
    );
    assert_eq!(store.get(1, "c", "a").unwrap(), None);
    assert_eq!(store.applied(1).unwrap().index, 7);
    assert_eq!(store.applied(2).unwrap(), AppliedState::default());
}

#[test]
fn reapplying_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let e1 = put(1, "k", "one", Precondition::None);
    let e2 = put(2, "k", "two", Precondition::None);
    store.apply_batch(1, &[&e1, &e2], true).unwrap();
    let digest = store.digest(1).unwrap();
    let again = store.apply_batch(1, &[&e1, &e2], true).unwrap();
    assert_eq!(again, vec![ApplyOutcome::AlreadyApplied; 2]);
    assert_eq!(store.digest(1).unwrap(), digest);
    let doc = store.get(1, "k", "k").unwrap();
    assert!(doc.is_none(), "collection c, not k");
    let doc = store.get(1, "c", "k").unwrap().unwrap();
    assert_eq!((doc.version, doc.value.as_ref()), (2, b"two".as_ref()));
}

#[test]
fn lists_by_prefix_in_order_with_paging() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let keys = ["b2", "a", "b1", "b10", "c", "b"];
    let entries: Vec<Entry> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| put(i as u64 + 1, k, "v", Precondition::None))
        .collect();
    // a neighbouring collection whose name extends "c" must not leak into the listing
    let other = entry(
        7,
        Command::Put {
            collection: "cc".into(),
            key: "b3".into(),
            value: Bytes::new(),
            content_type: None,
            precondition: Precondition::None,
        },
    );
    let mut refs: Vec<&Entry> = entries.iter().collect();
    refs.push(&other);
    store.apply_batch(1, &refs, false).unwrap();
    let names = |v: Vec<(String, u64)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        names(store.list(1, "c", "b", None, 10).unwrap()),
        ["b", "b1", "b10", "b2"]
    );
    assert_eq!(
        names(store.list(1, "c", "b", Some("b1"), 2).unwrap()),
        ["b10", "b2"]
    );
    assert_eq!(names(store.list(1, "c", "", None, 100).unwrap()).len(), 6);
    assert!(store.list(1, "nope", "", None, 10).unwrap().is_empty());
}

#[test]
fn durable_checkpoint_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = Store::open(&path).unwrap();
        let e = put(1, "k", "v", Precondition::None);
        store.apply_batch(1, &[&e], false).unwrap();
        store.checkpoint().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.applied(1).unwrap().index, 1);
    assert!(store.get(1, "c", "k").unwrap().is_some());
}

#[test]
fn snapshot_replaces_a_replica_state_exactly_and_damage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(&dir.path().join("a.redb")).unwrap();
    let b = Store::open(&dir.path().join("b.redb")).unwrap();
    let member = entry(1, Command::Membership(Bytes::from_static(b"{\"m\":1}")));
    let batch = entry(
        4,
        Command::Batch(vec![
            (
                "eu".into(),
                Command::decode(&put(0, "x", "1", Precondition::None).payload).unwrap(),
            ),
            (
                "us".into(),
                Command::decode(&put(0, "y", "2", Precondition::None).payload).unwrap(),
            ),
        ]),
    );
    let entries = [
        member,
        put(2, "k", "v", Precondition::None),
        put(3, "gone", "v", Precondition::None),
        batch,
        del(5, "gone", Precondition::None),
    ];
    let refs: Vec<&Entry> = entries.iter().collect();
    let outcomes = a.apply_batch(7, &refs, false).unwrap();
    assert_eq!(
        outcomes[3],
        ApplyOutcome::Batch(vec![
            ApplyOutcome::Written { version: 4 },
            ApplyOutcome::Written { version: 4 }
        ]),
        "every write of a batch gets the entry's index"
    );
    // b has other, older state for the same group: all of it must go
    b.apply_batch(7, &[&put(1, "stale", "s", Precondition::None)], false)
        .unwrap();

    let (head, bytes) = a.export_snapshot(7).unwrap();
    assert_eq!(head.applied.index, 5);
    assert_eq!(head.membership.as_ref().unwrap().index, 1);
    let mut damaged = bytes.clone();
    damaged[40] ^= 1;
    assert!(b.install_snapshot(7, &damaged).is_err());
    assert!(b.install_snapshot(7, &bytes[..bytes.len() - 9]).is_err());
    assert!(
        b.get(7, "c", "stale").unwrap().is_some(),
        "a refused snapshot changes nothing"
    );

    let installed = b.install_snapshot(7, &bytes).unwrap();
    assert_eq!(installed, head);
    assert_eq!(b.digest(7).unwrap(), a.digest(7).unwrap());
    assert_eq!(b.applied(7).unwrap().index, 5);
    assert_eq!(b.membership(7).unwrap(), a.membership(7).unwrap());
    assert!(b.get(7, "c", "stale").unwrap().is_none());
    assert_eq!(b.get(7, "c", "y").unwrap().unwrap().version, 4);
}

#[test]
fn every_applied_write_leaves_one_change_row_with_its_before_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let internal = entry(
        6,
        Command::Put {
            collection: "_group".into(),
            key: "ack".into(),
            value: Bytes::from_static(b"{}"),
            content_type: None,
            precondition: Precondition::None,
        },
    );
    let batch = entry(
        7,
        Command::Batch(vec![
            (
                "r".into(),
                Command::Put {
                    collection: "c".into(),
                    key: "b".into(),
                    value: Bytes::from_static(b"B"),
                    content_type: None,
                    precondition: Precondition::None,
                },
            ),
            (
                "r".into(),
                Command::Delete {
                    collection: "c".into(),
                    key: "b".into(),
                    precondition: Precondition::None,
                },
            ),
        ]),
    );
    let entries = [
        put(1, "a", "1", Precondition::None),
        put(2, "a", "2", Precondition::None),
        put(3, "a", "x", Precondition::Version(1)), // refused: no change
        del(4, "zz", Precondition::None),           // not found: no change
        del(5, "a", Precondition::None),
        internal,
        batch,
    ];
    let refs: Vec<&Entry> = entries.iter().collect();
    store.apply_batch(1, &refs, false).unwrap();
    // replaying (after a crash) records nothing twice
    store.apply_batch(1, &refs, false).unwrap();
    let page = store
        .changes_after(1, ChangeId::default(), 100, usize::MAX)
        .unwrap();
    let seen: Vec<_> = page
        .rows
        .iter()
        .map(|r| {
            (
                r.id.index,
                r.id.seq,
                r.op,
                r.key.as_str(),
                r.before.as_ref().map(|d| d.value.clone()),
                r.after.as_ref().map(|d| d.value.clone()),
            )
        })
        .collect();
    let b = |s: &'static str| Some(Bytes::from_static(s.as_bytes()));
    assert_eq!(
        seen,
        vec![
            (1, 0, ChangeOp::Insert, "a", None, b("1")),
            (2, 0, ChangeOp::Update, "a", b("1"), b("2")),
            (5, 0, ChangeOp::Delete, "a", b("2"), None),
            (7, 0, ChangeOp::Insert, "b", None, b("B")),
            (7, 1, ChangeOp::Delete, "b", b("B"), None),
        ]
    );
    assert_eq!(page.rows[1].hlc, Timestamp::new(1002, 0, 1));
    assert_eq!(page.rows[1].after.as_ref().unwrap().version, 2);
    assert!(!page.more);

    // pages: strictly after the id asked, capped by rows
    let page = store
        .changes_after(1, ChangeId { index: 7, seq: 0 }, 100, usize::MAX)
        .unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].id, ChangeId { index: 7, seq: 1 });
    let page = store
        .changes_after(1, ChangeId::default(), 2, usize::MAX)
        .unwrap();
    assert_eq!((page.rows.len(), page.more), (2, true));
    assert_eq!(store.changes_backlog(1, ChangeId::at(2), 100).unwrap().0, 3);

    // purge: rows through the index go, the floor says so
    assert_eq!(store.changes_floor(1).unwrap(), 0);
    assert_eq!(store.purge_changes(1, 5).unwrap(), 3);
    assert_eq!(store.changes_floor(1).unwrap(), 5);
    let (first, held) = store.changes_held(1).unwrap();
    assert_eq!((first, held), (Some(ChangeId::at(7)), 2));
    // a lower purge never lowers the floor
    store.purge_changes(1, 2).unwrap();
    assert_eq!(store.changes_floor(1).unwrap(), 5);
}

#[test]
fn a_snapshot_install_holds_no_changes_below_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(&dir.path().join("a.redb")).unwrap();
    let b = Store::open(&dir.path().join("b.redb")).unwrap();
    let entries = [
        put(1, "a", "1", Precondition::None),
        put(2, "b", "2", Precondition::None),
    ];
    let refs: Vec<&Entry> = entries.iter().collect();
    a.apply_batch(1, &refs, false).unwrap();
    b.apply_batch(1, &refs[..1], false).unwrap();
    let (_, snap) = a.export_snapshot(1).unwrap();
    b.install_snapshot(1, &snap).unwrap();
    assert_eq!(b.changes_floor(1).unwrap(), 2);
    assert!(
        b.changes_after(1, ChangeId::default(), 10, usize::MAX)
            .unwrap()
            .rows
            .is_empty()
    );
    b.clear_group(1).unwrap();
    assert_eq!(b.changes_floor(1).unwrap(), 0);
}

fn merge_entry(
    index: u64,
    ms: u64,
    origin: &str,
    value: Option<&str>,
    seen: &[(&str, u64)],
) -> Entry {
    let mut vv = crate::merge::VersionVector::new();
    for (r, n) in seen {
        vv.raise(r, *n);
    }
    Entry {
        index,
        term: 1,
        hlc: Timestamp::new(ms, 0, 1),
        origin: Arc::from(origin),
        payload: Command::Merge {
            collection: "carts".into(),
            key: "k".into(),
            value: value.map(|v| Bytes::from(v.to_string())),
            content_type: None,
            seen: vv,
        }
        .encode(),
    }
}

/// Origin logs 10 (eu) and 20 (us) of `carts`.
fn merge_store(dir: &std::path::Path) -> Store {
    let store = Store::open(&dir.join("s.redb")).unwrap();
    store.register_origins(OriginSet {
        collection: "carts".into(),
        origins: vec![("eu".into(), 10), ("us".into(), 20)],
        detect: true,
        resolver: None,
    });
    store
}

fn winner(store: &Store) -> (String, Option<Bytes>) {
    let heads = store.merge_heads(&[10, 20], "carts", "k").unwrap();
    let p = crate::merge::pick(&heads).unwrap();
    (p.winner.stamp.region.clone(), p.winner.value.value.clone())
}

#[test]
fn an_origins_later_write_supersedes_its_earlier_one_whatever_it_carried() {
    let dir = tempfile::tempdir().unwrap();
    let store = merge_store(dir.path());
    // the second write was proposed seeing less of us than the first: still its successor
    store
        .apply_batch(
            10,
            &[&merge_entry(1, 100, "eu", Some("a"), &[("us", 5)])],
            false,
        )
        .unwrap();
    store
        .apply_batch(10, &[&merge_entry(2, 90, "eu", Some("b"), &[])], false)
        .unwrap();
    let heads = store.merge_heads(&[10, 20], "carts", "k").unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].vv.get("eu"), 2);
    assert_eq!(
        heads[0].vv.get("us"),
        5,
        "the earlier write's vector is kept"
    );
    assert_eq!(winner(&store).1.as_deref(), Some(&b"b"[..]));
    assert!(store.conflicts("carts", 0, 10).unwrap().is_empty());
}

#[test]
fn concurrent_versions_are_recorded_once_with_both_sides_and_a_seen_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = merge_store(dir.path());
    let eu = merge_entry(1, 100, "eu", Some("from-eu"), &[]);
    let us = merge_entry(1, 200, "us", Some("from-us"), &[]);
    store.apply_batch(10, &[&eu], false).unwrap();
    store.apply_batch(20, &[&us], false).unwrap();
    assert_eq!(winner(&store), ("us".into(), Some(Bytes::from("from-us"))));
    let feed = store.conflicts("carts", 0, 10).unwrap();
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0].seq, 1);
    assert_eq!(feed[0].winner.region, "us");
    assert_eq!(feed[0].losers.len(), 1);
    assert_eq!(feed[0].losers[0].region, "eu");
    assert_eq!(feed[0].losers[0].value.as_deref(), Some(&b"from-eu"[..]));

    // another region, where the versions arrive the other way round, names the same one
    let again = merge_entry(1, 200, "us", Some("from-us"), &[]);
    let fresh = tempfile::tempdir().unwrap();
    let other = merge_store(fresh.path());
    other.apply_batch(20, &[&again], false).unwrap();
    other.apply_batch(10, &[&eu], false).unwrap();
    let theirs = other.conflicts("carts", 0, 10).unwrap();
    assert_eq!(
        theirs.len(),
        1,
        "the other arrival order finds the same conflict"
    );
    assert_eq!(theirs[0].winner, feed[0].winner);

    // eu writes again having seen us's version: it stands, though its clock is behind
    store
        .apply_batch(10, &[&merge_entry(2, 150, "eu", None, &[("us", 1)])], false)
        .unwrap();
    assert_eq!(
        winner(&store),
        ("eu".into(), None),
        "a delete that saw the write wins"
    );
    assert_eq!(store.conflicts("carts", 0, 10).unwrap().len(), 1);
    assert_eq!(
        store.conflicts("carts", 1, 10).unwrap().len(),
        0,
        "start_after"
    );
}

#[test]
fn a_snapshot_of_an_origin_is_compared_with_the_others_on_install() {
    // us's log applied elsewhere and exported as a snapshot
    let src_dir = tempfile::tempdir().unwrap();
    let src = merge_store(src_dir.path());
    src.apply_batch(
        20,
        &[&merge_entry(1, 200, "us", Some("from-us"), &[])],
        false,
    )
    .unwrap();
    let (_, snapshot) = src.export_snapshot(20).unwrap();
    // here eu wrote concurrently; us's version arrives as that snapshot, not as entries
    let dir = tempfile::tempdir().unwrap();
    let store = merge_store(dir.path());
    store
        .apply_batch(
            10,
            &[&merge_entry(1, 100, "eu", Some("from-eu"), &[])],
            false,
        )
        .unwrap();
    store.install_snapshot(20, &snapshot).unwrap();
    let feed = store.conflicts("carts", 0, 10).unwrap();
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0].winner.region, "us");
    assert_eq!(feed[0].losers[0].region, "eu");
}

#[test]
fn a_custom_rule_records_the_resolvers_answer_or_why_it_gave_none() {
    let run = |script: &str| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let resolver =
            crate::merge::Resolver::compile(script, "t.rhai", crate::merge::Limits::default())
                .unwrap();
        store.register_origins(OriginSet {
            collection: "carts".into(),
            origins: vec![("eu".into(), 10), ("us".into(), 20)],
            detect: true,
            resolver: Some(Arc::new(resolver)),
        });
        store
            .apply_batch(
                10,
                &[&merge_entry(1, 100, "eu", Some("{\"n\":2}"), &[])],
                false,
            )
            .unwrap();
        store
            .apply_batch(
                20,
                &[&merge_entry(1, 200, "us", Some("{\"n\":5}"), &[])],
                false,
            )
            .unwrap();
        store.conflicts("carts", 0, 10).unwrap()
    };
    // both counts add up, whichever side is newer
    let feed = run("fn resolve(a, b) { #{ n: a.value.n + b.value.n } }");
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].rule, "custom");
    assert_eq!(feed[0].winner.region, "resolver");
    assert_eq!(feed[0].winner.value.as_deref(), Some(&b"{\"n\":7}"[..]));
    assert_eq!(feed[0].losers.len(), 2, "both sides gave way");
    assert_eq!(feed[0].unresolved, None);
    // a failing script leaves it unresolved, both sides kept
    let feed = run("fn resolve(a, b) { throw \"cannot merge carts\"; }");
    assert_eq!(feed[0].rule, "custom");
    assert_eq!(
        feed[0].winner.region, "us",
        "the last writer stands meanwhile"
    );
    assert_eq!(feed[0].losers.len(), 1);
    assert!(
        feed[0]
            .unresolved
            .as_deref()
            .unwrap()
            .contains("cannot merge carts"),
        "{:?}",
        feed[0].unresolved
    );
}
