//! Typed CRDTs: each kind its own type with its own operations, so an operation a kind does
//! not have (decrementing a G-Counter, removing from a register) does not compile. Every
//! merge is commutative, associative and idempotent: replicas that have seen the same
//! operations hold the same state whatever order they merged in (property tests below).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::dots::DotKernel;
use super::lww::Stamp;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrdtError {
    /// A counter would pass what it can count: refused, never wrapped.
    #[error("the counter would overflow: {0}")]
    Overflow(String),
}

/// A state-based CRDT.
pub trait Crdt: Clone + PartialEq + std::fmt::Debug + Default {
    /// What a client reads.
    type Value;
    /// Joins `other` into this state.
    fn merge(&mut self, other: &Self);
    fn value(&self) -> Self::Value;
}

/// Grow-only counter: per region, what it added; the value is the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GCounter(BTreeMap<String, u64>);

impl GCounter {
    pub fn increment(&mut self, region: &str, by: u64) -> Result<(), CrdtError> {
        let total = self.total();
        total
            .checked_add(u128::from(by))
            .filter(|t| *t <= u128::from(u64::MAX))
            .ok_or_else(|| CrdtError::Overflow(format!("{total} + {by}")))?;
        let e = self.0.entry(region.to_string()).or_insert(0);
        *e += by;
        Ok(())
    }

    fn total(&self) -> u128 {
        self.0.values().map(|v| u128::from(*v)).sum()
    }
}

impl Crdt for GCounter {
    type Value = u64;

    fn merge(&mut self, other: &Self) {
        for (r, n) in &other.0 {
            let e = self.0.entry(r.clone()).or_insert(0);
            *e = (*e).max(*n);
        }
    }

    fn value(&self) -> u64 {
        // each region's entry is bounded when it is made; a sum past u64 saturates the read
        u64::try_from(self.total()).unwrap_or(u64::MAX)
    }
}

/// Counter that goes both ways: two G-Counters, increments and decrements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnCounter {
    p: GCounter,
    n: GCounter,
}

impl PnCounter {
    pub fn increment(&mut self, region: &str, by: u64) -> Result<(), CrdtError> {
        self.p.increment(region, by)
    }

    pub fn decrement(&mut self, region: &str, by: u64) -> Result<(), CrdtError> {
        self.n.increment(region, by)
    }
}

impl Crdt for PnCounter {
    type Value = i128;

    fn merge(&mut self, other: &Self) {
        self.p.merge(&other.p);
        self.n.merge(&other.n);
    }

    fn value(&self) -> i128 {
        self.p.total() as i128 - self.n.total() as i128
    }
}

/// A register whose latest write (by HLC, then region name) wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LwwRegister<T> {
    latest: Option<(Stamp, T)>,
}

impl<T> Default for LwwRegister<T> {
    fn default() -> Self {
        LwwRegister { latest: None }
    }
}

impl<T: Clone + PartialEq + std::fmt::Debug> LwwRegister<T> {
    pub fn set(&mut self, stamp: Stamp, value: T) {
        if self.latest.as_ref().is_none_or(|(s, _)| stamp > *s) {
            self.latest = Some((stamp, value));
        }
    }

    pub fn stamp(&self) -> Option<&Stamp> {
        self.latest.as_ref().map(|(s, _)| s)
    }
}

impl<T: Clone + PartialEq + std::fmt::Debug> Crdt for LwwRegister<T> {
    type Value = Option<T>;

    fn merge(&mut self, other: &Self) {
        if let Some((s, v)) = &other.latest {
            self.set(s.clone(), v.clone());
        }
    }

    fn value(&self) -> Option<T> {
        self.latest.as_ref().map(|(_, v)| v.clone())
    }
}

/// Observed-remove set, add wins: a remove takes out the adds it saw; an add it did not see
/// stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrSet<T> {
    kernel: DotKernel<T>,
}

impl<T> Default for OrSet<T> {
    fn default() -> Self {
        OrSet {
            kernel: DotKernel::default(),
        }
    }
}

impl<T: Clone + Ord + std::fmt::Debug> OrSet<T> {
    pub fn add(&mut self, region: &str, element: T) {
        // the new dot observes the element's old ones, which it replaces: one live dot per
        // element here, and a concurrent remove elsewhere (which saw only the old) loses
        self.kernel.remove_where(|e| *e == element);
        self.kernel.add(region, element);
    }

    pub fn remove(&mut self, element: &T) {
        self.kernel.remove_where(|e| e == element);
    }

    pub fn contains(&self, element: &T) -> bool {
        self.kernel.values().any(|e| e == element)
    }
}

impl<T: Clone + Ord + std::fmt::Debug> Crdt for OrSet<T> {
    type Value = BTreeSet<T>;

    fn merge(&mut self, other: &Self) {
        self.kernel.merge(&other.kernel);
    }

    fn value(&self) -> BTreeSet<T> {
        self.kernel.values().cloned().collect()
    }
}

/// Multi-value register: a write replaces what its writer saw; concurrent writes are all
/// kept, for the reader (or the next write) to settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MvRegister<T> {
    kernel: DotKernel<T>,
}

impl<T> Default for MvRegister<T> {
    fn default() -> Self {
        MvRegister {
            kernel: DotKernel::default(),
        }
    }
}

impl<T: Clone + Ord + std::fmt::Debug> MvRegister<T> {
    pub fn set(&mut self, region: &str, value: T) {
        self.kernel.remove_where(|_| true);
        self.kernel.add(region, value);
    }
}

impl<T: Clone + Ord + std::fmt::Debug> Crdt for MvRegister<T> {
    /// The concurrent values, in order.
    type Value = Vec<T>;

    fn merge(&mut self, other: &Self) {
        self.kernel.merge(&other.kernel);
    }

