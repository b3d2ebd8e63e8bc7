//! A quorum read's decision, pure: given what each region read holds of a document (per
//! origin log, its head's version and stored bytes), the newest head of each origin, and per
//! region the heads it lacks (the read repair to send it). An origin's later head is always
//! the successor of its earlier ones (versions are made in log order), so "newest" is simply
//! the highest version.

use std::collections::BTreeMap;

/// One region's heads of a document: origin group -> (version, stored bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub region: String,
    pub heads: BTreeMap<u32, (u64, Vec<u8>)>,
}

/// Heads to install: origin group -> stored bytes.
pub type Heads = Vec<(u32, Vec<u8>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Per origin group, the newest head any region read holds.
    pub newest: BTreeMap<u32, (u64, Vec<u8>)>,
    /// Regions behind on some origin, with the heads to install there, in the order read.
    pub behind: Vec<(String, Heads)>,
}

pub fn plan(held: &[Held]) -> Plan {
    let mut newest: BTreeMap<u32, (u64, Vec<u8>)> = BTreeMap::new();
    for h in held {
        for (g, (v, raw)) in &h.heads {
            if newest.get(g).is_none_or(|(nv, _)| v > nv) {
                newest.insert(*g, (*v, raw.clone()));
            }
        }
    }
    let behind = held
        .iter()
        .filter_map(|h| {
            let missing: Heads = newest
                .iter()
                .filter(|(g, (v, _))| h.heads.get(g).is_none_or(|(hv, _)| hv < v))
                .map(|(g, (_, raw))| (*g, raw.clone()))
                .collect();
            (!missing.is_empty()).then(|| (h.region.clone(), missing))
        })
        .collect();
    Plan { newest, behind }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(region: &str, heads: &[(u32, u64)]) -> Held {
        Held {
            region: region.into(),
            heads: heads
                .iter()
                .map(|(g, v)| (*g, (*v, format!("{g}@{v}").into_bytes())))
                .collect(),
        }
    }

    #[test]
    fn the_newest_head_of_each_origin_stands_and_each_region_gets_what_it_lacks() {
        let p = plan(&[
            held("r1", &[(1, 5), (2, 3)]),
            held("r2", &[(1, 7)]),
            held("r3", &[(1, 7), (2, 3)]),
        ]);
        assert_eq!(p.newest[&1].0, 7);
        assert_eq!(p.newest[&2].0, 3);
        assert_eq!(
            p.behind,
            vec![
                ("r1".to_string(), vec![(1, b"1@7".to_vec())]),
                ("r2".to_string(), vec![(2, b"2@3".to_vec())]),
            ]
        );
        assert!(
            plan(&[held("r1", &[(1, 2)]), held("r2", &[(1, 2)])])
                .behind
                .is_empty()
        );
        assert!(plan(&[]).newest.is_empty());
    }
}
