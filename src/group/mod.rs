//! A log group: one ordered log (the WAL) and the state machine applied from it.
//!
//! ```text
//! propose ──(index, HLC under one lock)──▶ WAL group commit ──durable──▶ applier ──▶ reply
//!                                                                          │
//!                                                                     store (redb)
//! ```
//! Today every group has a single voter, the local node, so "durable in the WAL" is
//! "committed". Replication (openraft, one group per placement) takes over `propose` and
//! commitment; the WAL, the apply path and the store stay as they are.

mod applier;
mod error;
mod id;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

pub use error::GroupError;
pub use id::GroupId;

use crate::clock::{Hlc, Timestamp};
use crate::store::{ApplyOutcome, Command, Document, Precondition, Store, StoreError};
use crate::wal::{Entry, RecoveryReport, Wal, WalMetrics, WalOptions};

/// The result of a committed, applied proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub hlc: Timestamp,
    pub outcome: ApplyOutcome,
}

/// Counters for `/v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupStatus {
    pub id: String,
    pub leader: String,
    pub term: u64,
    pub epoch: u64,
    pub voters: Vec<String>,
    pub learners: Vec<String>,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub durable_index: u64,
    pub applied_index: u64,
}

pub struct GroupOptions {
    pub wal: WalOptions,
    pub checkpoint_interval: Duration,
}

pub struct LogGroup {
    id: GroupId,
    region: Arc<str>,
    term: u64,
    epoch: u64,
    clock: Arc<Hlc>,
    store: Arc<Store>,
    wal: Option<Wal>,
    next_index: Mutex<u64>,
    apply_tx: Option<mpsc::Sender<applier::ApplyJob>>,
    applied: watch::Receiver<u64>,
    /// Highest index the store holds durably (its last checkpoint).
    checkpointed: Arc<AtomicU64>,
    applier: Option<JoinHandle<()>>,
}

impl LogGroup {
    /// Opens the group's WAL, replays what the store has not applied, and starts applying.
    pub fn open(
        id: GroupId,
        region: Arc<str>,
        clock: Arc<Hlc>,
        store: Arc<Store>,
        options: GroupOptions,
        wal_metrics: Option<WalMetrics>,
    ) -> Result<(LogGroup, RecoveryReport), GroupError> {
        let (wal, report) = Wal::open(options.wal, wal_metrics)?;
        let applied = store.applied(id.0)?;
        let wal_last = wal.last_index().unwrap_or(0);
        if applied.index > wal_last {
            return Err(GroupError::WalBehindStore {
                group: id.to_string(),
                applied: applied.index,
                wal_last,
            });
        }
        if let Some(first) = wal.first_index()
            && first > applied.index + 1
        {
            return Err(GroupError::WalAheadOfStore {
                group: id.to_string(),
                applied: applied.index,
                wal_first: first,
            });
        }
        let mut highest = applied.hlc;
        let mut from = applied.index + 1;
        while from <= wal_last {
            let to = wal_last.min(from + 1023);
            let entries = wal.read_range(from, to)?;
            let refs: Vec<&Entry> = entries.iter().collect();
            store.apply_batch(id.0, &refs, false)?;
            highest = highest.max(entries.last().map_or(highest, |e| e.hlc));
            from = to + 1;
        }
        if wal_last > applied.index {
            store.checkpoint()?;
            tracing::info!(group = %id, from = applied.index + 1, to = wal_last, "replayed WAL into the store");
        }
        clock.observe_persisted(highest);
        // the store is durable up to here: either nothing needed replay, or the replay was checkpointed
        let checkpointed = Arc::new(AtomicU64::new(wal_last.max(applied.index)));

        let (apply_tx, apply_rx) = mpsc::channel();
        let (applied_tx, applied_rx) = watch::channel(wal_last);
        let store2 = store.clone();
        let every = options.checkpoint_interval;
        let checkpointed2 = checkpointed.clone();
        let applier = std::thread::Builder::new()
            .name(format!("apply-{id}"))
            .spawn(move || applier::run(id.0, store2, apply_rx, applied_tx, every, checkpointed2))
            .map_err(|e| GroupError::Failed(format!("cannot start apply thread: {e}")))?;
        Ok((
            LogGroup {
                id,
                region,
                term: 1,
                epoch: 1,
                clock,
                store,
                wal: Some(wal),
                next_index: Mutex::new(wal_last + 1),
                apply_tx: Some(apply_tx),
                applied: applied_rx,
                checkpointed,
                applier: Some(applier),
            },
            report,
        ))
    }

