//! openraft's log storage on our WAL.
//!
//! Appends go to the WAL's group commit; openraft is told an append is flushed only from the
//! WAL's durability callback, so a vote or an acknowledgement never counts an entry that a
//! crash could lose. Entries wait in `pending` from the moment openraft hands them over until
//! they are durable, so readers (replication to followers, apply) see every appended entry
//! at once. The vote is its own small file (written to a temp file, fsynced, renamed), as is
//! the id of the last physically purged entry.
//!
//! Purging has two levels. openraft's `purge` (after a snapshot) is logical: the entries stay
//! until [`LogStore::purge_physical`] deletes whole sealed segments, which the group calls only
//! up to what the store has checkpointed and, with an archive, what has been archived.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError, Vote};

use super::entry_codec::{from_wal, raft_log_id, to_wal};
use super::types::{LogId, NodeId, RaftEntry, StorageError, TypeConfig};
use crate::clock::Timestamp;
use crate::util::atomic_file;
use crate::wal::{Entry, Wal, WalError};

pub(super) const VOTE_FILE: &str = "vote";
pub(super) const PURGED_FILE: &str = "purged";
const FILE_VERSION: u32 = 1;

/// Entries copied out of the log before it dropped them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeptAside {
    pub first: u64,
    pub last: u64,
    pub entries: u64,
    pub file: PathBuf,
}

#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    wal: Wal,
    dir: PathBuf,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Appended, not yet durable, in index order; tagged with their append's sequence number.
    entries: VecDeque<(u64, Entry)>,
    seq: u64,
    /// HLC of the last entry in the log: the floor for the next.
    last_hlc: Timestamp,
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(openraft::AnyError::error(e.to_string())).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(openraft::AnyError::error(e.to_string())).into()
}

/// Records in the group directory `dir`, assembled offline by a restore, that the log begins
/// after WAL index `index` (of `term`): a snapshot covers everything up to it.
pub fn record_log_start(
    dir: &std::path::Path,
    index: u64,
    term: u64,
) -> Result<(), atomic_file::AtomicFileError> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&index.to_le_bytes());
    body.extend_from_slice(&term.to_le_bytes());
    atomic_file::write(&dir.join(PURGED_FILE), FILE_VERSION, &body)
}

impl LogStore {
    /// Wraps an open WAL; `dir` holds the vote and purge marker files.
    pub fn new(wal: Wal, dir: PathBuf) -> Result<LogStore, WalError> {
        let last_hlc = match wal.last_index() {
            Some(i) => wal.read(i)?.hlc,
            None => Timestamp::ZERO,
        };
        Ok(LogStore {
            inner: Arc::new(Inner {
                wal,
                dir,
                pending: Mutex::new(Pending {
                    last_hlc,
                    ..Pending::default()
                }),
            }),
        })
    }

    pub fn wal(&self) -> &Wal {
        &self.inner.wal
    }

    /// HLC of the newest entry appended (durable or not).
    pub fn last_hlc(&self) -> Timestamp {
        self.inner.pending.lock().expect("pending").last_hlc
    }

    /// The last entry deleted from disk by a purge or a snapshot reset.
    fn purged_marker(&self) -> Result<Option<LogId>, StorageError> {
        match atomic_file::read(&self.inner.dir.join(PURGED_FILE)).map_err(read_err)? {
            None => Ok(None),
            Some((_, body)) if body.len() == 16 => {
                let index = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
                let term = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
                Ok(Some(raft_log_id(term, index)))
            }
            Some(_) => Err(read_err("purge marker file has the wrong length")),
        }
    }

    /// Index of the last entry deleted from disk (0 if none).
    pub fn purged_index(&self) -> Result<u64, StorageError> {
        Ok(self.purged_marker()?.map_or(0, |l| l.index + 1))
    }

    fn write_purged_marker(&self, id: LogId) -> Result<(), StorageError> {
        // the marker holds the WAL index (Raft index + 1)
        record_log_start(&self.inner.dir, id.index + 1, id.leader_id.term).map_err(write_err)
    }

