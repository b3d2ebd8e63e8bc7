//! Which log groups a topology defines: one per collection placement, plus the default group
//! (every region a voter) for collections without one.

use std::collections::HashMap;
use std::time::Duration;

use super::GroupId;
use crate::config::{AckMode, Placement, Tier, Topology};

/// How a group's writes are acknowledged (see DESIGN.md, "Ack modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AckPolicy {
    pub mode: AckMode,
    pub min_sync_replicas: u32,
    #[serde(rename = "semi_sync_timeout_ms", serialize_with = "as_ms")]
    pub semi_sync_timeout: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub id: GroupId,
    /// The collection it holds, or "default".
    pub name: String,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub ack: AckPolicy,
}

impl GroupSpec {
    pub fn has(&self, region: &str) -> bool {
        self.voters
            .iter()
            .chain(&self.learners)
            .any(|r| r == region)
    }
}

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
    }
}

pub fn placement_spec(p: &Placement) -> GroupSpec {
    let (voters, learners) = match p.tier {
        Tier::Critical => (p.regions.clone(), Vec::new()),
        Tier::Standard | Tier::Archival => (p.regions[..1].to_vec(), p.regions[1..].to_vec()),
    };
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
    }
}

/// Every group of the topology; the default group first.
pub fn plan(topology: &Topology) -> Vec<GroupSpec> {
    let mut out = vec![default_spec(topology)];
    out.extend(topology.collections.iter().map(placement_spec));
    out
}

/// Collection name to group, for the placed ones.
pub fn collection_groups(specs: &[GroupSpec]) -> HashMap<String, GroupId> {
    specs
        .iter()
        .filter(|s| s.id != GroupId::DEFAULT_DATA)
        .map(|s| (s.name.clone(), s.id))
        .collect()
}
