//! Read admission: runs the consistency table's plan against one replica and says at what
//! staleness, and how, the read is served here, or why it is refused. The replica is a seam
//! (`ReadReplica`), implemented by the log group, so the waits are tested without one.

use std::time::Duration;

use super::route::{ReadPlan, ReplicaView, plan_read};
use super::{Consistency, ReadRefusal};
use crate::ids::GroupId;
use crate::session::GroupPosition;

/// What admission needs from a replica of one log group.
pub trait ReadReplica {
    fn group_id(&self) -> GroupId;
    /// What the replica knows now (`now_ms` on the node's wall clock).
    fn view(&self, now_ms: u64) -> ReplicaView;
    /// Returns once everything committed before the call is applied here (ReadIndex).
    fn read_barrier(&self, within: Duration) -> impl Future<Output = Result<(), String>> + Send;
    /// Waits until the applied index reaches `index`; false after `within`.
    fn wait_applied(&self, index: u64, within: Duration) -> impl Future<Output = bool> + Send;
}

/// How an admitted read is served (the `georep_reads_total{served}` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the local store as it is.
    Local,
    /// After a ReadIndex round.
    ReadIndex,
    /// After waiting for the session's index.
    Waited,
}

impl Served {
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Local => "local",
            Served::ReadIndex => "read_index",
            Served::Waited => "waited",
        }
    }
}

/// An admitted read: serve it here, reporting this staleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub staleness_ms: u64,
    pub served: Served,
}

/// What a read asks for, with the collection's defaults already applied.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest {
    pub level: Consistency,
    pub bound_ms: u64,
    pub session: Option<GroupPosition>,
}

/// How long admission may wait.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    /// For a ReadIndex round.
    pub barrier: Duration,
    /// For a session's index to be applied.
    pub session: Duration,
}

/// Admits `req` on `replica` or says why not.
pub async fn admit<R: ReadReplica>(
    req: ReadRequest,
    replica: &R,
    now_ms: impl Fn() -> u64,
    waits: Waits,
) -> Result<Admitted, ReadRefusal> {
    let view = replica.view(now_ms());
    match plan_read(req.level, req.bound_ms, req.session, view) {
        ReadPlan::Local => Ok(Admitted {
            staleness_ms: view.staleness_ms,
            served: Served::Local,
        }),
        ReadPlan::Barrier => match replica.read_barrier(waits.barrier).await {
            Ok(()) => Ok(Admitted {
                staleness_ms: 0,
                served: Served::ReadIndex,
            }),
            Err(reason) if req.level == Consistency::BoundedStaleness => {
                Err(ReadRefusal::StalenessExceeded {
                    bound_ms: req.bound_ms,
                    actual_ms: view.staleness_ms,
                    reason,
                })
            }
            Err(reason) => Err(ReadRefusal::NoLeader {
                group: replica.group_id(),
                waited_ms: waits.barrier.as_millis() as u64,
                reason,
            }),
        },
        ReadPlan::WaitFor(index) => {
            if replica.wait_applied(index, waits.session).await {
                Ok(Admitted {
                    staleness_ms: replica.view(now_ms()).staleness_ms,
                    served: Served::Waited,
                })
            } else {
                Err(ReadRefusal::SessionNotCaughtUp {
                    group: replica.group_id(),
                    applied: replica.view(now_ms()).applied_index,
                    needed: index,
                    waited_ms: waits.session.as_millis() as u64,
                })
            }
        }
        ReadPlan::Refuse(r) => Err(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A replica whose barrier succeeds or fails as told and whose index moves when told.
    struct Scripted {
        view: Mutex<ReplicaView>,
        barrier: Result<(), String>,
        /// The applied index after a wait (None: the wait times out).
        after_wait: Option<u64>,
    }

    impl ReadReplica for Scripted {
        fn group_id(&self) -> GroupId {
            GroupId(7)
        }
        fn view(&self, _now_ms: u64) -> ReplicaView {
            *self.view.lock().unwrap()
        }
        async fn read_barrier(&self, _within: Duration) -> Result<(), String> {
            self.barrier.clone()
        }
        async fn wait_applied(&self, index: u64, _within: Duration) -> bool {
            match self.after_wait {
                Some(a) => {
                    let mut v = self.view.lock().unwrap();
                    v.applied_index = a;
                    v.staleness_ms = 5;
                    a >= index
                }
                None => false,
            }
        }
    }

    fn replica(barrier: Result<(), String>, after_wait: Option<u64>) -> Scripted {
        Scripted {
            view: Mutex::new(ReplicaView {
                is_leader: false,
                epoch: 1,
                applied_index: 10,
                staleness_ms: 400,
            }),
            barrier,
            after_wait,
        }
    }

    const WAITS: Waits = Waits {
        barrier: Duration::from_millis(1000),
        session: Duration::from_millis(250),
    };

    fn req(level: Consistency, bound_ms: u64, index: Option<u64>) -> ReadRequest {
        ReadRequest {
            level,
            bound_ms,
            session: index.map(|index| GroupPosition {
                group: GroupId(7),
                epoch: 1,
                index,
            }),
        }
    }

    async fn run(r: ReadRequest, rep: &Scripted) -> Result<Admitted, ReadRefusal> {
        admit(r, rep, || 0, WAITS).await
    }

    #[tokio::test]
    async fn plans_are_run_and_refusals_are_typed() {
        use Consistency::*;
        let ok = replica(Ok(()), Some(20));
        let down = replica(Err("no leader".into()), None);
        assert_eq!(
            run(req(Eventual, 0, None), &ok).await,
            Ok(Admitted {
                staleness_ms: 400,
                served: Served::Local
            })
        );
        assert_eq!(
            run(req(Strong, 0, None), &ok).await.unwrap().served,
            Served::ReadIndex
        );
        let e = run(req(Strong, 0, None), &down).await.unwrap_err();
        assert!(matches!(
            &e,
            ReadRefusal::NoLeader { group: GroupId(7), waited_ms: 1000, reason } if reason == "no leader"
        ));
        assert_eq!(
            (e.code(), e.status(), e.forwardable()),
            ("consistency_unavailable", 503, true)
        );
        // within the bound: served as it is; past it: caught up, or refused with both numbers
        assert_eq!(
            run(req(BoundedStaleness, 500, None), &down)
                .await
                .unwrap()
                .served,
            Served::Local
        );
        assert_eq!(
            run(req(BoundedStaleness, 100, None), &ok).await.unwrap(),
            Admitted {
                staleness_ms: 0,
                served: Served::ReadIndex
            }
        );
        let e = run(req(BoundedStaleness, 100, None), &down)
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            ReadRefusal::StalenessExceeded {
                bound_ms: 100,
                actual_ms: 400,
                ..
            }
        ));
        // a session ahead of this replica: served after the wait, at the staleness then
        assert_eq!(
            run(req(Session, 0, Some(15)), &ok).await.unwrap(),
            Admitted {
                staleness_ms: 5,
                served: Served::Waited
            }
        );
        let e = run(req(Session, 0, Some(15)), &down).await.unwrap_err();
        assert_eq!(
            e,
            ReadRefusal::SessionNotCaughtUp {
                group: GroupId(7),
                applied: 10,
                needed: 15,
                waited_ms: 250
            }
        );
        assert_eq!(e.code(), "session_not_caught_up");
        assert!(e.to_string().contains("index 15"), "{e}");
    }
}
