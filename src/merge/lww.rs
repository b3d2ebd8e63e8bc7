//! Last writer wins: of two concurrent versions, the one with the higher HLC, ties broken by
//! region name (DESIGN.md), so every region picks the same winner whatever order the
//! versions arrive in. A version whose vector covers the other's is no conflict: it saw the
//! other and replaced it.

use serde::{Deserialize, Serialize};

use super::version_vector::{Causality, VersionVector};
use crate::clock::Timestamp;

/// When and where a version was written: the order LWW decides by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub hlc: Timestamp,
    pub region: String,
}

impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // the HLC's own tie-breaker is a hash of the region: the name is what operators read
        (self.hlc.packed, &self.region).cmp(&(other.hlc.packed, &other.region))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// One version of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub stamp: Stamp,
    /// What its writer had seen, its own write included.
    pub vv: VersionVector,
    pub value: T,
}

/// Which of two versions stands, and whether they conflicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The left one saw the right one (or they are the same): no conflict.
    LeftSupersedes,
    RightSupersedes,
    /// Concurrent: the left one wins by LWW; the right one goes to the conflict feed.
    LeftWins,
    RightWins,
}

impl Outcome {
    pub fn conflict(self) -> bool {
        matches!(self, Outcome::LeftWins | Outcome::RightWins)
    }

    pub fn left_stands(self) -> bool {
        matches!(self, Outcome::LeftSupersedes | Outcome::LeftWins)
    }
}

pub fn resolve<T>(left: &Versioned<T>, right: &Versioned<T>) -> Outcome {
    match left.vv.compare(&right.vv) {
        Causality::After | Causality::Equal => Outcome::LeftSupersedes,
        Causality::Before => Outcome::RightSupersedes,
        Causality::Concurrent if left.stamp >= right.stamp => Outcome::LeftWins,
        Causality::Concurrent => Outcome::RightWins,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn version(ms: u64, region: &str, vv: &[(&str, u64)], value: u32) -> Versioned<u32> {
        let mut v = VersionVector::new();
        for (r, n) in vv {
            for _ in 0..*n {
                v.bump(r);
            }
        }
        Versioned {
            stamp: Stamp {
                hlc: Timestamp::new(ms, 0, 7),
                region: region.into(),
            },
            vv: v,
            value,
        }
    }

    #[test]
    fn a_version_that_saw_the_other_supersedes_it_whatever_the_clocks_say() {
        let old = version(500, "r1", &[("r1", 1)], 1);
        // written later in causal order, with a clock behind
        let new = version(100, "r2", &[("r1", 1), ("r2", 1)], 2);
        assert_eq!(resolve(&new, &old), Outcome::LeftSupersedes);
        assert_eq!(resolve(&old, &new), Outcome::RightSupersedes);
        assert!(!resolve(&old, &new).conflict());
    }

    #[test]
    fn concurrent_versions_go_by_hlc_then_region_name() {
        let a = version(100, "r1", &[("r1", 1)], 1);
        let b = version(200, "r2", &[("r2", 1)], 2);
        assert_eq!(resolve(&a, &b), Outcome::RightWins);
        assert_eq!(resolve(&b, &a), Outcome::LeftWins);
        let tie = version(100, "r0", &[("r0", 1)], 3);
        assert_eq!(resolve(&a, &tie), Outcome::LeftWins, "r1 > r0");
        assert!(resolve(&a, &tie).conflict());
    }

    fn arb_version() -> impl Strategy<Value = Versioned<u32>> {
        (
            0u64..50,
            prop::sample::select(vec!["r1", "r2", "r3"]),
            prop::collection::vec(0u64..3, 3),
            any::<u32>(),
        )
            .prop_map(|(ms, region, counts, value)| {
                let vv: Vec<(&str, u64)> = ["r1", "r2", "r3"].into_iter().zip(counts).collect();
                version(ms, region, &vv, value)
            })
    }

    /// Folds versions in order, keeping the one that stands.
    fn fold(versions: &[Versioned<u32>]) -> &Versioned<u32> {
        let mut standing = &versions[0];
        for v in &versions[1..] {
            if !resolve(standing, v).left_stands() {
                standing = v;
            }
        }
        standing
    }

    proptest! {
        /// Pairwise concurrent versions (the conflicts LWW settles): the same winner in any
        /// arrival order.
        #[test]
        fn the_winner_is_the_same_in_any_arrival_order(
            mut versions in prop::collection::vec(arb_version(), 1..8),
            seed in any::<u64>(),
        ) {
            // an HLC reading is unique in its region: no two writes share a stamp
            let mut seen = std::collections::HashSet::new();
            versions.retain(|v| seen.insert(v.stamp.clone()));
            // make them pairwise concurrent: each saw only its own write
            for (i, v) in versions.iter_mut().enumerate() {
                let mut vv = VersionVector::new();
                vv.bump(&format!("w{i}"));
                v.vv = vv;
            }
            let winner = fold(&versions).clone();
            let mut shuffled = versions.clone();
            // a deterministic shuffle from the seed
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(fold(&shuffled), &winner);
            prop_assert_eq!(&winner.stamp, &versions.iter().map(|v| &v.stamp).max().unwrap().clone());
        }

        #[test]
        fn resolve_is_antisymmetric(a in arb_version(), b in arb_version()) {
            let ab = resolve(&a, &b);
            let ba = resolve(&b, &a);
            prop_assert_eq!(ab.conflict(), ba.conflict());
            if a.vv != b.vv && a.stamp != b.stamp {
                prop_assert_ne!(ab.left_stands(), ba.left_stands());
            }
        }
    }
}
