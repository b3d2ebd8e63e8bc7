//! The voter's half of the `standard` tier's fencing.
//!
//! A `standard` group has one voter and promotes its learner when the voter goes silent.
//! The promotion is safe only if the learner holds every write the voter acknowledged, and
//! only the voter knows that. So before the voter acknowledges a write that its learners do
//! not all hold (SEMI_SYNC degraded, ASYNC, or no learner at all), it records in the meta
//! group's catalog that the learners are out of sync; the learner promotes itself only when
//! the catalog says they are in sync. Both go through the same catalog record with a
//! compare-and-set, so either the promotion wins (the voter's record fails, it answers
//! `Fenced` and never acknowledges) or the out-of-sync mark wins (no promotion).
//!
//! Once every learner holds a write above everything acknowledged without them, the record
//! goes back to in sync (the failover watcher does that, see `catalog/failover.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::log_store::KeptAside;
use super::{GroupError, GroupId, LogGroup};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Writes the in-sync mark of a group's catalog record (the catalog implements it).
pub trait SyncRecorder: Send + Sync {
    /// Records whether `group`'s learners hold every acknowledged write, provided the catalog
    /// still names `region` the voter at `epoch`; otherwise fails with
    /// [`GroupError::Fenced`].
    fn record_in_sync(
        &self,
        group: GroupId,
        region: &str,
        epoch: u64,
        in_sync: bool,
    ) -> BoxFuture<'_, Result<(), GroupError>>;

    /// Succeeds only if the catalog, read linearizably, still names `region` the voter of
    /// `group` at `epoch` (a promotion must go through the same catalog); else `Fenced`.
    fn confirm_voter(
        &self,
        group: GroupId,
        region: &str,
        epoch: u64,
    ) -> BoxFuture<'_, Result<(), GroupError>>;
}

#[derive(Default)]
struct SyncState {
    /// What the catalog says for this voter's epoch, as far as it knows (None: not yet read).
    recorded_in_sync: Option<bool>,
    /// Highest index acknowledged without every learner holding it.
    max_unconfirmed: u64,
}

/// Entries a stepped-aside voter held that its successor never received.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Superseded {
    /// The epoch that superseded them.
    pub epoch: u64,
    #[serde(flatten)]
    pub kept: KeptAside,
}

pub(super) struct Fence {
    recorder: OnceLock<Arc<dyn SyncRecorder>>,
    /// Held across a catalog write, so an acknowledgement never slips between reading the
    /// state and recording it.
    state: tokio::sync::Mutex<SyncState>,
    /// Highest index that every learner held when it was acknowledged.
    max_confirmed: AtomicU64,
    /// The catalog epoch this replica last saw for its group.
    epoch: AtomicU64,
    pub(super) superseded: Mutex<Vec<Superseded>>,
}

impl Fence {
    pub(super) fn new(superseded: Vec<Superseded>) -> Fence {
        Fence {
            recorder: OnceLock::new(),
            state: tokio::sync::Mutex::new(SyncState::default()),
            max_confirmed: AtomicU64::new(0),
            epoch: AtomicU64::new(1),
            superseded: Mutex::new(superseded),
        }
    }
}

impl LogGroup {
    /// The catalog that fences this `standard` group, once the node connected it.
    pub(super) fn sync_recorder(&self) -> Option<&Arc<dyn SyncRecorder>> {
        self.fence.recorder.get()
    }

    /// Connects the group to the catalog that fences it (the node does this at start).
    pub fn set_sync_recorder(&self, recorder: Arc<dyn SyncRecorder>) {
        let _ = self.fence.recorder.set(recorder);
    }

    /// The group's epoch: 1 until its first promotion, then the catalog's.
    pub fn epoch(&self) -> u64 {
        self.fence.epoch.load(Ordering::Acquire)
    }

    pub(super) fn set_epoch(&self, epoch: u64) {
        self.fence.epoch.store(epoch, Ordering::Release);
    }

