//! Ack policies on top of Raft commit.
//!
//! Raft commits an entry once a majority of voters hold it. The ack policy may ask more
//! before the client hears "ok": SYNC waits for `min_sync_replicas` other voters (default:
//! all of them) and fails the request (503, the write stays committed) if they do not
//! confirm within `semi_sync_timeout_ms`; SEMI_SYNC waits for `min_sync_replicas` other
//! replicas, voters or learners, and after the timeout degrades to ASYNC (metric, warning)
//! until they hold the write that timed out; ASYNC answers at commit.
//! "Holds it" is openraft's matched index, which a replica reports only after its WAL
//! fsync.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::{GroupError, LogGroup};
use crate::config::AckMode;

#[derive(Clone)]
pub struct AckMetrics {
    degraded: IntGaugeVec,
    degradations: IntCounterVec,
    sync_failures: IntCounterVec,
}

impl AckMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let degraded = IntGaugeVec::new(
            Opts::new(
                "georep_semi_sync_degraded",
                "1 while a SEMI_SYNC group acknowledges on the leader alone",
            ),
            &["group"],
        )?;
        let degradations = IntCounterVec::new(
            Opts::new(
                "georep_semi_sync_degradations_total",
                "SEMI_SYNC groups that gave up waiting for replicas and degraded to ASYNC",
            ),
            &["group"],
        )?;
        let sync_failures = IntCounterVec::new(
            Opts::new(
                "georep_sync_ack_timeouts_total",
                "SYNC writes answered 503 because replicas did not confirm in time",
            ),
            &["group"],
        )?;
        registry.register(Box::new(degraded.clone()))?;
        registry.register(Box::new(degradations.clone()))?;
        registry.register(Box::new(sync_failures.clone()))?;
        Ok(AckMetrics {
            degraded,
            degradations,
            sync_failures,
        })
    }
}

/// Whether SEMI_SYNC is degraded, and the ack metrics.
#[derive(Default)]
pub(super) struct AckState {
    /// Nonzero while SEMI_SYNC acknowledges on the leader alone: the index whose wait timed
    /// out, which replicas must hold before waiting resumes.
    degraded_at: AtomicU64,
    metrics: Option<AckMetrics>,
}

impl AckState {
    pub(super) fn new(metrics: Option<AckMetrics>) -> AckState {
        AckState {
            degraded_at: AtomicU64::new(0),
            metrics,
        }
    }
}

impl LogGroup {
    /// How many of `targets` (region names) hold at least `index`, per the leader's view.
    pub(super) fn confirmed(&self, targets: &[String], index: u64) -> u32 {
        let m = self.raft().metrics();
        let b = m.borrow();
        let Some(rep) = &b.replication else { return 0 };
        targets
            .iter()
            .filter(|r| {
                rep.get(&super::types::node_id(r))
                    .and_then(|l| l.as_ref())
                    .is_some_and(|l| l.index + 1 >= index)
            })
            .count() as u32
    }

    pub(super) async fn await_ack_policy(&self, index: u64) -> Result<(), GroupError> {
        self.await_ack_wait(index).await?;
        if self.promotes_learner {
            self.fence_ack(index).await?;
        }
        Ok(())
    }

