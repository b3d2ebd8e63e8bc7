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

/// The origin log of `region`'s writes to the multi-master collection `collection`.
pub fn origin_group_id(collection: &str, region: &str) -> GroupId {
    let h = crc32c::crc32c(format!("origin/{collection}/{region}").as_bytes());
    GroupId(h.max(2))
}

/// An origin log's name: `collection@region` (no collection name holds an `@`).
pub fn origin_group_name(collection: &str, region: &str) -> String {
    format!("{collection}@{region}")
}

/// Whether a group named `name` is a multi-master origin log (`origin_group_name`).
pub fn is_origin_log(name: &str) -> bool {
    name.contains('@')
}

/// The origin logs of a multi-master placement, in its regions' order: one per region, that
/// region its sole voter (so its writes commit on its own fsync) and the others learners.
pub fn origin_specs(p: &Placement) -> Vec<GroupSpec> {
    p.regions
        .iter()
        .map(|region| GroupSpec {
            id: origin_group_id(&p.name, region),
            name: origin_group_name(&p.name, region),
            voters: vec![region.clone()],
            learners: p.regions.iter().filter(|r| *r != region).cloned().collect(),
            ack: AckPolicy {
                mode: AckMode::Async,
                min_sync_replicas: 0,
                semi_sync_timeout: Duration::from_millis(p.semi_sync_timeout_ms),
            },
            promotes_learner: false,
        })
        .collect()
}

/// The placement's replicas as one spec. For a multi-master placement that is no group of
/// its own (its groups are [`origin_specs`]): every region a voter, which is what `has` and
/// the holders of a request need to know.
pub fn placement_spec(p: &Placement) -> GroupSpec {
    let (voters, learners) = match p.tier {
        Tier::Critical | Tier::MultiMaster => (p.regions.clone(), Vec::new()),
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
    for p in &topology.collections {
        match p.tier {
            Tier::MultiMaster => out.extend(origin_specs(p)),
            _ => out.push(placement_spec(p)),
        }
    }
    out
}

/// Collection name to group, for the placed single-leader ones.
pub fn collection_groups(specs: &[GroupSpec]) -> HashMap<String, GroupId> {
    specs
        .iter()
        .filter(|s| s.id != GroupId::DEFAULT_DATA && s.id != GroupId::META)
        .filter(|s| !is_origin_log(&s.name))
        .map(|s| (s.name.clone(), s.id))
        .collect()
}

/// Multi-master collection name to its origin logs, `(region, group)` in placement order.
pub fn origin_groups(topology: &Topology) -> HashMap<String, Vec<(String, GroupId)>> {
    topology
        .collections
        .iter()
        .filter(|p| p.tier == Tier::MultiMaster)
        .map(|p| {
            let origins = p
                .regions
                .iter()
                .map(|r| (r.clone(), origin_group_id(&p.name, r)))
                .collect();
            (p.name.clone(), origins)
        })
        .collect()
}