    fn value(&self) -> Vec<T> {
        let set: BTreeSet<T> = self.kernel.values().cloned().collect();
        set.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::clock::Timestamp;

    const REGIONS: [&str; 3] = ["r1", "r2", "r3"];

    /// One step of a history: replica `at` applies a local operation (`op`, `arg`), or
    /// merges the state of replica `arg % 3`.
    type Step = (usize, u8, u8);

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec((0usize..3, 0u8..4, any::<u8>()), 0..40)
    }

    /// Runs a history; `local` applies operation `op` with `arg` at region `r`.
    fn run<C: Crdt>(history: &[Step], mut local: impl FnMut(&mut C, &str, u8, u8)) -> [C; 3] {
        let mut states: [C; 3] = Default::default();
        for &(at, op, arg) in history {
            if op == 3 {
                let other = states[arg as usize % 3].clone();
                states[at].merge(&other);
            } else {
                local(&mut states[at], REGIONS[at], op, arg);
            }
        }
        states
    }

    fn joined<C: Crdt>(a: &C, b: &C) -> C {
        let mut x = a.clone();
        x.merge(b);
        x
    }

    /// Commutative, associative, idempotent, on the states a history left.
    fn laws<C: Crdt>([a, b, c]: &[C; 3]) -> Result<(), TestCaseError> {
        prop_assert_eq!(joined(a, b), joined(b, a), "commutative");
        prop_assert_eq!(
            joined(&joined(a, b), c),
            joined(a, &joined(b, c)),
            "associative"
        );
        prop_assert_eq!(joined(a, a), a.clone(), "idempotent");
        // and merging what was already merged changes nothing
        let all = joined(&joined(a, b), c);
        prop_assert_eq!(joined(&all, b), all.clone());
        Ok(())
    }

    fn everything<C: Crdt>(states: &[C; 3]) -> C {
        joined(&joined(&states[0], &states[1]), &states[2])
    }

    fn stamp(ms: u8, region: &str) -> Stamp {
        Stamp {
            hlc: Timestamp::new(u64::from(ms), 0, 1),
            region: region.to_string(),
        }
    }

    proptest! {
        #[test]
        fn g_counter_laws_and_exact_total(history in steps()) {
            let mut total = 0u64;
            let states = run::<GCounter>(&history, |c, r, _, arg| {
                c.increment(r, u64::from(arg)).unwrap();
                total += u64::from(arg);
            });
            laws(&states)?;
            prop_assert_eq!(everything(&states).value(), total);
        }

        #[test]
        fn pn_counter_laws_and_exact_total(history in steps()) {
            let mut total = 0i128;
            let states = run::<PnCounter>(&history, |c, r, op, arg| {
                if op == 0 {
                    c.decrement(r, u64::from(arg)).unwrap();
                    total -= i128::from(arg);
                } else {
                    c.increment(r, u64::from(arg)).unwrap();
                    total += i128::from(arg);
                }
            });
            laws(&states)?;
            prop_assert_eq!(everything(&states).value(), total);
        }

        #[test]
        fn lww_register_laws_and_the_latest_wins(history in steps()) {
            let mut latest: Option<Stamp> = None;
            let states = run::<LwwRegister<u8>>(&history, |c, r, _, arg| {
                let s = stamp(arg, r);
                if latest.as_ref().is_none_or(|l| s > *l) {
                    latest = Some(s.clone());
                }
                c.set(s, arg);
            });
            laws(&states)?;
            let all = everything(&states);
            prop_assert_eq!(all.stamp(), latest.as_ref());
        }

        #[test]
        fn or_set_laws(history in steps()) {
            let states = run::<OrSet<u8>>(&history, |c, r, op, arg| {
                if op == 0 {
                    c.remove(&(arg % 8));
                } else {
                    c.add(r, arg % 8);
                }
            });
            laws(&states)?;
        }

        #[test]
        fn mv_register_laws(history in steps()) {
            let states = run::<MvRegister<u8>>(&history, |c, r, _, arg| c.set(r, arg));
            laws(&states)?;
        }
    }

    #[test]
    fn or_set_add_wins_over_a_concurrent_remove() {
        let mut a = OrSet::default();
        a.add("r1", "x");
        let mut b = a.clone();
        b.remove(&"x"); // r2 removes what it saw
        a.add("r1", "x"); // r1 adds again, concurrently
        a.merge(&b);
        assert!(a.contains(&"x"), "the add r2 did not see survives");
        // a remove that saw every add takes the element out everywhere
        let mut c = a.clone();
        c.remove(&"x");
        a.merge(&c);
        b.merge(&c);
        assert!(!a.contains(&"x") && !b.contains(&"x"));
        assert_eq!(a, {
            let mut x = b.clone();
            x.merge(&a);
            x
        });
    }

    #[test]
    fn mv_register_keeps_concurrent_values_until_a_write_saw_them() {
        let mut a = MvRegister::default();
        let mut b = MvRegister::default();
        a.set("r1", 1);
        b.set("r2", 2);
        a.merge(&b);
        assert_eq!(a.value(), vec![1, 2]);
        a.set("r1", 3);
        b.merge(&a);
        assert_eq!(b.value(), vec![3]);
    }

    #[test]
    fn counters_refuse_to_overflow() {
        let mut g = GCounter::default();
        g.increment("r1", u64::MAX - 1).unwrap();
        g.increment("r2", 1).unwrap();
        assert!(matches!(g.increment("r3", 1), Err(CrdtError::Overflow(_))));
        assert_eq!(g.value(), u64::MAX);
        let mut p = PnCounter::default();
        p.decrement("r1", 5).unwrap();
        p.increment("r2", 2).unwrap();
        assert_eq!(p.value(), -3);
    }
}
