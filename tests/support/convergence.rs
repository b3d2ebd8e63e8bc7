//! The convergence checker of multi-master runs (issue 16). After the faults heal:
//! - every region holds the same state;
//! - that state is the deterministic merge of every acknowledged write: per key, of the
//!   versions no other version saw (the maximal ones), the last writer's (HLC, then region
//!   name; `georep::merge::lww`), a delete leaving no document;
//! - every version that lost to a concurrent one appears in the conflict feed as a loser of
//!   its key: nothing overwritten silently;
//! - a counter's value in every region is the exact sum of the acknowledged operations;
//! - an observed-remove set holds, in every region, exactly the elements whose last
//!   acknowledged operation was an add (for histories where each element's adds and removes
//!   come from one region in order, so that "last" is defined).
//!
//! Its own tests (`tests/convergence_checker.rs`) feed it known-bad histories.

use std::collections::BTreeMap;

use georep::merge::{Stamp, Versioned, resolve};

/// One acknowledged write: the version as its region made it (`None`: a delete).
#[derive(Debug, Clone)]
pub struct AckedWrite {
    pub key: String,
    pub version: Versioned<Option<String>>,
}

/// One entry of the conflict feed, as the cluster reported it.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    pub key: String,
    pub winner: Stamp,
    pub losers: Vec<Stamp>,
}

/// Region -> key -> value.
pub type States = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two regions hold different values (None: no document) for `key`.
    Diverged {
        key: String,
        regions: BTreeMap<String, Option<String>>,
    },
    /// A region's value is not the merge of the acknowledged writes.
    NotTheMerge {
        region: String,
        key: String,
        want: Option<String>,
        have: Option<String>,
    },
    /// A version lost to a concurrent one and the feed does not say so.
    LostSilently { key: String, loser: Stamp },
    /// A set holds an element it should not, or lacks one it should.
    SetOff {
        region: String,
        key: String,
        missing: Vec<String>,
        extra: Vec<String>,
    },
    /// A counter does not add up.
    CounterOff {
        region: String,
        key: String,
        want: i128,
        have: i128,
    },
}

/// The versions of one key no other version saw.
fn maximal(versions: &[&Versioned<Option<String>>]) -> Vec<Versioned<Option<String>>> {
    versions
        .iter()
        .filter(|v| {
            !versions
                .iter()
                .any(|o| o.stamp != v.stamp && o.vv != v.vv && o.vv.dominates(&v.vv))
        })
        .map(|v| (*v).clone())
        .collect()
}

/// Checks a last-writer-wins collection; every violation found.
pub fn check_lww(writes: &[AckedWrite], states: &States, feed: &[FeedEntry]) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut by_key: BTreeMap<&str, Vec<&Versioned<Option<String>>>> = BTreeMap::new();
    for w in writes {
        by_key.entry(&w.key).or_default().push(&w.version);
    }
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    for s in states.values() {
        keys.extend(s.keys().map(String::as_str));
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        let held: BTreeMap<String, Option<String>> = states
            .iter()
            .map(|(r, s)| (r.clone(), s.get(key).cloned()))
            .collect();
        let mut distinct: Vec<&Option<String>> = held.values().collect();
        distinct.dedup();
        if distinct.len() > 1 {
            out.push(Violation::Diverged {
                key: key.to_string(),
                regions: held.clone(),
            });
        }
        let versions = by_key.get(key).cloned().unwrap_or_default();
        let tops = maximal(&versions);
        let winner = tops.iter().max_by(|a, b| a.stamp.cmp(&b.stamp));
        let want = winner.and_then(|w| w.value.clone());
        for (region, have) in &held {
            if *have != want {
                out.push(Violation::NotTheMerge {
                    region: region.clone(),
                    key: key.to_string(),
                    want: want.clone(),
                    have: have.clone(),
                });
            }
        }
        if let Some(winner) = winner {
            for loser in tops.iter().filter(|v| v.stamp != winner.stamp) {
                debug_assert!(resolve(winner, loser).conflict());
                let recorded = feed
                    .iter()
                    .any(|f| f.key == key && f.losers.contains(&loser.stamp));
                if !recorded {
                    out.push(Violation::LostSilently {
                        key: key.to_string(),
                        loser: loser.stamp.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Checks counters: `ops` are the acknowledged increments (negative: decrements).
pub fn check_counters(
    ops: &[(String, i64)],
    values: &BTreeMap<String, BTreeMap<String, i128>>,
) -> Vec<Violation> {
    let mut want: BTreeMap<&str, i128> = BTreeMap::new();
    for (key, by) in ops {
        *want.entry(key).or_default() += i128::from(*by);
    }
    let mut out = Vec::new();
    for (region, have) in values {
        for (key, want) in &want {
            let got = have.get(*key).copied().unwrap_or(0);
            if got != *want {
                out.push(Violation::CounterOff {
                    region: region.clone(),
                    key: key.to_string(),
                    want: *want,
                    have: got,
                });
            }
        }
    }
    out
}

/// One acknowledged set operation: `add` true for an add, false for a remove.
#[derive(Debug, Clone)]
pub struct SetOp {
    pub key: String,
    pub element: String,
    pub add: bool,
}

/// Checks observed-remove sets: `ops` in acknowledgement order per element (each element
/// written from one region); `values` region -> key -> elements held.
pub fn check_sets(
    ops: &[SetOp],
    values: &BTreeMap<String, BTreeMap<String, std::collections::BTreeSet<String>>>,
) -> Vec<Violation> {
    let mut want: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for op in ops {
        let set = want.entry(&op.key).or_default();
        if op.add {
            set.insert(&op.element);
        } else {
            set.remove(op.element.as_str());
        }
    }
    let mut out = Vec::new();
    for (region, have) in values {
        let mut keys: Vec<&str> = want.keys().copied().collect();
        keys.extend(have.keys().map(String::as_str));
        keys.sort();
        keys.dedup();
        for key in keys {
            let empty_want = std::collections::BTreeSet::new();
            let empty_have = std::collections::BTreeSet::new();
            let w = want.get(key).unwrap_or(&empty_want);
            let h = have.get(key).unwrap_or(&empty_have);
            let missing: Vec<String> = w
                .iter()
                .filter(|e| !h.contains(**e))
                .map(|e| e.to_string())
                .collect();
            let extra: Vec<String> = h
                .iter()
                .filter(|e| !w.contains(e.as_str()))
                .cloned()
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                out.push(Violation::SetOff {
                    region: region.clone(),
                    key: key.to_string(),
                    missing,
                    extra,
                });
            }
        }
    }
    out
}