    /// Deletes sealed segments entirely at or below `up_to`; first records the id of the
    /// last entry deleted so a restart knows where the log begins. Blocking.
    pub fn purge_physical(&self, up_to: u64) -> Result<usize, StorageError> {
        let wal = &self.inner.wal;
        let Some(end) = wal
            .sealed_segments()
            .iter()
            .map(|s| s.last_index)
            .filter(|&l| l <= up_to)
            .max()
        else {
            return Ok(0);
        };
        // keep the active segment: the WAL purges only sealed ones before it
        let term = wal.read(end).map_err(read_err)?.term;
        self.write_purged_marker(raft_log_id(term, end))?;
        wal.purge(end).map_err(write_err)
    }

    /// Before a conflicting suffix `from..` is dropped (entries a deposed leader appended but
    /// never got committed), copies it to `truncated/<first>-<last>.wal` beside the log as a
    /// sealed segment and reports it: never acknowledged, but never silently gone either.
    fn keep_aside(&self, from: u64) -> Result<(), StorageError> {
        if let Some(kept) = self.copy_suffix(from, "truncated")? {
            tracing::warn!(
                first = kept.first,
                last = kept.last,
                file = %kept.file.display(),
                "discarding an uncommitted log suffix that conflicts with the leader's; kept aside"
            );
        }
        Ok(())
    }

