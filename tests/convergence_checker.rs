//! The multi-master convergence checker's own tests (`support/convergence.rs`): it accepts a
//! converged history and names each known-bad one: regions that diverged, a value that is
//! not the merge, a concurrent write overwritten without a feed entry, a lost
//! acknowledged write, a counter off by one.

mod support;

use std::collections::BTreeMap;

use georep::clock::Timestamp;
use georep::merge::{Stamp, VersionVector, Versioned};
use support::convergence::{
    AckedWrite, FeedEntry, SetOp, States, Violation, check_counters, check_lww, check_sets,
};

fn stamp(ms: u64, region: &str) -> Stamp {
    Stamp {
        hlc: Timestamp::new(ms, 0, 1),
        region: region.into(),
    }
}

/// A write of `key` at `ms` in `region`, having seen `seen` (region, writes) besides itself.
fn write(
    key: &str,
    ms: u64,
    region: &str,
    own: u64,
    seen: &[(&str, u64)],
    value: Option<&str>,
) -> AckedWrite {
    let mut vv = VersionVector::new();
    for _ in 0..own {
        vv.bump(region);
    }
    for (r, n) in seen {
        for _ in 0..*n {
            vv.bump(r);
        }
    }
    AckedWrite {
        key: key.into(),
        version: Versioned {
            stamp: stamp(ms, region),
            vv,
            value: value.map(str::to_string),
        },
    }
}

