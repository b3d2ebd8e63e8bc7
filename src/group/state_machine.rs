//! openraft's state machine on the store.
//!
//! Committed entries are applied in one redb transaction per batch, without fsync; the
//! node's checkpointer makes them durable every `checkpoint_interval_ms`, and after a crash
//! openraft re-applies from the store's durable applied index (apply is idempotent by index).
//!
//! Snapshots: the store itself is the persistent snapshot, so building one records only its
//! position (openraft then purges the log behind it, logically). The bytes are produced when a
//! lagging replica needs them, from one consistent read of the store, and installed on the
//! replica in one durable transaction.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use tokio::sync::watch;

use super::entry_codec::{raft_log_id, to_wal};
use super::types::{LogId, RaftEntry, Response, StorageError, StoredMembership, TypeConfig};
use crate::clock::{Hlc, Timestamp};
use crate::store::{GROUP_COLLECTION, SnapshotHead, Store};
use crate::wal::Entry;

#[derive(Clone)]
pub struct StateMachine {
    group: u32,
    store: Arc<Store>,
    clock: Arc<Hlc>,
    /// Index and HLC of the last applied entry (what reads wait on).
    applied: watch::Sender<(u64, Timestamp)>,
    /// False while openraft starts: it asks for the current snapshot only for its position
    /// then, and exporting the whole store for that would be waste.
    serve_data: Arc<AtomicBool>,
    /// Bumped when an applied entry writes the group's settings ([`GROUP_COLLECTION`]).
    config_version: Arc<AtomicU64>,
}

/// Does this encoded command write to the group's settings collection? (A put or delete
/// starts with its tag, then the collection as a length-prefixed string.)
fn touches_group_settings(command: &[u8]) -> bool {
    let name = GROUP_COLLECTION.as_bytes();
    command.len() > 2 + name.len()
        && command[1] as usize == name.len()
        && &command[2..2 + name.len()] == name
}

fn sm_read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_state_machine(openraft::AnyError::error(e.to_string())).into()
}

fn sm_write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(openraft::AnyError::error(e.to_string())).into()
}

impl StateMachine {
    pub fn new(
        group: u32,
        store: Arc<Store>,
        clock: Arc<Hlc>,
    ) -> Result<(StateMachine, watch::Receiver<(u64, Timestamp)>), StorageError> {
        let a = store.applied(group).map_err(sm_read_err)?;
        clock.observe_persisted(a.hlc);
        let (tx, rx) = watch::channel((a.index, a.hlc));
        Ok((
            StateMachine {
                group,
                store,
                clock,
                applied: tx,
                serve_data: Arc::new(AtomicBool::new(false)),
                config_version: Arc::new(AtomicU64::new(0)),
            },
            rx,
        ))
    }