    /// Copies entries `from..` (durable ones) into `<subdir>/<first>-<last>.wal` beside the
    /// log, as a sealed segment that `georep` tools can read; None if there are none.
    pub(crate) fn copy_suffix(
        &self,
        from: u64,
        subdir: &str,
    ) -> Result<Option<KeptAside>, StorageError> {
        let wal = &self.inner.wal;
        let Some(last) = wal.last_index().filter(|&l| l >= from) else {
            return Ok(None);
        };
        let first = from.max(wal.first_index().unwrap_or(from));
        let entries = wal.read_range(first, last).map_err(read_err)?;
        let dir = self.inner.dir.join(subdir);
        let file = dir.join(format!("{first:020}-{last:020}.wal"));
        let bytes = crate::wal::sealed_segment_bytes(wal.group(), &entries);
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&file, bytes))
            .and_then(|_| crate::util::atomic_file::sync_dir(&dir))
            .map_err(write_err)?;
        Ok(Some(KeptAside {
            first,
            last,
            entries: entries.len() as u64,
            file,
        }))
    }

    /// Appends `entry` straight to the WAL and waits for it to be durable: for rewriting the
    /// log while no Raft instance runs over it (a promotion). Blocking.
    pub(crate) fn append_offline(&self, entry: &RaftEntry) -> Result<(), StorageError> {
        let w = {
            let mut p = self.inner.pending.lock().expect("pending");
            let w = to_wal(entry, p.last_hlc);
            p.last_hlc = w.hlc;
            w
        };
        self.inner.wal.append_blocking(vec![w]).map_err(write_err)?;
        Ok(())
    }

    /// Saves `vote` while no Raft instance runs over the log. Blocking.
    pub(crate) fn save_vote_offline(&self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let body = serde_json::to_vec(vote).map_err(write_err)?;
        atomic_file::write(&self.inner.dir.join(VOTE_FILE), FILE_VERSION, &body).map_err(write_err)
    }

    /// The saved vote, if any (while no Raft instance runs over the log).
    pub(crate) fn saved_vote(&self) -> Result<Option<Vote<NodeId>>, StorageError> {
        match atomic_file::read(&self.inner.dir.join(VOTE_FILE)).map_err(read_err)? {
            None => Ok(None),
            Some((_, body)) => serde_json::from_slice(&body).map(Some).map_err(read_err),
        }
    }

    /// Forgets the whole log, the vote and the purge marker: the replica starts over as a
    /// blank one that its leader fills by snapshot or from the start. Blocking.
    pub(crate) fn discard_all(&self) -> Result<(), StorageError> {
        {
            // The floor goes too: entries refilled from the leader must keep their own HLCs.
            let mut p = self.inner.pending.lock().expect("pending");
            p.entries.clear();
            p.last_hlc = Timestamp::ZERO;
        }
        self.inner.wal.reset(1).map_err(write_err)?;
        for name in [VOTE_FILE, PURGED_FILE] {
            match std::fs::remove_file(self.inner.dir.join(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(write_err(e)),
            }
        }
        crate::util::atomic_file::sync_dir(&self.inner.dir).map_err(write_err)
    }

    /// The HLC of the entry at WAL index `index`, durable or still pending.
    pub fn hlc_of(&self, index: u64) -> Result<Timestamp, StorageError> {
        {
            let p = self.inner.pending.lock().expect("pending");
            if let Some((_, e)) = p.entries.iter().find(|(_, e)| e.index == index) {
                return Ok(e.hlc);
            }
        }
        // not pending: durable by now (pending entries only leave once in the WAL)
        self.inner.wal.read(index).map(|e| e.hlc).map_err(read_err)
    }

    fn read_range(&self, from: u64, to: u64) -> Result<Vec<RaftEntry>, StorageError> {
        if from > to {
            return Ok(Vec::new());
        }
        // Pending first: whatever leaves `pending` afterwards is already in the WAL.
        let (pend, pend_first) = {
            let p = self.inner.pending.lock().expect("pending");
            let first = p.entries.front().map_or(u64::MAX, |(_, e)| e.index);
            let v: Vec<Entry> = p
                .entries
                .iter()
                .filter(|(_, e)| e.index >= from && e.index <= to)
                .map(|(_, e)| e.clone())
                .collect();
            (v, first)
        };
        let wal = &self.inner.wal;
        let mut out = Vec::new();
        if let (Some(first), Some(last)) = (wal.first_index(), wal.last_index()) {
            let lo = from.max(first);
            let hi = to.min(last).min(pend_first.saturating_sub(1));
            if lo <= hi {
                for e in wal.read_range(lo, hi).map_err(read_err)? {
                    out.push(from_wal(&e).map_err(read_err)?);
                }
            }
        }
        for e in &pend {
            out.push(from_wal(e).map_err(read_err)?);
        }
        Ok(out)
    }

    /// The id of the newest entry, or of the last purged one if the log is empty.
    pub(crate) fn last_log_id_or_purged(&self) -> Result<Option<LogId>, StorageError> {
        Ok(self.last_log_id()?.or(self.purged_marker()?))
    }

    fn last_log_id(&self) -> Result<Option<LogId>, StorageError> {
        if let Some((_, e)) = self.inner.pending.lock().expect("pending").entries.back() {
            return Ok(Some(raft_log_id(e.term, e.index)));
        }
        match self.inner.wal.last_index() {
            Some(i) => {
                let e = self.inner.wal.read(i).map_err(read_err)?;
                Ok(Some(raft_log_id(e.term, e.index)))
            }
            None => Ok(None),
        }
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.saturating_sub(1),
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<RaftEntry>, StorageError> {
        // Raft index i is WAL index i + 1
        let (from, to) = bounds(&range);
        let (from, to) = (from.saturating_add(1), to.saturating_add(1));
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_range(from, to))
            .await
            .map_err(read_err)?
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let purged = self.purged_marker()?;
        let last = self.last_log_id()?.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let body = serde_json::to_vec(vote).map_err(|e| {
            StorageError::from(StorageIOError::write_vote(openraft::AnyError::new(&e)))
        })?;
        let path = self.inner.dir.join(VOTE_FILE);
        tokio::task::spawn_blocking(move || atomic_file::write(&path, FILE_VERSION, &body))
            .await
            .map_err(write_err)?
            .map_err(|e| {
                StorageIOError::write_vote(openraft::AnyError::error(e.to_string())).into()
            })
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        let vote_err =
            |e: String| StorageError::from(StorageIOError::read_vote(openraft::AnyError::error(e)));
        match atomic_file::read(&self.inner.dir.join(VOTE_FILE)) {
            // A log without a vote is a restored data dir (a live replica writes its vote
            // before any entry of that term). Raft needs the vote's term to be at least the
            // log's last; voting for nobody in that term is what such a replica may do. A
            // restore from a base snapshot alone has an empty log: its purge marker is last.
            Ok(None) => Ok(self
                .last_log_id()?
                .or(self.purged_marker()?)
                .map(|last| Vote {
                    leader_id: openraft::LeaderId {
                        term: last.leader_id.term,
                        voted_for: None,
                    },
                    committed: false,
                })),
            Ok(Some((_, body))) => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| vote_err(format!("vote file: {e}"))),
            Err(e) => Err(vote_err(e.to_string())),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = RaftEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let (batch, seq) = {
            let mut p = self.inner.pending.lock().expect("pending");
            let mut floor = p.last_hlc;
            let batch: Vec<Entry> = entries
                .into_iter()
                .map(|e| {
                    let w = to_wal(&e, floor);
                    floor = w.hlc;
                    w
                })
                .collect();
            p.seq += 1;
            let seq = p.seq;
            p.last_hlc = floor;
            p.entries.extend(batch.iter().cloned().map(|e| (seq, e)));
            (batch, seq)
        };
        let inner = self.inner.clone();
        self.inner.wal.append_with(batch, move |r| {
            {
                let mut p = inner.pending.lock().expect("pending");
                while p.entries.front().is_some_and(|(s, _)| *s <= seq) {
                    p.entries.pop_front();
                }
            }
            callback.log_io_completed(r.map(|_| ()).map_err(std::io::Error::other));
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let from = log_id.index + 1;
        {
            let mut p = self.inner.pending.lock().expect("pending");
            p.entries.retain(|(_, e)| e.index < from);
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
            this.keep_aside(from)?;
            this.inner.wal.truncate(from).map_err(write_err)?;
            let floor = match from.checked_sub(1).filter(|&i| i > 0) {
                Some(i) => this
                    .read_range(i, i)?
                    .first()
                    .map(|e| to_wal(e, Timestamp::ZERO).hlc)
                    .unwrap_or(Timestamp::ZERO),
                None => Timestamp::ZERO,
            };
            let mut p = this.inner.pending.lock().expect("pending");
            if p.entries.is_empty() {
                p.last_hlc = floor;
            }
            Ok(())
        })
        .await
        .map_err(write_err)?
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Logical unless the purge passes the end of the log: that is a replica that just
        // installed a newer snapshot, whose old log is useless and must not block appends.
        let last = self.last_log_id()?;
        if last.is_none_or(|l| l.index <= log_id.index) {
            let this = self.clone();
            tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
                this.write_purged_marker(log_id)?;
                this.inner.wal.reset(log_id.index + 2).map_err(write_err)?;
                Ok(())
            })
            .await
            .map_err(write_err)??;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalOptions;

    /// A data dir restored from a base snapshot alone: no vote, no entries, a purge marker.
    /// The vote must carry the marker's term, or openraft would elect itself in an older
    /// term than its own log's and stop.
    #[tokio::test]
    async fn a_snapshot_only_restore_votes_in_the_snapshot_term() {
        let dir = tempfile::tempdir().unwrap();
        let wal_dir = dir.path().join("wal");
        std::fs::create_dir_all(&wal_dir).unwrap();
        record_log_start(dir.path(), 42, 7).unwrap();
        let (wal, _) = Wal::open(WalOptions::new(&wal_dir, 3), None).unwrap();
        let mut store = LogStore::new(wal, dir.path().to_path_buf()).unwrap();
        let vote = store.read_vote().await.unwrap().expect("a vote");
        assert_eq!(vote.leader_id.term, 7);
        assert_eq!(vote.leader_id.voted_for, None);
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(raft_log_id(7, 42)));
        assert_eq!(state.last_log_id, Some(raft_log_id(7, 42)));
    }
}
