//! The history checker's own tests: it must accept linearizable histories, including
//! operations whose outcome is unknown, and reject known-bad ones.

mod support;

use std::time::Duration;

use support::history::{Op, OpKind, Outcome, check_linearizable};

fn op(process: u64, kind: OpKind, from_ms: u64, to_ms: u64, outcome: Outcome) -> Op {
    Op {
        process,
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