    /// Empties the group's state (durably) and reports nothing applied: the replica starts
    /// over. Only while no Raft instance runs over this state machine.
    pub fn reset(&self) -> Result<(), StorageError> {
        self.store.clear_group(self.group).map_err(sm_write_err)?;
        self.applied.send_replace((0, Timestamp::ZERO));
        self.config_version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    pub fn config_version(&self) -> Arc<AtomicU64> {
        self.config_version.clone()
    }

    /// From now on snapshots carry their data (openraft has started).
    pub fn serve_snapshot_data(&self) {
        self.serve_data.store(true, Ordering::Release);
    }

    fn head_to_meta(
        &self,
        head: &SnapshotHead,
    ) -> Result<SnapshotMeta<u64, openraft::BasicNode>, StorageError> {
        let last =
            (head.applied.index > 0).then(|| raft_log_id(head.applied.term, head.applied.index));
        Ok(SnapshotMeta {
            last_log_id: last,
            last_membership: membership_of(head.membership.as_ref())?,
            snapshot_id: format!(
                "{}-{}-{}",
                head.applied.term, head.applied.index, head.applied.hlc.packed
            ),
        })
    }

    fn snapshot_now(&self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (head, bytes) = self
            .store
            .export_snapshot(self.group)
            .map_err(sm_read_err)?;
        Ok(Snapshot {
            meta: self.head_to_meta(&head)?,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn membership_of(
    m: Option<&crate::store::StoredMembership>,
) -> Result<StoredMembership, StorageError> {
    match m {
        None => Ok(StoredMembership::default()),
        Some(m) => {
            let body = serde_json::from_slice(&m.body).map_err(sm_read_err)?;
            Ok(StoredMembership::new(
                Some(raft_log_id(m.term, m.index)),
                body,
            ))
        }
    }
}

impl StateMachine {
    /// The applied state and membership as the store holds them now.
    async fn head(&self) -> Result<SnapshotHead, StorageError> {
        let store = self.store.clone();
        let group = self.group;
        let (applied, membership) = tokio::task::spawn_blocking(move || {
            Ok::<_, crate::store::StoreError>((store.applied(group)?, store.membership(group)?))
        })
        .await
        .map_err(sm_read_err)?
        .map_err(sm_read_err)?;
        Ok(SnapshotHead {
            applied,
            membership,
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // Only the position matters here (see the module docs); the data is made on demand.
        let head = self.head().await?;
        Ok(Snapshot {
            meta: self.head_to_meta(&head)?,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let head = self.head().await?;
        let a = head.applied;
        let last = (a.index > 0).then(|| raft_log_id(a.term, a.index));
        Ok((last, membership_of(head.membership.as_ref())?))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut floor = self.applied.borrow().1;
        let mut settings_changed = false;
        let wal_entries: Vec<Entry> = entries
            .into_iter()
            .map(|e| {
                if let EntryPayload::Normal(r) = &e.payload {
                    settings_changed |= touches_group_settings(&r.command);
                }
                let w = to_wal(&e, floor);
                if matches!(e.payload, EntryPayload::Normal(_)) {
                    floor = w.hlc;
                }
                w
            })
            .collect();
        if wal_entries.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.store.clone();
        let group = self.group;
        let (wal_entries, outcomes) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&Entry> = wal_entries.iter().collect();
            let r = store.apply_batch(group, &refs, false);
            (wal_entries, r)
        })
        .await
        .map_err(sm_write_err)?;
        let outcomes = outcomes.map_err(sm_write_err)?;
        let last = wal_entries.last().expect("non-empty");
        // Followers learn the leader's time from the log: their HLC never runs behind it.
        self.clock.observe_persisted(last.hlc);
        self.applied.send_replace((last.index, last.hlc));
        if settings_changed {
            self.config_version.fetch_add(1, Ordering::AcqRel);
        }
        Ok(wal_entries
            .iter()
            .zip(outcomes)
            .map(|(e, outcome)| Response {
                index: e.index,
                hlc: e.hlc,
                outcome,
            })
            .collect())
    }

    async fn get_snapshot_builder(&mut self) -> StateMachine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let store = self.store.clone();
        let group = self.group;
        let bytes = snapshot.into_inner();
        let head = tokio::task::spawn_blocking(move || store.install_snapshot(group, &bytes))
            .await
            .map_err(sm_write_err)?
            .map_err(|e| {
                StorageError::from(StorageIOError::write_snapshot(
                    Some(meta.signature()),
                    openraft::AnyError::error(e.to_string()),
                ))
            })?;
        tracing::info!(
            group = self.group,
            index = head.applied.index,
            snapshot = %meta.snapshot_id,
            "installed snapshot"
        );
        self.clock.observe_persisted(head.applied.hlc);
        self.applied
            .send_replace((head.applied.index, head.applied.hlc));
        self.config_version.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        if !self.serve_data.load(Ordering::Acquire) {
            let snap = self.build_snapshot().await?;
            return Ok(snap.meta.last_log_id.is_some().then_some(snap));
        }
        let this = self.clone();
        let snap = tokio::task::spawn_blocking(move || this.snapshot_now())
            .await
            .map_err(sm_read_err)??;
        Ok(snap.meta.last_log_id.is_some().then_some(snap))
    }
}
