//! The history checkers' own tests: they must accept valid histories, including operations
//! whose outcome is unknown, and reject known-bad ones.

mod support;

use std::time::Duration;

use support::history::{
    Level, Op, OpKind, Outcome, check_bounded, check_linearizable, check_prefix, check_sessions,
};

fn op(process: u64, kind: OpKind, from_ms: u64, to_ms: u64, outcome: Outcome) -> Op {
    Op {
        process,
        session: process,
        level: Level::Strong,
        key: "k".into(),
        kind,
        invoked: Duration::from_millis(from_ms),
        completed: Duration::from_millis(to_ms),
        outcome,
    }
}

fn w(v: &str) -> OpKind {
    OpKind::Write(v.into())
}

fn read(v: &str, n: u64) -> Outcome {
    Outcome::Read(Some((v.into(), n)))
}

#[test]
fn sequential_and_overlapping_histories_are_accepted() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, OpKind::Read, 11, 20, read("a", 1)),
        // overlapping write and read: the read may see either value
        op(1, w("b"), 21, 40, Outcome::Written(2)),
        op(2, OpKind::Read, 25, 30, read("a", 1)),
        op(3, OpKind::Read, 26, 35, read("b", 2)),
        op(2, OpKind::Cas(2, "c".into()), 41, 50, Outcome::Written(3)),
        op(3, OpKind::Cas(2, "d".into()), 51, 60, Outcome::CasRefused),
        op(1, OpKind::Read, 61, 70, read("c", 3)),
    ];
    check_linearizable(&ops).unwrap();
}

#[test]
fn writes_of_unknown_outcome_may_or_may_not_have_happened() {
    // never observed: fine
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, w("x"), 5, 0, Outcome::Unknown),
        op(3, OpKind::Read, 20, 30, read("a", 1)),
    ];
    check_linearizable(&ops).unwrap();
    // observed later, with the version the reader learns: fine too
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, w("x"), 5, 0, Outcome::Unknown),
        op(3, OpKind::Read, 20, 30, read("x", 2)),
        op(3, OpKind::Read, 31, 40, read("x", 2)),
    ];
    check_linearizable(&ops).unwrap();
}

#[test]
fn many_unobserved_writes_of_unknown_outcome_leave_the_verdict_as_it_was() {
    // 60 timeouts on one key that no read saw (a fault window): with each in flight to the
    // end the search would branch on every one; left out, the check is immediate, and the
    // reads around them still decide
    let mut ops = vec![op(1, w("a"), 0, 10, Outcome::Written(1))];
    for i in 0..60u64 {
        ops.push(op(
            100 + i,
            w(&format!("lost{i}")),
            11 + i,
            0,
            Outcome::Unknown,
        ));
    }
    ops.push(op(2, OpKind::Read, 200, 210, read("a", 1)));
    check_linearizable(&ops).unwrap();
    // a stale read among them is still caught
    ops.push(op(3, w("b"), 220, 230, Outcome::Written(3)));
    ops.push(op(2, OpKind::Read, 240, 250, read("a", 1)));
    assert!(check_linearizable(&ops).is_err());
    // and one the reads saw still constrains them: read after an older value is stale
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, w("x"), 5, 0, Outcome::Unknown),
        op(3, OpKind::Read, 20, 30, read("x", 2)),
        op(3, OpKind::Read, 31, 40, read("a", 1)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn a_stale_read_after_a_completed_write_is_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(1, w("b"), 11, 20, Outcome::Written(2)),
        op(2, OpKind::Read, 21, 30, read("a", 1)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn a_lost_acknowledged_write_is_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, OpKind::Read, 20, 30, Outcome::Read(None)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn two_successful_compare_and_sets_from_one_version_are_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, OpKind::Cas(1, "b".into()), 20, 30, Outcome::Written(2)),
        op(3, OpKind::Cas(1, "c".into()), 31, 40, Outcome::Written(3)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn a_refusal_owed_to_an_unseen_write_of_unknown_outcome_is_accepted() {
    // x timed out but took effect (no read saw it: b overwrote it first); it is what moved
    // the version away from 1 before the compare-and-set
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, w("x"), 12, 0, Outcome::Unknown),
        op(1, OpKind::Cas(1, "c".into()), 20, 30, Outcome::CasRefused),
        op(3, w("b"), 40, 50, Outcome::Written(9)),
        op(3, OpKind::Read, 60, 70, read("b", 9)),
    ];
    assert_eq!(check_linearizable(&ops), Ok(()));
}

#[test]
fn a_refused_compare_and_set_that_should_have_matched_is_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, OpKind::Cas(1, "b".into()), 20, 30, Outcome::CasRefused),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn reads_going_back_in_time_are_rejected() {
    // two sequential reads by different clients: the second may not see an older value
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(1, w("b"), 5, 50, Outcome::Written(2)),
        op(2, OpKind::Read, 20, 25, read("b", 2)),
        op(3, OpKind::Read, 30, 35, read("a", 1)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

#[test]
fn a_read_of_a_value_never_written_is_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(1)),
        op(2, OpKind::Read, 20, 30, read("zzz", 7)),
    ];
    assert!(check_linearizable(&ops).is_err());
}

fn at(level: Level, op: Op) -> Op {
    Op { level, ..op }
}

