//! Who serves a collection, resolved once per request: its group, the placement in force
//! (the catalog's record once changed at run time, else the topology file's), the defaults
//! a request that names no level gets, whether this region holds it, and the holders
//! elsewhere by configured RTT.

use std::collections::HashMap;
use std::sync::Arc;

use super::plan::{collection_groups, origin_groups, placement_spec, plan};
use super::records::PlacementRecords;
use crate::config::{Placement, Tier, Topology};
use crate::consistency::Consistency;
use crate::group::{GroupId, GroupSpec};

/// One collection's placement, as a request sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub collection: String,
    pub group: GroupId,
    /// None: the collection has no placement and lives in the default group, which every
    /// region holds.
    pub placement: Option<Placement>,
    /// The placement's voters and learners.
    pub replicas: Option<GroupSpec>,
    /// What a request that names no consistency level (or staleness bound) gets.
    pub default_level: Consistency,
    pub default_bound_ms: u64,
    /// Whether this region serves the collection itself.
    pub here: bool,
    /// A multi-master collection's origin logs, `(region, group)`; empty for the other
    /// tiers. `group` is then this region's own origin log (when it holds one).
    pub origins: Vec<(String, GroupId)>,
}

impl Resolved {
    pub fn tier(&self) -> Option<Tier> {
        self.placement.as_ref().map(|p| p.tier)
    }

    pub fn multi_master(&self) -> bool {
        !self.origins.is_empty()
    }
}

/// Resolves collections for one region.
pub struct Resolver {
    region: Arc<str>,
    configured: HashMap<String, Placement>,
    placed: HashMap<String, GroupId>,
    origins: HashMap<String, Vec<(String, GroupId)>>,
    records: Option<Arc<PlacementRecords>>,
    default_level: Consistency,
    default_bound_ms: u64,
    /// Configured RTT from this region to each other one.
    rtt_ms: HashMap<String, u64>,
}

impl Resolver {
    pub fn new(
        topology: &Topology,
        region: Arc<str>,
        records: Option<Arc<PlacementRecords>>,
    ) -> Resolver {
        let rtt_ms = topology
            .links
            .iter()
            .filter(|l| l.between.iter().any(|b| **b == *region))
            .flat_map(|l| l.between.iter().map(move |b| (b.clone(), l.rtt_ms)))
            .filter(|(b, _)| **b != *region)
            .collect();
        Resolver {
            configured: topology
                .collections
                .iter()
                .map(|p| (p.name.clone(), p.clone()))
                .collect(),
            placed: collection_groups(&plan(topology)),
            origins: origin_groups(topology),
            records,
            default_level: topology.node.default_consistency,
            default_bound_ms: topology.node.default_max_staleness_ms,
            rtt_ms,
            region,
        }
    }

    pub fn resolve(&self, collection: &str) -> Resolved {
        let origins = self.origins.get(collection).cloned().unwrap_or_default();
        let group = origins
            .iter()
            .find(|(r, _)| **r == *self.region)
            .or(origins.first())
            .map_or_else(|| self.group_of(collection), |(_, g)| *g);
        let placement = self.in_force(collection);
        let replicas = placement.as_ref().map(placement_spec);
        let (default_level, default_bound_ms) = match &placement {
            Some(p) => (p.consistency, p.max_staleness_ms),
            None => (self.default_level, self.default_bound_ms),
        };
        Resolved {
            collection: collection.to_string(),
            group,
            here: replicas.as_ref().is_none_or(|s| s.has(&self.region)),
            placement,
            replicas,
            default_level,
            default_bound_ms,
            origins,
        }
    }

    /// The group a collection lives in: its placement's, else the default group.
    pub fn group_of(&self, collection: &str) -> GroupId {
        self.placed
            .get(collection)
            .copied()
            .unwrap_or(GroupId::DEFAULT_DATA)
    }

    /// Whether the topology file places `collection` (only those can be moved at run time).
    pub fn is_placed(&self, collection: &str) -> bool {
        self.placed.contains_key(collection) || self.origins.contains_key(collection)
    }