    /// Called by the ack path of a fenced group once `index` is acknowledged per policy.
    pub(super) async fn fence_ack(&self, index: u64) -> Result<(), GroupError> {
        let learners = self.other_learners();
        if !learners.is_empty() && self.confirmed(&learners, index) as usize == learners.len() {
            self.fence.max_confirmed.fetch_max(index, Ordering::AcqRel);
            return Ok(());
        }
        let Some(recorder) = self.fence.recorder.get() else {
            // no catalog (an in-process group): nothing can be promoted over this one
            return Ok(());
        };
        let mut st = self.fence.state.lock().await;
        if st.recorded_in_sync != Some(false) {
            recorder
                .record_in_sync(self.id, &self.region, self.epoch(), false)
                .await?;
            tracing::warn!(group = %self.id, index, "learners out of sync: recorded in the catalog; no promotion until they catch up");
            st.recorded_in_sync = Some(false);
        }
        st.max_unconfirmed = st.max_unconfirmed.max(index);
        Ok(())
    }

    /// What the catalog says about this voter's learners, read by the failover watcher. The
    /// first reading after a start is taken as is; an out-of-sync mark then covers the whole
    /// log, since what was acknowledged before the restart is unknown.
    pub async fn note_catalog_in_sync(&self, in_sync: bool) {
        let mut st = self.fence.state.lock().await;
        if st.recorded_in_sync.is_none() {
            st.recorded_in_sync = Some(in_sync);
            if !in_sync {
                st.max_unconfirmed = st.max_unconfirmed.max(self.last_index());
            }
        }
    }

    /// Marks the learners in sync again once they hold a write above everything acknowledged
    /// without them. Returns whether it did.
    pub async fn restore_in_sync(&self) -> Result<bool, GroupError> {
        let Some(recorder) = self.fence.recorder.get() else {
            return Ok(false);
        };
        let mut st = self.fence.state.lock().await;
        if st.recorded_in_sync != Some(false)
            || self.fence.max_confirmed.load(Ordering::Acquire) <= st.max_unconfirmed
        {
            return Ok(false);
        }
        recorder
            .record_in_sync(self.id, &self.region, self.epoch(), true)
            .await?;
        st.recorded_in_sync = Some(true);
        tracing::info!(group = %self.id, "learners back in sync: recorded in the catalog");
        Ok(true)
    }

    /// The highest index the archive may take from this replica: everything applied, except
    /// on a `standard` voter whose learners are in sync, where an entry they do not hold yet
    /// may still be superseded by a promotion (it was never acknowledged) and must not reach
    /// the archive, which keeps one log for every epoch.
    pub fn archivable_index(&self) -> u64 {
        let applied = self.applied_index();
        if !self.promotes_learner {
            return applied;
        }
        let out_of_sync = self
            .fence
            .state
            .try_lock()
            .is_ok_and(|s| s.recorded_in_sync == Some(false));
        if out_of_sync {
            // no promotion can happen while the catalog says so: all of it stands
            return applied;
        }
        let learners = self.other_learners();
        if learners.is_empty() {
            return applied;
        }
        let m = self.raft().metrics();
        let b = m.borrow();
        let Some(rep) = &b.replication else {
            return 0;
        };
        learners
            .iter()
            .map(|r| {
                rep.get(&super::types::node_id(r))
                    .and_then(|l| l.as_ref())
                    .map_or(0, |l| l.index + 1)
            })
            .min()
            .unwrap_or(0)
            .min(applied)
    }

    /// The group's learners other than this replica.
    fn other_learners(&self) -> Vec<String> {
        self.spec()
            .learners
            .into_iter()
            .filter(|l| **l != *self.region)
            .collect()
    }

    /// Forgets the in-sync knowledge (a new epoch begins for this replica).
    pub(super) async fn reset_sync_state(&self) {
        *self.fence.state.lock().await = SyncState::default();
        self.fence.max_confirmed.store(0, Ordering::Release);
    }

    /// Tails this replica kept aside when it stepped aside, newest last.
    pub fn superseded(&self) -> Vec<Superseded> {
        self.fence.superseded.lock().expect("superseded").clone()
    }
}