    async fn await_ack_wait(&self, index: u64) -> Result<(), GroupError> {
        let spec = self.spec();
        let (targets, required) = self.ack_targets();
        let group = self.id.to_string();
        let degraded_at = self.ack.degraded_at.load(Ordering::Acquire);
        let caught_up = degraded_at > 0 && self.confirmed(&targets, degraded_at) >= required;
        match before_wait(spec.ack.mode, required, degraded_at, caught_up) {
            Before::Answer => return Ok(()),
            Before::Wait => {}
            Before::RecoverThenWait => {
                self.ack.degraded_at.store(0, Ordering::Release);
                if let Some(m) = &self.ack.metrics {
                    m.degraded.with_label_values(&[&group]).set(0);
                }
                tracing::warn!(group = %self.id, "SEMI_SYNC recovered: replicas caught up");
            }
        }
        let started = Instant::now();
        let mut rx = self.raft().metrics();
        // in time or not, the count after the wait decides (`after_wait`)
        let _in_time = tokio::time::timeout(spec.ack.semi_sync_timeout, async {
            loop {
                // a membership change may remove a replica while this write waits
                let (targets, required) = self.ack_targets();
                if self.confirmed(&targets, index) >= required {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let (targets, required) = self.ack_targets();
        let confirmed = self.confirmed(&targets, index);
        match after_wait(spec.ack.mode, confirmed, required) {
            After::Acknowledge => Ok(()),
            After::Fail => {
                if let Some(m) = &self.ack.metrics {
                    m.sync_failures.with_label_values(&[&group]).inc();
                }
                Err(GroupError::SyncReplicasUnavailable {
                    index,
                    confirmed,
                    required,
                    waited_ms: started.elapsed().as_millis() as u64,
                })
            }
            After::Degrade => {
                if self.ack.degraded_at.swap(index, Ordering::AcqRel) == 0 {
                    tracing::warn!(
                        group = %self.id,
                        confirmed,
                        required,
                        "SEMI_SYNC degraded to ASYNC: replicas did not confirm within {:?}",
                        spec.ack.semi_sync_timeout
                    );
                    if let Some(m) = &self.ack.metrics {
                        m.degraded.with_label_values(&[&group]).set(1);
                        m.degradations.with_label_values(&[&group]).inc();
                    }
                }
                Ok(())
            }
        }
    }

    /// The replicas whose durability the ack policy counts, and how many of them it needs.
    /// A replica a membership change removed is no longer replicated to: it does not count.
    fn ack_targets(&self) -> (Vec<String>, u32) {
        let spec = self.spec();
        let members = self.member_ids();
        let others = |v: &[String]| -> Vec<String> {
            v.iter()
                .filter(|r| **r != *self.region && members.contains(&super::types::node_id(r)))
                .cloned()
                .collect()
        };
        let targets = match spec.ack.mode {
            AckMode::Async => Vec::new(),
            AckMode::Sync => others(&spec.voters),
            AckMode::SemiSync => {
                let mut t = others(&spec.voters);
                t.extend(others(&spec.learners));
                t
            }
        };
        let required = (spec.ack.min_sync_replicas as usize).min(targets.len()) as u32;
        (targets, required)
    }

    pub fn is_degraded(&self) -> bool {
        self.ack.degraded_at.load(Ordering::Acquire) > 0
    }
}

/// What a committed write does before waiting for replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Before {
    /// Acknowledge now: ASYNC, nobody to wait for, or SEMI_SYNC still degraded.
    Answer,
    Wait,
    /// SEMI_SYNC was degraded and the replicas now hold the write that timed out: leave the
    /// degraded state, then wait as usual.
    RecoverThenWait,
}

/// `degraded_at` is the index whose wait timed out (0: not degraded); `caught_up` whether
/// `required` replicas hold it now.
pub(super) fn before_wait(
    mode: AckMode,
    required: u32,
    degraded_at: u64,
    caught_up: bool,
) -> Before {
    if mode == AckMode::Async || required == 0 {
        return Before::Answer;
    }
    match (mode, degraded_at > 0, caught_up) {
        (AckMode::SemiSync, true, false) => Before::Answer,
        (AckMode::SemiSync, true, true) => Before::RecoverThenWait,
        _ => Before::Wait,
    }
}

/// What the write's answer is once the wait ended, in time or not: replicas that confirmed
/// as the timer fired satisfy the policy as well as earlier ones (failing such a write would
/// invite a retry of a write that is already everywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    Acknowledge,
    /// SYNC: 503, the write stays committed.
    Fail,
    /// SEMI_SYNC: acknowledge, and acknowledge on the leader alone until the replicas catch up.
    Degrade,
}

pub(super) fn after_wait(mode: AckMode, confirmed: u32, required: u32) -> After {
    if confirmed >= required {
        return After::Acknowledge;
    }
    match mode {
        AckMode::Sync => After::Fail,
        AckMode::SemiSync => After::Degrade,
        // ASYNC never waits; were it asked, the write is committed
        AckMode::Async => After::Acknowledge,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AckMode::{Async, SemiSync, Sync};

    #[test]
    fn before_the_wait() {
        assert_eq!(before_wait(Async, 2, 0, false), Before::Answer);
        assert_eq!(
            before_wait(Sync, 0, 0, false),
            Before::Answer,
            "no replica to wait for"
        );
        assert_eq!(before_wait(Sync, 1, 0, false), Before::Wait);
        // SYNC has no degraded state, whatever the counter says
        assert_eq!(before_wait(Sync, 1, 7, false), Before::Wait);
        assert_eq!(before_wait(SemiSync, 1, 0, false), Before::Wait);
        assert_eq!(
            before_wait(SemiSync, 1, 7, false),
            Before::Answer,
            "still degraded"
        );
        assert_eq!(before_wait(SemiSync, 1, 7, true), Before::RecoverThenWait);
    }

    #[test]
    fn after_the_wait() {
        for mode in [Sync, SemiSync] {
            assert_eq!(after_wait(mode, 2, 2), After::Acknowledge);
            assert_eq!(after_wait(mode, 3, 2), After::Acknowledge);
        }
        assert_eq!(after_wait(Sync, 1, 2), After::Fail);
        assert_eq!(after_wait(SemiSync, 0, 1), After::Degrade);
        assert_eq!(after_wait(Async, 0, 1), After::Acknowledge);
    }
}
