//! Where a read may be served, decided from what this replica knows. A pure function so
//! every rule of the consistency table is tested directly.

use super::Consistency;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPlan {
    /// Serve from the local store now.
    Local,
    /// Serve locally once the applied index reaches this (session catch-up).
    WaitFor(u64),
    /// The guarantee needs another replica (the leader or a fresher one).
    Forward(ForwardReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardReason {
    NotLeader,
    TooStale { bound_ms: u64, staleness_ms: u64 },
    SessionFromNewerEpoch { token_epoch: u64, local_epoch: u64 },
}

pub fn plan_read(
    level: Consistency,
    bound_ms: u64,
    session: Option<GroupPosition>,
    replica: ReplicaView,
) -> ReadPlan {
    match level {
        Consistency::Strong if replica.is_leader => ReadPlan::Local,
        Consistency::Strong => ReadPlan::Forward(ForwardReason::NotLeader),
        Consistency::BoundedStaleness if replica.is_leader || replica.staleness_ms <= bound_ms => {
            ReadPlan::Local
        }
        Consistency::BoundedStaleness => ReadPlan::Forward(ForwardReason::TooStale {
            bound_ms,
            staleness_ms: replica.staleness_ms,
        }),
        Consistency::Session => match session {
            Some(pos) if pos.epoch > replica.epoch => {
                ReadPlan::Forward(ForwardReason::SessionFromNewerEpoch {
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
    use crate::group::GroupId;

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
        assert_eq!(plan_read(Strong, 0, None, leader), ReadPlan::Local);
        assert_eq!(
            plan_read(Strong, 0, None, FOLLOWER),
            ReadPlan::Forward(ForwardReason::NotLeader)
        );
        assert_eq!(
            plan_read(BoundedStaleness, 500, None, FOLLOWER),
            ReadPlan::Local
        );
        assert!(matches!(
            plan_read(BoundedStaleness, 200, None, FOLLOWER),
            ReadPlan::Forward(ForwardReason::TooStale {
                bound_ms: 200,
                staleness_ms: 300
            })
        ));
        assert_eq!(plan_read(Session, 0, None, FOLLOWER), ReadPlan::Local);
        assert_eq!(
            plan_read(Session, 0, pos(2, 100), FOLLOWER),
            ReadPlan::Local
        );
        assert_eq!(
            plan_read(Session, 0, pos(1, 150), FOLLOWER),
            ReadPlan::WaitFor(150)
        );
        assert!(matches!(
            plan_read(Session, 0, pos(3, 1), FOLLOWER),
            ReadPlan::Forward(ForwardReason::SessionFromNewerEpoch { .. })
        ));
        assert_eq!(
            plan_read(ConsistentPrefix, 0, None, FOLLOWER),
            ReadPlan::Local
        );
        assert_eq!(plan_read(Eventual, 0, pos(9, 9), FOLLOWER), ReadPlan::Local);
    }
}
