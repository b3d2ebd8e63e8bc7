//! Every region follows the placement records: it adopts the new voters and learners,
//! starts serving a collection it now holds, and a region no longer placed stops serving it
//! and empties its replica.

use std::sync::Arc;
use std::time::Duration;

use super::plan::placement_spec;
use super::records::PlacementRecords;
use crate::config::Placement;
use crate::group::{GroupId, Groups, LogGroup};

/// Silence from every leader after which a replica the placement no longer holds is emptied.
const LET_GO: Duration = Duration::from_secs(3);

/// How often every region compares its replicas with the placements in force.
const FOLLOW_TICK: Duration = Duration::from_millis(300);

/// Runs on every region until the node stops: keeps each replica of a placed collection's
/// group in line with the placement in force.
pub async fn follow(records: Arc<PlacementRecords>, groups: Arc<Groups>) {
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(FOLLOW_TICK).await;
        for g in groups.iter() {
            if g.id() == GroupId::META || g.id() == GroupId::DEFAULT_DATA || g.promotes_learner() {
                continue;
            }
            let name = g.spec().name;
            let outcome = match records.get(&name) {
                Ok(Some((record, _))) if record.changing_to.is_none() => {
                    adopt(g, &record.placement).await
                }
                Ok(Some(_)) => Ok(()),
                Ok(None) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = outcome
                && e != last_error
            {
                tracing::warn!(group = %g.id(), collection = %name, error = %e, "following the placement");
                last_error = e;
            }
        }
    }
}

/// Adopts `placement`'s voters and learners; a replica no longer placed is emptied.
async fn adopt(g: &Arc<LogGroup>, placement: &Placement) -> Result<(), String> {
    let target = placement_spec(placement);
    if g.is_leader() && !g.changing_members() {
        // a leader that took over from one that removed itself finishes the removals
        g.remove_unplaced(&target.voters, &target.learners, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
    }
    g.set_placement(target.voters, target.learners);
    if g.is_member() || (g.raft_blank() && g.last_index() == 0) {
        return Ok(());
    }
    if g.leader_silence() < LET_GO {
        // A leader still replicates to this replica: the change is in force, but its last
        // step (removing this replica, which a successor of a leader that removed itself
        // does) is not done yet. Emptying the log under a live replication stream would
        // confuse it; the replica stops serving now and empties once nobody sends to it.
        return Ok(());
    }
    // The record is in force only after the leader committed the membership without this
    // region: nothing it holds is needed, and keeping it would serve stale reads.
    g.halt_raft()
        .await
        .retire()
        .await
        .map_err(|e| e.to_string())
}
