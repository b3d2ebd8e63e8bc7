//! Which log groups a topology defines: the meta group, the default group (every region a
//! voter) for collections without a placement, and one per placed collection.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{AckMode, Placement, Tier, Topology};
use crate::group::{AckPolicy, GroupId, GroupSpec};

/// The group of a placed collection: a stable number derived from its name, so reordering
/// the topology file never moves data between groups.
pub fn group_id_for(collection: &str) -> GroupId {
    let h = crc32c::crc32c(format!("collection/{collection}").as_bytes());
    // 0 and 1 are the meta and default groups
    GroupId(h.max(2))
}

pub fn default_spec(topology: &Topology) -> GroupSpec {
    GroupSpec {
        id: GroupId::DEFAULT_DATA,
        name: "default".into(),
        voters: topology.region_names(),
        learners: Vec::new(),
        ack: AckPolicy {
            mode: AckMode::Async,
            min_sync_replicas: 0,
            semi_sync_timeout: Duration::from_millis(2000),
        },
        promotes_learner: false,
    }
}

/// The meta group: every region votes; it holds the catalog (see `catalog/`).
pub fn meta_spec(topology: &Topology) -> GroupSpec {
    GroupSpec {
        id: GroupId::META,
        name: "meta".into(),
        ..default_spec(topology)
    }
}

pub fn placement_spec(p: &Placement) -> GroupSpec {
    let (voters, learners) = match p.tier {
        Tier::Critical => (p.regions.clone(), Vec::new()),
        Tier::Standard | Tier::Archival => (p.regions[..1].to_vec(), p.regions[1..].to_vec()),
    };
    let learners = learners.into_iter().chain(p.learners.clone()).collect();
    GroupSpec {
        id: group_id_for(&p.name),
        name: p.name.clone(),
        voters,
        learners,
        ack: AckPolicy {
            mode: p.ack_mode,
            min_sync_replicas: p.min_sync_replicas,
            semi_sync_timeout: Duration::from_millis(p.semi_sync_timeout_ms),
        },
        promotes_learner: p.tier == Tier::Standard,
    }
}

/// Every group of the topology: the meta group (with more than one region: alone, a region
/// has nothing to fence), the default group, then the placements.
pub fn plan(topology: &Topology) -> Vec<GroupSpec> {
    let mut out = Vec::new();
    if topology.regions.len() > 1 {
        out.push(meta_spec(topology));
    }
    out.push(default_spec(topology));
    out.extend(topology.collections.iter().map(placement_spec));
    out
}

/// Collection name to group, for the placed ones.
pub fn collection_groups(specs: &[GroupSpec]) -> HashMap<String, GroupId> {
    specs
        .iter()
        .filter(|s| s.id != GroupId::DEFAULT_DATA && s.id != GroupId::META)
        .map(|s| (s.name.clone(), s.id))
        .collect()
}
