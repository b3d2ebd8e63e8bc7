//! Up to which instant the archive holds this group's log completely.
//!
//! The archiver (on the leader) asks: what is the lowest HLC any entry *not yet archived*
//! can carry? Every entry with an earlier HLC is then in the archive, so a restore to any
//! instant before it is exact. Three things bound it from above:
//! 1. a fresh reading of this leader's HLC, taken under the batcher's in-flight lock
//!    together with the oldest stamp still on its way to the log (`inflight.rs`): every
//!    later stamp of this leader is greater;
//! 2. the HLC of the first unarchived entry already in the log (entries' HLCs never
//!    decrease along the log);
//! 3. a later leader's stamps. These are bounded by confirming leadership *after* the
//!    reading: a quorum round (ReadIndex), or for a `standard` group a linearizable read of
//!    its catalog record. A successor must win a quorum (or the catalog) later, and every
//!    message merges the HLC (`transport/peer_clock.rs`), so its clock is already past the
//!    reading before it stamps anything.

use super::{GroupError, LogGroup};
use crate::clock::Timestamp;

impl LogGroup {
    /// The lowest HLC an entry after `archived` (the archive's last index) can carry, as
    /// this leader can prove it; `NotLeader`/`Fenced` if it no longer leads.
    pub async fn unarchived_floor(&self, archived: u64) -> Result<Timestamp, GroupError> {
        let (now, oldest_in_flight) = self.inflight.now_and_oldest(&self.clock);
        let next_in_log = if self.last_index() > archived {
            Some(self.log.hlc_of(archived + 1).map_err(GroupError::from)?)
        } else {
            None
        };
        if self.promotes_learner {
            if let Some(recorder) = self.sync_recorder() {
                recorder
                    .confirm_voter(self.id, &self.region, self.epoch())
                    .await?;
            }
        } else {
            // a quorum round, never the lease: the lease proves no message after `now`
            self.raft()
                .get_read_log_id()
                .await
                .map_err(|e| GroupError::NotLeader {
                    leader: e
                        .forward_to_leader::<openraft::BasicNode>()
                        .and_then(|f| f.leader_id)
                        .and_then(|id| self.regions.get(&id).cloned()),
                })?;
        }
        Ok([Some(now), oldest_in_flight, next_in_log]
            .into_iter()
            .flatten()
            .min()
            .expect("now is always there"))
    }
}
