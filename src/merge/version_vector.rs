//! Version vectors: per origin region, how many of its writes a state has seen. Two writes
//! conflict when neither one's vector covers the other's (they were concurrent).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How two vectors relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Causality {
    Equal,
    /// The left one happened before the right one (the right saw all of it).
    Before,
    After,
    /// Neither saw all of the other: a conflict for single-value rules.
    Concurrent,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionVector(BTreeMap<String, u64>);

impl VersionVector {
    pub fn new() -> VersionVector {
        VersionVector::default()
    }

    /// Writes of `region` seen.
    pub fn get(&self, region: &str) -> u64 {
        self.0.get(region).copied().unwrap_or(0)
    }

    /// Counts one more write of `region`; its number.
    pub fn bump(&mut self, region: &str) -> u64 {
        let n = self.0.entry(region.to_string()).or_insert(0);
        *n += 1;
        *n
    }

    /// Records that writes of `region` up to `n` are seen (never lowers).
    pub fn raise(&mut self, region: &str, n: u64) {
        if n > 0 {
            let e = self.0.entry(region.to_string()).or_insert(0);
            *e = (*e).max(n);
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether write `n` of `region` is seen.
    pub fn covers(&self, region: &str, n: u64) -> bool {
        self.get(region) >= n
    }

    /// Everything either has seen.
    pub fn merge(&mut self, other: &VersionVector) {
        for (r, n) in &other.0 {
            let e = self.0.entry(r.clone()).or_insert(0);
            *e = (*e).max(*n);
        }
    }

    /// Whether this has seen everything `other` has.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(r, n)| self.get(r) >= *n)
    }

    pub fn compare(&self, other: &VersionVector) -> Causality {
        match (self.dominates(other), other.dominates(self)) {
            (true, true) => Causality::Equal,
            (true, false) => Causality::After,
            (false, true) => Causality::Before,
            (false, false) => Causality::Concurrent,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(r, n)| (r.as_str(), *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(&str, u64)]) -> VersionVector {
        VersionVector(entries.iter().map(|(r, n)| (r.to_string(), *n)).collect())
    }

    #[test]
    fn compares_by_what_each_has_seen() {
        let a = vv(&[("r1", 2), ("r2", 1)]);
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
        assert_eq!(vv(&[("r1", 1)]).compare(&a), Causality::Before);
        assert_eq!(a.compare(&vv(&[("r1", 1)])), Causality::After);
        assert_eq!(
            a.compare(&vv(&[("r1", 1), ("r3", 1)])),
            Causality::Concurrent
        );
        // a missing entry is zero
        assert_eq!(
            vv(&[("r1", 0)]).compare(&VersionVector::new()),
            Causality::Equal
        );
    }

    #[test]
    fn merge_is_the_least_upper_bound() {
        let mut a = vv(&[("r1", 2), ("r2", 1)]);
        let b = vv(&[("r2", 3), ("r3", 1)]);
        a.merge(&b);
        assert_eq!(a, vv(&[("r1", 2), ("r2", 3), ("r3", 1)]));
        assert!(a.dominates(&b));
        assert_eq!(a.bump("r3"), 2);
        assert!(a.covers("r3", 2) && !a.covers("r3", 3));
    }
}
