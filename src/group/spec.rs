//! Which log groups a topology defines: one per collection placement, plus the default group
//! (every region a voter) for collections without one.

use std::collections::HashMap;
use std::time::Duration;

use super::GroupId;
use crate::config::{AckMode, Placement, Tier, Topology};

/// How a group's writes are acknowledged (see DESIGN.md, "Ack modes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AckPolicy {
    #[serde(rename = "ack_mode")]
    pub mode: AckMode,
    pub min_sync_replicas: u32,
    #[serde(
        rename = "semi_sync_timeout_ms",
        serialize_with = "as_ms",
        deserialize_with = "from_ms"
    )]
    pub semi_sync_timeout: Duration,
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn from_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
}

impl GroupSpec {
    /// Checks `ack` against this group's replicas; the error names the offending field.
    pub fn check_ack(&self, ack: &AckPolicy) -> Result<(), (&'static str, String)> {
        let others = match ack.mode {
            AckMode::Sync => self.voters.len() - 1,
            _ => self.voters.len() + self.learners.len() - 1,
        } as u32;
        if ack.min_sync_replicas > others {
            return Err((
                "min_sync_replicas",
                format!(
                    "{} exceeds the {others} other replicas this ack mode can count",
                    ack.min_sync_replicas
                ),
            ));
        }
        if ack.mode == AckMode::Sync && ack.min_sync_replicas == 0 && others > 0 {
            return Err((
                "min_sync_replicas",
                "0 with ack_mode \"sync\" contradicts itself: sync waits for every voter".into(),
            ));
        }
        if ack.semi_sync_timeout.is_zero() || ack.semi_sync_timeout > Duration::from_secs(600) {
            return Err(("semi_sync_timeout_ms", "must be 1..=600000".into()));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub id: GroupId,
    /// The collection it holds, or "default".
    pub name: String,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub ack: AckPolicy,
    /// The `standard` tier: one voter, whose failover promotes its in-sync learner under a
    /// new epoch in the meta group's catalog (see `catalog/`), instead of a Raft election.
    pub promotes_learner: bool,
}

impl GroupSpec {
    /// Voters, then learners, except `region`.
    pub fn others(&self, region: &str) -> Vec<String> {
        self.voters
            .iter()
            .chain(&self.learners)
            .filter(|r| **r != *region)
            .cloned()
            .collect()
    }

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