fn states(per_region: &[(&str, &[(&str, &str)])]) -> States {
    per_region
        .iter()
        .map(|(r, docs)| {
            (
                r.to_string(),
                docs.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// r1 and r2 write `k` concurrently (r2 later by HLC); r3 then overwrites `j` having seen
/// r1's write of it; `d` is written and then deleted by a write that saw it.
fn history() -> Vec<AckedWrite> {
    vec![
        write("k", 100, "r1", 1, &[], Some("a")),
        write("k", 105, "r2", 1, &[], Some("b")),
        write("j", 110, "r1", 2, &[], Some("j1")),
        write("j", 90, "r3", 1, &[("r1", 2)], Some("j3")),
        write("d", 120, "r2", 2, &[], Some("d")),
        write("d", 130, "r2", 3, &[], None),
    ]
}

fn feed() -> Vec<FeedEntry> {
    vec![FeedEntry {
        key: "k".into(),
        winner: stamp(105, "r2"),
        losers: vec![stamp(100, "r1")],
    }]
}

const CONVERGED: &[(&str, &str)] = &[("k", "b"), ("j", "j3")];

#[test]
fn a_converged_history_passes() {
    let s = states(&[("r1", CONVERGED), ("r2", CONVERGED), ("r3", CONVERGED)]);
    assert_eq!(check_lww(&history(), &s, &feed()), vec![]);
}

#[test]
fn diverged_regions_are_named() {
    let s = states(&[
        ("r1", CONVERGED),
        ("r2", &[("k", "a"), ("j", "j3")]),
        ("r3", CONVERGED),
    ]);
    let v = check_lww(&history(), &s, &feed());
    assert!(
        v.iter()
            .any(|v| matches!(v, Violation::Diverged { key, .. } if key == "k")),
        "{v:?}"
    );
    assert!(v.contains(&Violation::NotTheMerge {
        region: "r2".into(),
        key: "k".into(),
        want: Some("b".into()),
        have: Some("a".into()),
    }));
}

#[test]
fn a_converged_state_that_is_not_the_merge_is_refused() {
    // every region agrees on the loser
    let wrong: &[(&str, &str)] = &[("k", "a"), ("j", "j3")];
    let s = states(&[("r1", wrong), ("r2", wrong), ("r3", wrong)]);
    let v = check_lww(&history(), &s, &feed());
    assert_eq!(v.len(), 3, "{v:?}");
    assert!(
        v.iter()
            .all(|v| matches!(v, Violation::NotTheMerge { key, .. } if key == "k"))
    );
    // a causally later write wins whatever its clock: j1 was seen by j3
    let stale: &[(&str, &str)] = &[("k", "b"), ("j", "j1")];
    let s = states(&[("r1", stale), ("r2", stale), ("r3", stale)]);
    assert_eq!(check_lww(&history(), &s, &feed()).len(), 3);
}

#[test]
fn a_deleted_document_that_came_back_is_refused() {
    let back: &[(&str, &str)] = &[("k", "b"), ("j", "j3"), ("d", "d")];
    let s = states(&[("r1", back), ("r2", back), ("r3", back)]);
    let v = check_lww(&history(), &s, &feed());
    assert_eq!(v.len(), 3, "{v:?}");
}

#[test]
fn an_acknowledged_write_lost_everywhere_is_refused() {
    let lost: &[(&str, &str)] = &[("j", "j3")];
    let s = states(&[("r1", lost), ("r2", lost), ("r3", lost)]);
    let v = check_lww(&history(), &s, &feed());
    assert!(
        v.iter()
            .all(|v| matches!(v, Violation::NotTheMerge { key, have: None, .. } if key == "k"))
    );
    assert_eq!(v.len(), 3);
}

#[test]
fn a_concurrent_write_overwritten_without_a_feed_entry_is_refused() {
    let s = states(&[("r1", CONVERGED), ("r2", CONVERGED), ("r3", CONVERGED)]);
    assert_eq!(
        check_lww(&history(), &s, &[]),
        vec![Violation::LostSilently {
            key: "k".into(),
            loser: stamp(100, "r1"),
        }]
    );
    // an entry for another key, or naming the winner as the loser, does not count
    let wrong = vec![
        FeedEntry {
            key: "j".into(),
            winner: stamp(105, "r2"),
            losers: vec![stamp(100, "r1")],
        },
        FeedEntry {
            key: "k".into(),
            winner: stamp(100, "r1"),
            losers: vec![stamp(105, "r2")],
        },
    ];
    assert_eq!(check_lww(&history(), &s, &wrong).len(), 1);
}

#[test]
fn counters_must_add_up_exactly_in_every_region() {
    let ops: Vec<(String, i64)> = vec![("c".into(), 5), ("c".into(), -2), ("c".into(), 10)];
    let values = |r2: i128| -> BTreeMap<String, BTreeMap<String, i128>> {
        [("r1", 13), ("r2", r2)]
            .into_iter()
            .map(|(r, v)| (r.to_string(), [("c".to_string(), v)].into_iter().collect()))
            .collect()
    };
    assert_eq!(check_counters(&ops, &values(13)), vec![]);
    assert_eq!(
        check_counters(&ops, &values(12)),
        vec![Violation::CounterOff {
            region: "r2".into(),
            key: "c".into(),
            want: 13,
            have: 12,
        }]
    );
}

#[test]
fn sets_must_hold_exactly_the_elements_last_added() {
    let op = |element: &str, add: bool| SetOp {
        key: "tags".into(),
        element: element.into(),
        add,
    };
    // a added, b added then removed, c removed then added again
    let ops = [
        op("a", true),
        op("b", true),
        op("c", true),
        op("b", false),
        op("c", false),
        op("c", true),
    ];
    let held = |elements: &[&str]| {
        let set = elements.iter().map(|e| e.to_string()).collect();
        BTreeMap::from([(
            "r1".to_string(),
            BTreeMap::from([("tags".to_string(), set)]),
        )])
    };
    assert_eq!(check_sets(&ops, &held(&["a", "c"])), vec![]);
    // a removed element that came back (a remove lost) is named
    assert_eq!(
        check_sets(&ops, &held(&["a", "b", "c"])),
        vec![Violation::SetOff {
            region: "r1".into(),
            key: "tags".into(),
            missing: vec![],
            extra: vec!["b".into()],
        }]
    );
    // an add lost is named
    assert_eq!(
        check_sets(&ops, &held(&["a"])),
        vec![Violation::SetOff {
            region: "r1".into(),
            key: "tags".into(),
            missing: vec!["c".into()],
            extra: vec![],
        }]
    );
}
