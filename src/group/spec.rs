//! What a log group is made of: its replicas, its ack policy, its tier's failover. Which
//! groups a topology defines is `placement/plan.rs`.

use std::time::Duration;

use super::GroupId;
use crate::config::AckMode;

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