    /// The placement in force: the catalog's, once changed at run time, else the topology's.
    pub fn in_force(&self, collection: &str) -> Option<Placement> {
        let changed = self
            .records
            .as_ref()
            .and_then(|r| r.get(collection).ok().flatten())
            .map(|(r, _)| r.placement);
        changed.or_else(|| self.configured.get(collection).cloned())
    }

    /// The placement records, None in a single-region topology (no meta group).
    pub fn records(&self) -> Option<&Arc<PlacementRecords>> {
        self.records.as_ref()
    }

    /// The other regions holding `r`'s collection: `first` (when it holds it) first, then
    /// by configured RTT (unknown links last).
    pub fn holders(&self, r: &Resolved, first: Option<&str>) -> Vec<String> {
        let Some(spec) = &r.replicas else {
            return Vec::new();
        };
        self.by_rtt(spec.others(&self.region), first)
    }

    /// `regions` ordered `first` first, then by configured RTT from this region.
    pub fn by_rtt(&self, mut regions: Vec<String>, first: Option<&str>) -> Vec<String> {
        regions.sort_by_key(|r| (Some(r.as_str()) != first, self.rtt_ms(r)));
        regions
    }

    pub fn rtt_ms(&self, region: &str) -> u64 {
        self.rtt_ms.get(region).copied().unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// eu, us and ap (eu-us 80 ms, eu-ap 200 ms); orders on all three, carts on us and ap.
    fn topology() -> String {
        let mut t = String::from("cluster = \"t\"\n");
        for (i, name) in ["eu", "us", "ap"].iter().enumerate() {
            t += &format!(
                "[[regions]]\nname = \"{name}\"\napi = \"127.0.0.1:{}\"\npeer = \"127.0.0.1:{}\"\n",
                2 * i + 1,
                2 * i + 2
            );
        }
        for (other, rtt) in [("us", 80), ("ap", 200)] {
            t += &format!("[[links]]\nbetween = [\"eu\", \"{other}\"]\nrtt_ms = {rtt}\n");
        }
        t + r#"
[[collections]]
name = "orders"
tier = "critical"
regions = ["us", "ap", "eu"]
consistency = "strong"
[[collections]]
name = "carts"
tier = "standard"
regions = ["us", "ap"]
"#
    }

    fn resolver(region: &str) -> Resolver {
        let t = Topology::parse(
            &topology(),
            std::path::Path::new("t.toml"),
            std::path::Path::new("."),
        )
        .unwrap();
        Resolver::new(&t, Arc::from(region), None)
    }

    #[test]
    fn a_placed_collection_resolves_to_its_group_defaults_and_holders() {
        let r = resolver("eu");
        let orders = r.resolve("orders");
        assert_eq!(orders.group, crate::placement::group_id_for("orders"));
        assert_eq!(orders.tier(), Some(Tier::Critical));
        assert_eq!(orders.default_level, Consistency::Strong);
        assert!(orders.here);
        // nearest first; asked to, a named region leads
        assert_eq!(r.holders(&orders, None), ["us", "ap"]);
        assert_eq!(r.holders(&orders, Some("ap")), ["ap", "us"]);

        let carts = r.resolve("carts");
        assert!(!carts.here, "eu holds no replica of carts");
        assert_eq!(carts.tier(), Some(Tier::Standard));
        assert_eq!(r.holders(&carts, None), ["us", "ap"]);
    }

    #[test]
    fn an_unplaced_collection_lives_in_the_default_group_everywhere() {
        let r = resolver("ap");
        let misc = r.resolve("misc");
        assert_eq!(misc.group, GroupId::DEFAULT_DATA);
        assert_eq!(misc.placement, None);
        assert!(misc.here);
        assert!(r.holders(&misc, None).is_empty());
        assert!(!r.is_placed("misc") && r.is_placed("orders"));
        // ap has no configured link to us: unknown links sort last
        assert_eq!(r.by_rtt(vec!["us".into(), "eu".into()], None), ["eu", "us"]);
    }
}
