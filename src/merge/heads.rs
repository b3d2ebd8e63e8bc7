//! What a multi-master document is, given each origin's latest version of it (its head):
//! the heads no other head saw are the live ones; of those the last writer (HLC, then
//! region name) stands, and the others lost a conflict. The store calls [`pick`] as it
//! applies a version (to record conflicts), and reads call it to answer; both see the same
//! answer for the same heads, whatever order the versions arrived in.

use sha2::{Digest, Sha256};

use super::lww::{Stamp, Versioned};

/// The version that stands and the concurrent ones it beat (oldest stamp first).
#[derive(Debug)]
pub struct Pick<'a, T> {
    pub winner: &'a Versioned<T>,
    pub losers: Vec<&'a Versioned<T>>,
}

impl<T> Pick<'_, T> {
    pub fn conflict(&self) -> bool {
        !self.losers.is_empty()
    }

    /// Whether `stamp` is among the live (winning or losing) versions.
    pub fn live(&self, stamp: &Stamp) -> bool {
        self.winner.stamp == *stamp || self.losers.iter().any(|l| l.stamp == *stamp)
    }

    /// The same conflict (same key, winner and losers) has the same id in every region,
    /// so a region that detects it twice, or after a replay, records it once.
    pub fn id(&self, collection: &str, key: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        for part in [collection.as_bytes(), key.as_bytes()] {
            h.update((part.len() as u32).to_le_bytes());
            h.update(part);
        }
        for s in std::iter::once(&self.winner.stamp).chain(self.losers.iter().map(|l| &l.stamp)) {
            h.update(s.hlc.packed.to_le_bytes());
            h.update((s.region.len() as u32).to_le_bytes());
            h.update(s.region.as_bytes());
        }
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        id
    }
}

/// None when there are no heads.
pub fn pick<T>(heads: &[Versioned<T>]) -> Option<Pick<'_, T>> {
    let live: Vec<&Versioned<T>> = heads
        .iter()
        .filter(|v| !heads.iter().any(|o| o.vv != v.vv && o.vv.dominates(&v.vv)))
        .collect();
    let winner = *live.iter().max_by(|a, b| a.stamp.cmp(&b.stamp))?;
    let mut losers: Vec<&Versioned<T>> = live
        .into_iter()
        .filter(|v| v.stamp != winner.stamp)
        .collect();
    losers.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    Some(Pick { winner, losers })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::clock::Timestamp;
    use crate::merge::VersionVector;

    fn head(region: &str, ms: u64, seen: &[(&str, u64)]) -> Versioned<u32> {
        let mut vv = VersionVector::new();
        for (r, n) in seen {
            vv.raise(r, *n);
        }
        Versioned {
            stamp: Stamp {
                hlc: Timestamp {
                    packed: ms << 16,
                    node: 0,
                },
                region: region.into(),
            },
            vv,
            value: ms as u32,
        }
    }

    #[test]
    fn a_head_that_saw_the_others_stands_alone() {
        let heads = [
            head("eu", 10, &[("eu", 3)]),
            head("us", 5, &[("us", 9), ("eu", 3)]),
        ];
        let p = pick(&heads).unwrap();
        // the us version saw eu's, so it stands though its clock is behind: no conflict
        assert_eq!(p.winner.stamp.region, "us");
        assert!(!p.conflict());
    }

    #[test]
    fn concurrent_heads_conflict_and_the_last_writer_wins() {
        let heads = [
            head("eu", 10, &[("eu", 3)]),
            head("us", 12, &[("us", 9)]),
            head("ap", 11, &[("ap", 2), ("eu", 3)]),
        ];
        let p = pick(&heads).unwrap();
        assert_eq!(p.winner.stamp.region, "us");
        // eu's version was seen by ap's: it lost to nobody, ap's lost to us's
        assert_eq!(p.losers.len(), 1);
        assert_eq!(p.losers[0].stamp.region, "ap");
        assert!(!p.live(&heads[0].stamp) && p.live(&heads[2].stamp));
    }

    #[test]
    fn equal_clocks_are_broken_by_region_name() {
        let heads = [head("us", 10, &[("us", 1)]), head("eu", 10, &[("eu", 1)])];
        assert_eq!(pick(&heads).unwrap().winner.stamp.region, "us");
        assert!(pick::<u32>(&[]).is_none());
    }

    proptest! {
        /// Any region, holding the same heads in any order, picks the same winner and
        /// losers and names the conflict alike.
        #[test]
        fn the_pick_does_not_depend_on_order(
            seen in proptest::collection::vec(proptest::collection::vec(0u64..4, 3), 3),
            ms in proptest::collection::vec(0u64..5, 3),
            rotate in 0usize..3,
        ) {
            let regions = ["a", "b", "c"];
            let mut heads: Vec<Versioned<u32>> = (0..3)
                .map(|i| {
                    let mut s: Vec<(&str, u64)> =
                        (0..3).filter(|j| *j != i).map(|j| (regions[j], seen[i][j])).collect();
                    s.push((regions[i], 5));
                    head(regions[i], ms[i], &s)
                })
                .collect();
            let before = pick(&heads).map(|p| (p.winner.stamp.clone(), p.id("c", "k")));
            heads.rotate_left(rotate);
            let after = pick(&heads).map(|p| (p.winner.stamp.clone(), p.id("c", "k")));
            prop_assert_eq!(before, after);
        }
    }
}
