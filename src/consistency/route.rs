//! The consistency table: how a read may be served, decided from what this replica knows.
//! A pure function, so every rule is tested directly, and the only one the server uses
//! (`admission.rs` runs its plan).

use super::Consistency;
use super::ReadRefusal;
use crate::session::GroupPosition;

/// This replica's view of one log group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaView {
    pub is_leader: bool,
    pub epoch: u64,
    pub applied_index: u64,
    /// Time since the leader's commit watermark that this replica has applied (0 on the leader).
    pub staleness_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPlan {
    /// Serve from the local store now.
    Local,
    /// Serve locally after a ReadIndex round through the leader (or its lease) has brought
    /// this replica to everything committed before the read: linearizable from any replica.
    Barrier,
    /// Serve locally once the applied index reaches this (session catch-up).
    WaitFor(u64),
    /// This replica cannot serve the read at its level.
    Refuse(ReadRefusal),
}

pub fn plan_read(
    level: Consistency,
    bound_ms: u64,
    session: Option<GroupPosition>,
    replica: ReplicaView,
) -> ReadPlan {
    match level {
        Consistency::Strong => ReadPlan::Barrier,
        Consistency::BoundedStaleness if replica.is_leader || replica.staleness_ms <= bound_ms => {
            ReadPlan::Local
        }
        // past the bound: catching up with a ReadIndex makes this replica fresh enough
        Consistency::BoundedStaleness => ReadPlan::Barrier,
        Consistency::Session => match session {
            Some(pos) if pos.epoch > replica.epoch => {
                ReadPlan::Refuse(ReadRefusal::SessionFromNewerEpoch {
                    group: pos.group,
                    token_epoch: pos.epoch,
                    local_epoch: replica.epoch,
                })
            }
            Some(pos) if pos.index > replica.applied_index => ReadPlan::WaitFor(pos.index),
            _ => ReadPlan::Local,
        },
        Consistency::ConsistentPrefix | Consistency::Eventual => ReadPlan::Local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::GroupId;

    const FOLLOWER: ReplicaView = ReplicaView {
        is_leader: false,
        epoch: 2,
        applied_index: 100,
        staleness_ms: 300,
    };

    fn pos(epoch: u64, index: u64) -> Option<GroupPosition> {
        Some(GroupPosition {
            group: GroupId(1),
            epoch,
            index,
        })
    }

    #[test]
    fn the_consistency_table() {
        use Consistency::*;
        let leader = ReplicaView {
            is_leader: true,
            staleness_ms: 0,
            ..FOLLOWER
        };
        // linearizable reads take a ReadIndex round on every replica, the leader included
        assert_eq!(plan_read(Strong, 0, None, leader), ReadPlan::Barrier);
        assert_eq!(plan_read(Strong, 0, None, FOLLOWER), ReadPlan::Barrier);
        assert_eq!(
            plan_read(BoundedStaleness, 500, None, FOLLOWER),
            ReadPlan::Local
        );
        assert_eq!(
            plan_read(BoundedStaleness, 300, None, FOLLOWER),
            ReadPlan::Local,
            "the bound is inclusive"
        );
        assert_eq!(
            plan_read(BoundedStaleness, 200, None, FOLLOWER),
            ReadPlan::Barrier
        );
        assert_eq!(
            plan_read(BoundedStaleness, 0, None, leader),
            ReadPlan::Local
        );
        assert_eq!(plan_read(Session, 0, None, FOLLOWER), ReadPlan::Local);
        assert_eq!(
            plan_read(Session, 0, pos(2, 100), FOLLOWER),
            ReadPlan::Local
        );
        assert_eq!(
            plan_read(Session, 0, pos(1, 150), FOLLOWER),
            ReadPlan::WaitFor(150)
        );
        assert_eq!(
            plan_read(Session, 0, pos(3, 1), FOLLOWER),
            ReadPlan::Refuse(ReadRefusal::SessionFromNewerEpoch {
                group: GroupId(1),
                token_epoch: 3,
                local_epoch: 2
            })
        );
        assert_eq!(
            plan_read(ConsistentPrefix, 0, None, FOLLOWER),
            ReadPlan::Local
        );
        assert_eq!(plan_read(Eventual, 0, pos(9, 9), FOLLOWER), ReadPlan::Local);
    }
}
