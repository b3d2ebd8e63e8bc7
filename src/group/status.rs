//! What `/v1/cluster` reports about a group, as this replica sees it.

use serde::Serialize;

use super::{AckPolicy, LogGroup};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaStatus {
    pub region: String,
    pub role: &'static str,
    /// Highest index the replica holds durably (known on the leader only).
    pub matched_index: Option<u64>,
    pub lag_entries: Option<u64>,
    /// HLC age of the newest entry it lacks: how far behind in time it is.
    pub lag_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    pub id: String,
    pub name: String,
    pub leader: Option<String>,
    /// This replica's role: leader, follower, candidate or learner.
    pub state: String,
    pub term: u64,
    pub epoch: u64,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub ack: AckPolicy,
    pub degraded: bool,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub durable_index: u64,
    pub applied_index: u64,
    pub staleness_ms: u64,
    /// Per replica, filled in by the leader.
    pub replicas: Vec<ReplicaStatus>,
    /// `standard` tier: the group fails over by promoting its learner under a new epoch.
    pub promotes_learner: bool,
    /// Entries this replica held as a superseded voter, kept aside (never acknowledged).
    pub superseded: Vec<super::Superseded>,
    /// Whether the placement in force has this region hold the group (false: an idle slot,
    /// kept so that a placement change can add the region).
    pub member: bool,
}

impl LogGroup {
    pub fn status(&self, now_ms: u64) -> GroupStatus {
        let m = self.raft().metrics().borrow().clone();
        let spec = self.spec();
        let members = &m.membership_config;
        let voters: Vec<String> = members
            .membership()
            .voter_ids()
            .filter_map(|id| self.regions.get(&id).cloned())
            .collect();
        let learners: Vec<String> = members
            .membership()
            .learner_ids()
            .filter_map(|id| self.regions.get(&id).cloned())
            .collect();
        // Raft index i is WAL index i + 1
        let last = m.last_log_index.map_or(0, |i| i + 1);
        let wal = self.wal();
        let mut replicas = Vec::new();
        if let Some(rep) = &m.replication {
            let last_hlc = self.log.last_hlc();
            for (id, matched) in rep {
                let Some(region) = self.regions.get(id) else {
                    continue;
                };
                let matched = matched.map_or(0, |l| l.index + 1);
                let lag_entries = last.saturating_sub(matched);
                let lag_ms = if lag_entries == 0 {
                    0
                } else {
                    // the first entry it lacks: how old is it?
                    wal.read(matched + 1)
                        .map(|e| now_ms.saturating_sub(e.hlc.physical_ms()))
                        .unwrap_or_else(|_| now_ms.saturating_sub(last_hlc.physical_ms()))
                };
                replicas.push(ReplicaStatus {
                    region: region.clone(),
                    role: if voters.contains(region) {
                        "voter"
                    } else {
                        "learner"
                    },
                    matched_index: Some(matched),
                    lag_entries: Some(lag_entries),
                    lag_ms: Some(lag_ms),
                });
            }
        }
        GroupStatus {
            id: self.id.to_string(),
            name: spec.name.clone(),
            leader: self.leader(),
            state: format!("{:?}", m.state).to_lowercase(),
            term: m.current_term,
            epoch: self.epoch(),
            voters,
            learners,
            ack: spec.ack,
            degraded: self.is_degraded(),
            first_index: wal.first_index(),
            last_index: m.last_log_index.map(|i| i + 1),
            durable_index: self.durable_index(),
            applied_index: self.applied_index(),
            staleness_ms: self.staleness_ms(now_ms),
            replicas,
            promotes_learner: self.promotes_learner,
            superseded: self.superseded(),
            member: spec.has(&self.region),
        }
    }
}
