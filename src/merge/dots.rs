//! The dot kernel under the OR-Set and the MV-Register (Almeida, Shoker, Baquero: "Delta
//! state replicated data types", the optimized observed-remove design). Each value added is
//! tagged with a dot, (region, n): the n-th event of that region. The state is the live dots
//! with their values plus a causal context, the version vector of every dot ever seen. A
//! dot absent from a state whose context covers it was removed there; a dot the context
//! does not cover is simply new to it. So the merge keeps a dot both have, and a dot one
//! has that the other has not yet seen, and drops the rest: no tombstones, and an add
//! concurrent with a remove survives it (add wins).
//!
//! Every event a region issues bumps its entry in the context, and states only ever merge
//! whole, so the context of a state covers exactly the dots it has seen: the invariant the
//! merge relies on (the property tests in `crdt.rs` exercise it through random histories).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::version_vector::VersionVector;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub region: String,
    pub n: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DotKernel<T> {
    /// Serialized as a list of pairs: JSON map keys must be strings, and a dot is not.
    #[serde(with = "pairs")]
    #[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
    pub entries: BTreeMap<Dot, T>,
    pub context: VersionVector,
}

impl<T> Default for DotKernel<T> {
    fn default() -> Self {
        DotKernel {
            entries: BTreeMap::new(),
            context: VersionVector::new(),
        }
    }
}

impl<T: Clone + PartialEq> DotKernel<T> {
    /// Adds `value` under a new dot of `region`.
    pub fn add(&mut self, region: &str, value: T) -> Dot {
        let dot = Dot {
            region: region.to_string(),
            n: self.context.bump(region),
        };
        self.entries.insert(dot.clone(), value);
        dot
    }

    /// Removes the dots whose values `drop` selects (what this state has observed; the
    /// context keeps them seen, so a merge does not bring them back).
    pub fn remove_where(&mut self, mut drop: impl FnMut(&T) -> bool) {
        self.entries.retain(|_, v| !drop(v));
    }

    pub fn merge(&mut self, other: &DotKernel<T>) {
        let mine = std::mem::take(&mut self.entries);
        let mut merged = BTreeMap::new();
        for (dot, v) in mine {
            if other.entries.contains_key(&dot) || !other.context.covers(&dot.region, dot.n) {
                merged.insert(dot, v);
            }
        }
        for (dot, v) in &other.entries {
            if !merged.contains_key(dot) && !self.context.covers(&dot.region, dot.n) {
                merged.insert(dot.clone(), v.clone());
            }
        }
        self.entries = merged;
        self.context.merge(&other.context);
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.values()
    }
}

/// A map with non-string keys as a list of `[key, value]` pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