    pub fn id(&self) -> GroupId {
        self.id
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Appends `command` to the log. Commands whose outcome cannot depend on the state (a put
    /// without precondition, a no-op) are answered once durable; others once applied. Reads
    /// that promise freshness wait for apply ([`LogGroup::catch_up`]), as Raft's ReadIndex does,
    /// so a store checkpoint never delays a blind write's acknowledgement.
    pub async fn propose(&self, command: Command) -> Result<Committed, GroupError> {
        let (Some(wal), Some(apply_tx)) = (&self.wal, &self.apply_tx) else {
            return Err(GroupError::Closed);
        };
        // Some(is_noop) for commands whose outcome is known without the state.
        let blind = match &command {
            Command::Put {
                precondition: Precondition::None,
                ..
            } => Some(false),
            Command::Noop => Some(true),
            _ => None,
        };
        let payload = command.encode();
        let (tx, rx) = oneshot::channel();
        let (index, hlc) = {
            // One lock orders index, HLC and WAL submission identically.
            let mut next = self.next_index.lock().expect("sequencer lock");
            let index = *next;
            let hlc = self.clock.now();
            let entry = Entry {
                index,
                term: self.term,
                hlc,
                origin: self.region.clone(),
                payload,
            };
            let job_entry = entry.clone();
            let apply_tx = apply_tx.clone();
            wal.append_with(vec![entry], move |r| match r {
                Ok(_) => {
                    let reply = match blind {
                        Some(is_noop) => {
                            let outcome = if is_noop {
                                ApplyOutcome::Noop
                            } else {
                                ApplyOutcome::Written { version: index }
                            };
                            let _ = tx.send(Ok(outcome));
                            None
                        }
                        None => Some(tx),
                    };
                    if let Err(mpsc::SendError(job)) = apply_tx.send(applier::ApplyJob {
                        entry: job_entry,
                        reply,
                    }) && let Some(reply) = job.reply
                    {
                        let _ = reply.send(Err(GroupError::Closed));
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(GroupError::Wal(e)));
                }
            });
            *next += 1;
            (index, hlc)
        };
        let outcome = rx.await.map_err(|_| GroupError::Closed)??;
        Ok(Committed {
            index,
            hlc,
            outcome,
        })
    }

    pub fn get(&self, collection: &str, key: &str) -> Result<Option<Document>, StoreError> {
        self.store.get(self.id.0, collection, key)
    }

    pub fn list(
        &self,
        collection: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        self.store
            .list(self.id.0, collection, prefix, start_after, limit)
    }

    pub fn applied_index(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Highest index acknowledged as durable (every acknowledged write is at or below it).
    pub fn durable_index(&self) -> u64 {
        self.wal.as_ref().map_or(0, Wal::durable_index)
    }

    /// Waits until every write acknowledged so far is applied: what a linearizable read on
    /// the leader needs. False on timeout.
    pub async fn catch_up(&self, timeout: Duration) -> bool {
        self.wait_applied(self.durable_index(), timeout).await
    }

    /// How far the applied state trails the log, in milliseconds of HLC time (0 if caught up).
    pub fn apply_lag_ms(&self, now_ms: u64) -> u64 {
        let applied = self.applied_index();
        if applied >= self.durable_index() {
            return 0;
        }
        self.wal
            .as_ref()
            .and_then(|w| w.read(applied + 1).ok())
            .map_or(0, |e| now_ms.saturating_sub(e.hlc.physical_ms()))
    }

    /// Waits until the applied index reaches `index`; false on timeout.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.clone();
        tokio::time::timeout(timeout, rx.wait_for(|&a| a >= index))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Deletes sealed WAL segments at or below both `up_to` and the store's last durable
    /// checkpoint, so recovery never needs what is gone. Callers pass the archived index when
    /// an archive is configured: nothing unarchived is ever purged. Returns segments removed.
    pub fn purge_upto(&self, up_to: u64) -> Result<usize, crate::wal::WalError> {
        let limit = up_to.min(self.checkpointed.load(Ordering::Acquire));
        match &self.wal {
            Some(wal) if limit > 0 => wal.purge(limit),
            _ => Ok(0),
        }
    }

    pub fn digest(&self) -> Result<[u8; 32], StoreError> {
        self.store.digest(self.id.0)
    }

    pub fn wal(&self) -> Option<&Wal> {
        self.wal.as_ref()
    }

    pub fn status(&self) -> GroupStatus {
        let wal = self.wal.as_ref();
        GroupStatus {
            id: self.id.to_string(),
            leader: self.region.to_string(),
            term: self.term,
            epoch: self.epoch,
            voters: vec![self.region.to_string()],
            learners: Vec::new(),
            first_index: wal.and_then(Wal::first_index),
            last_index: wal.and_then(Wal::last_index),
            durable_index: wal.map_or(0, Wal::durable_index),
            applied_index: self.applied_index(),
        }
    }

    pub fn data_dir_of(root: &Path, id: GroupId) -> std::path::PathBuf {
        root.join("groups").join(id.to_string())
    }
}

impl Drop for LogGroup {
    /// Flushes queued appends, lets the applier finish them, then checkpoints.
    fn drop(&mut self) {
        self.wal.take();
        self.apply_tx.take();
        if let Some(t) = self.applier.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::store::Precondition;

    fn open(dir: &Path) -> LogGroup {
        let store = Arc::new(Store::open(&dir.join("store.redb")).unwrap());
        let options = GroupOptions {
            wal: WalOptions {
                segment_bytes: 64 << 10,
                ..WalOptions::new(dir.join("wal"), 1)
            },
            checkpoint_interval: Duration::from_millis(50),
        };
        let clock = Arc::new(Hlc::new(1, 500));
        LogGroup::open(GroupId(1), Arc::from("r1"), clock, store, options, None)
            .unwrap()
            .0
    }

    fn put(key: &str, value: &str) -> Command {
        Command::Put {
            collection: "c".into(),
            key: key.into(),
            value: Bytes::from(value.to_string()),
            content_type: None,
            precondition: Precondition::None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_proposals_apply_in_log_order_and_the_wal_alone_rebuilds_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let group = Arc::new(open(dir.path()));
        let mut tasks = Vec::new();
        for t in 0..8 {
            let g = group.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..50 {
                    let key = format!("k{t}-{i}");
                    let c = g.propose(put(&key, &key)).await.unwrap();
                    assert_eq!(c.outcome, ApplyOutcome::Written { version: c.index });
                    out.push((key, c.index));
                }
                out
            }));
        }
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        assert!(
            group.catch_up(Duration::from_secs(5)).await,
            "blind puts are answered at durability; apply follows"
        );
        assert_eq!(group.applied_index(), 400);
        let digest = group.digest().unwrap();
        drop(Arc::into_inner(group).expect("sole owner"));

        // Lose the whole store: everything must be rebuilt from the WAL alone.
        std::fs::remove_file(dir.path().join("store.redb")).unwrap();
        let group = open(dir.path());
        assert_eq!(group.applied_index(), 400);
        assert_eq!(group.digest().unwrap(), digest);
        for (key, version) in acked {
            assert_eq!(group.get("c", &key).unwrap().unwrap().version, version);
        }
        let c = group.propose(put("after", "x")).await.unwrap();
        assert_eq!(c.index, 401);
    }

    #[tokio::test]
    async fn store_ahead_of_wal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let group = open(dir.path());
            group.propose(put("a", "1")).await.unwrap();
        }
        std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
        let store = Arc::new(Store::open(&dir.path().join("store.redb")).unwrap());
        let options = GroupOptions {
            wal: WalOptions::new(dir.path().join("wal"), 1),
            checkpoint_interval: Duration::from_millis(50),
        };
        let clock = Arc::new(Hlc::new(1, 500));
        let err = LogGroup::open(GroupId(1), Arc::from("r1"), clock, store, options, None)
            .err()
            .expect("refused");
        assert!(
            matches!(
                err,
                GroupError::WalBehindStore {
                    applied: 1,
                    wal_last: 0,
                    ..
                }
            ),
            "{err}"
        );
    }
}