#[test]
fn sessions_that_keep_their_guarantees_are_accepted() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(5)),
        at(Level::Session, op(1, OpKind::Read, 11, 20, read("a", 5))),
        // another session may read older: no guarantee across sessions
        at(
            Level::Session,
            op(2, OpKind::Read, 21, 30, Outcome::Read(None)),
        ),
        op(1, w("b"), 31, 40, Outcome::Written(9)),
        at(Level::Session, op(1, OpKind::Read, 41, 50, read("b", 9))),
    ];
    check_sessions(&ops).unwrap();
}

#[test]
fn a_session_not_reading_its_own_write_is_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(5)),
        at(
            Level::Session,
            op(1, OpKind::Read, 11, 20, Outcome::Read(None)),
        ),
    ];
    assert!(check_sessions(&ops).is_err());
}

#[test]
fn a_session_reading_backwards_is_rejected() {
    let ops = vec![
        at(Level::Session, op(1, OpKind::Read, 0, 10, read("b", 9))),
        at(Level::Session, op(1, OpKind::Read, 11, 20, read("a", 5))),
    ];
    assert!(check_sessions(&ops).is_err());
}

#[test]
fn a_write_ordered_before_what_its_session_read_is_rejected() {
    let mut other = op(1, OpKind::Read, 0, 10, read("x", 9));
    other.key = "other".into();
    let ops = vec![
        at(Level::Session, other),
        // writes-follow-reads: this write must come after version 9 in the log
        op(1, w("a"), 11, 20, Outcome::Written(7)),
    ];
    assert!(check_sessions(&ops).is_err());
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(7)),
        op(1, w("b"), 11, 20, Outcome::Written(6)),
    ];
    assert!(check_sessions(&ops).is_err(), "monotonic writes");
}

#[test]
fn bounded_reads_within_their_bound_are_accepted_and_older_ones_rejected() {
    let ops = vec![
        op(1, w("a"), 0, 10, Outcome::Written(5)),
        op(1, w("b"), 100, 110, Outcome::Written(9)),
        // 50 ms after b was acknowledged: a 300 ms bound allows the older value
        at(
            Level::Bounded(300),
            op(2, OpKind::Read, 160, 170, read("a", 5)),
        ),
        // 500 ms after: it does not
    ];
    check_bounded(&ops).unwrap();
    let mut late = ops.clone();
    late.push(at(
        Level::Bounded(300),
        op(2, OpKind::Read, 610, 620, read("a", 5)),
    ));
    assert!(check_bounded(&late).is_err());
}

fn on(key: &str, op: Op) -> Op {
    Op {
        key: key.into(),
        ..op
    }
}

fn listing(from_ms: u64, keys: &[(&str, u64)]) -> Op {
    Op {
        level: Level::ConsistentPrefix,
        key: "*".into(),
        ..op(
            9,
            OpKind::List("k".into()),
            from_ms,
            from_ms + 1,
            Outcome::Listed(keys.iter().map(|(k, n)| (k.to_string(), *n)).collect()),
        )
    }
}

/// k1 written at 1 and 3, k2 at 2 and 4.
fn two_keys() -> Vec<Op> {
    vec![
        on("k1", op(1, w("a"), 0, 10, Outcome::Written(1))),
        on("k2", op(2, w("b"), 0, 10, Outcome::Written(2))),
        on("k1", op(1, w("c"), 20, 30, Outcome::Written(3))),
        on("k2", op(2, w("d"), 20, 30, Outcome::Written(4))),
    ]
}

#[test]
fn prefix_listings_of_any_age_are_accepted() {
    let mut ops = two_keys();
    // nothing yet, the first write alone, both first writes, then everything
    ops.push(listing(5, &[]));
    ops.push(listing(6, &[("k1", 1)]));
    ops.push(listing(40, &[("k1", 1), ("k2", 2)]));
    ops.push(listing(41, &[("k1", 3), ("k2", 2)]));
    ops.push(listing(42, &[("k1", 3), ("k2", 4)]));
    let mut old = at(
        Level::Eventual,
        on("k1", op(3, OpKind::Read, 50, 51, read("a", 1))),
    );
    old.session = 3;
    ops.push(old);
    check_prefix(&ops).unwrap();
}

#[test]
fn a_listing_that_sees_a_later_write_but_misses_an_earlier_one_is_rejected() {
    let mut ops = two_keys();
    // k2 at 4 means the log up to 4 is applied: k1 must be at 3
    ops.push(listing(40, &[("k1", 1), ("k2", 4)]));
    assert!(check_prefix(&ops).is_err());
    let mut ops = two_keys();
    // k2 at 2 without k1 at 1
    ops.push(listing(40, &[("k2", 2)]));
    assert!(check_prefix(&ops).is_err());
}

#[test]
fn prefix_and_eventual_reads_of_things_never_written_are_rejected() {
    let mut ops = two_keys();
    ops.push(listing(40, &[("k1", 3), ("k2", 5)]));
    assert!(check_prefix(&ops).is_err(), "a version no write made");
    let mut ops = two_keys();
    ops.push(at(
        Level::Eventual,
        on("k1", op(3, OpKind::Read, 50, 51, read("zz", 3))),
    ));
    assert!(check_prefix(&ops).is_err(), "a value no write made");
    let mut ops = two_keys();
    ops.push(at(
        Level::ConsistentPrefix,
        on("k1", op(3, OpKind::Read, 50, 51, read("a", 3))),
    ));
    assert!(
        check_prefix(&ops).is_err(),
        "a value with another write's version"
    );
}
