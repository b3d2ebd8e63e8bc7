//! The write-ahead log of one log group: the durable, ordered source of truth that the
//! store is applied from and that later layers replicate and archive.
//!
//! Guarantees:
//! - an append's callback reports success only after its bytes are fdatasync'ed;
//! - indexes are contiguous; an append that does not continue the log is rejected;
//! - after any crash, [`Wal::open`] returns every acknowledged entry, discards only a torn
//!   final write, and refuses (naming segment and offset) any other damage;
//! - after an I/O error the log is poisoned and refuses writes instead of guessing.
//!
//! Segment files are sealed by size ([`WalOptions::segment_bytes`]) or age
//! ([`WalOptions::segment_age`]); sealed segments are what the archiver ships.

mod entry;
mod error;
mod frame;
mod index;
mod metrics;
mod recovery;
mod segment;
mod writer;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub use entry::Entry;
pub use error::WalError;
pub use metrics::WalMetrics;
pub use recovery::{RecoveryReport, TornTail};

pub use entry::decode_record;
use index::LogIndex;
use writer::{Request, Writer};

pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
pub const DEFAULT_SEGMENT_AGE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct WalOptions {
    pub dir: PathBuf,
    /// Log group id, stamped in every segment header.
    pub group: u32,
    pub segment_bytes: u64,
    pub segment_age: Duration,
    /// Upper bound on one group-commit write.
    pub max_batch_bytes: usize,
}

impl WalOptions {
    pub fn new(dir: impl Into<PathBuf>, group: u32) -> Self {
        Self {
            dir: dir.into(),
            group,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_age: DEFAULT_SEGMENT_AGE,
            max_batch_bytes: 8 << 20,
        }
    }
}

/// A sealed segment, ready to archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSegment {
    pub path: PathBuf,
    pub first_index: u64,
    pub last_index: u64,
}

pub(crate) struct Shared {
    options: WalOptions,
    index: RwLock<LogIndex>,
    durable: AtomicU64,
    poisoned: Mutex<Option<String>>,
    metrics: Option<WalMetrics>,
}

pub struct Wal {
    shared: Arc<Shared>,
    tx: Option<Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
}

impl Wal {
    /// Opens (recovering) or creates the WAL in `options.dir`.
    pub fn open(
        options: WalOptions,
        metrics: Option<WalMetrics>,
    ) -> Result<(Wal, RecoveryReport), WalError> {
        let (index, report) = recovery::recover(&options.dir, options.group)?;
        if let Some(torn) = &report.torn_tail {
            tracing::warn!(
                segment = %torn.segment.display(),
                offset = torn.offset,
                bytes = torn.discarded_bytes,
                "discarded the torn tail of an unacknowledged write"
            );
        }
        let durable = index.last_index().unwrap_or(0);
        let shared = Arc::new(Shared {
            options,
            index: RwLock::new(index),
            durable: AtomicU64::new(durable),
            poisoned: Mutex::new(None),
            metrics,
        });
        let (tx, rx) = mpsc::channel();
        let (notify_tx, notify_rx) = mpsc::channel();
        let (prep_tx, prep_rx) = mpsc::channel();
        let (prepared_tx, prepared_rx) = mpsc::channel();
        let writer = Writer::new(shared.clone(), notify_tx, prep_tx, prepared_rx);
        let group = shared.options.group;
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(|e| WalError::io(&shared.options.dir, "spawn WAL thread", e))
        };
        let threads = vec![
            spawn(
                format!("wal-writer-{group}"),
                Box::new(move || writer.run(rx)),
            )?,
            spawn(
                format!("wal-notify-{group}"),
                Box::new(move || writer::run_notifier(notify_rx)),
            )?,
            spawn(
                format!("wal-prep-{group}"),
                Box::new(move || writer::run_preparer(prep_rx, prepared_tx)),
            )?,
        ];
        Ok((
            Wal {
                shared,
                tx: Some(tx),
                threads,
            },
            report,
        ))
    }

    /// The log group this WAL belongs to (stamped in every segment header).
    pub fn group(&self) -> u32 {
        self.shared.options.group
    }

    pub fn dir(&self) -> &Path {
        &self.shared.options.dir
    }

    /// Queues `entries` for the next group commit; `done` runs (on the WAL's notifier thread,
    /// in append order) with the last index once they are durable, or with the error.
    /// `done` must not block: hand work to another thread.
    pub fn append_with(
        &self,
        entries: Vec<Entry>,
        done: impl FnOnce(Result<u64, WalError>) + Send + 'static,
    ) {
        let done: writer::Callback = Box::new(done);
        if let Some(reason) = self.poison_reason() {
            return done(Err(WalError::Poisoned { reason }));
        }
        let Some(tx) = &self.tx else {
            return done(Err(WalError::Closed));
        };
        if let Err(mpsc::SendError(request)) = tx.send(Request::Append { entries, done })
            && let Request::Append { done, .. } = request
        {
            done(Err(WalError::Closed));
        }
    }

    /// Appends and waits (async) until the entries are durable.
    pub async fn append(&self, entries: Vec<Entry>) -> Result<u64, WalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.append_with(entries, move |r| {
            let _ = tx.send(r);
        });
        rx.await.unwrap_or(Err(WalError::Closed))
    }

    /// Appends and blocks the calling thread until the entries are durable.
    pub fn append_blocking(&self, entries: Vec<Entry>) -> Result<u64, WalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.append_with(entries, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    pub fn first_index(&self) -> Option<u64> {
        self.read_index().first_index()
    }

    pub fn last_index(&self) -> Option<u64> {
        self.read_index().last_index()
    }

    /// Highest index known to be on stable storage.
    pub fn durable_index(&self) -> u64 {
        self.shared.durable.load(Ordering::Acquire)
    }

    pub fn read(&self, index: u64) -> Result<Entry, WalError> {
        let mut v = self.read_range(index, index)?;
        v.pop().ok_or(WalError::OutOfRange {
            index,
            first: self.first_index(),
            last: self.last_index(),
        })
    }

    /// Entries `from..=to`, each verified against its checksum.
    pub fn read_range(&self, from: u64, to: u64) -> Result<Vec<Entry>, WalError> {
        let mut out = Vec::with_capacity(to.saturating_sub(from).saturating_add(1) as usize);
        let mut next = from;
        while next <= to {
            let (file, path, span, offsets) = {
                let index = self.read_index();
                let k = index.position_of(next).ok_or(WalError::OutOfRange {
                    index: next,
                    first: index.first_index(),
                    last: index.last_index(),
                })?;
                let seg = &index.segments[k];
                let last = to.min(seg.last_index().expect("segment holds next"));
                let (begin, _) = seg.record_span(next);
                let (_, end) = seg.record_span(last);
                let i = (next - seg.start) as usize;
                let j = (last - seg.start) as usize;
                (
                    seg.file.clone(),
                    seg.path.clone(),
                    (begin, end),
                    seg.records[i..=j].to_vec(),
                )
            };
            let mut buf = vec![0u8; (span.1 - span.0) as usize];
            file.read_exact_at(&mut buf, span.0)
                .map_err(|e| WalError::io(&path, "read", e))?;
            for offset in offsets {
                let at = (offset - span.0) as usize;
                let (entry, _) = decode_record(&buf[at..]).map_err(|e| WalError::Corrupt {
                    segment: path.clone(),
                    offset,
                    reason: format!("entry {next}: {e}"),
                })?;
                if entry.index != next {
                    return Err(WalError::Corrupt {
                        segment: path.clone(),
                        offset,
                        reason: format!("record holds index {}, expected {next}", entry.index),
                    });
                }
                out.push(entry);
                next += 1;
            }
        }
        Ok(out)
    }

    /// Removes entries `from..` (a Raft follower discarding a conflicting suffix).
    pub fn truncate(&self, from: u64) -> Result<(), WalError> {
        self.control(|done| Request::Truncate { from, done })
    }

    /// Deletes sealed segments entirely at or below `up_to`; returns how many.
    pub fn purge(&self, up_to: u64) -> Result<usize, WalError> {
        self.control(|done| Request::Purge { up_to, done })
    }

    /// Discards the whole log; the next append must be `next` (after a snapshot install).
    pub fn reset(&self, next: u64) -> Result<(), WalError> {
        self.control(|done| Request::Reset { next, done })
    }

    /// Seals the active segment now (it becomes archivable).
    pub fn seal(&self) -> Result<(), WalError> {
        self.control(|done| Request::Seal { done })
    }

    /// Bytes of log (records and frame overhead) holding entries after `index`, durable or
    /// not: how much an archive at `index` is behind.
    pub fn bytes_after(&self, index: u64) -> u64 {
        self.read_index()
            .segments
            .iter()
            .map(|s| match s.last_index() {
                Some(last) if last > index => {
                    let from = if s.contains(index + 1) {
                        s.record_span(index + 1).0
                    } else {
                        s.records[0]
                    };
                    s.data_end.saturating_sub(from)
                }
                _ => 0,
            })
            .sum()
    }

    pub fn sealed_segments(&self) -> Vec<SealedSegment> {
        self.read_index()
            .segments
            .iter()
            .filter(|s| s.sealed)
            .filter_map(|s| {
                Some(SealedSegment {
                    path: s.path.clone(),
                    first_index: s.start,
                    last_index: s.last_index()?,
                })
            })
            .collect()
    }

    fn control<T>(
        &self,
        make: impl FnOnce(mpsc::SyncSender<Result<T, WalError>>) -> Request,
    ) -> Result<T, WalError> {
        let tx = self.tx.as_ref().ok_or(WalError::Closed)?;
        let (done, rx) = mpsc::sync_channel(1);
        tx.send(make(done)).map_err(|_| WalError::Closed)?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    fn poison_reason(&self) -> Option<String> {
        self.shared.poisoned.lock().expect("poison lock").clone()
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, LogIndex> {
        self.shared.index.read().expect("WAL index lock")
    }
}

/// A complete sealed segment file holding exactly `entries` (contiguous, non-empty) of
/// `group`: what the archiver uploads when the archive already holds the start of a local
/// segment (segment boundaries differ between replicas) and only its tail is new.
pub fn sealed_segment_bytes(group: u32, entries: &[Entry]) -> Vec<u8> {
    let first = entries.first().map_or(1, |e| e.index);
    let last = entries.last().map_or(0, |e| e.index);
    let mut buf = Vec::with_capacity(
        segment::HEADER_LEN + 64 + entries.iter().map(Entry::encoded_len).sum::<usize>(),
    );
    buf.extend_from_slice(&segment::SegmentHeader::new(group, first).encode());
    let at = frame::begin(&mut buf);
    for e in entries {
        e.encode_record(&mut buf);
    }
    frame::finish(
        &mut buf,
        at,
        frame::FrameKind::Entries,
        first,
        entries.len() as u32,
    );
    let at = frame::begin(&mut buf);
    buf.extend_from_slice(&frame::seal_payload(last, entries.len() as u64));
    frame::finish(&mut buf, at, frame::FrameKind::Seal, last + 1, 0);
    buf
}

impl Drop for Wal {
    /// Lets queued appends finish, then stops the WAL's threads.
    fn drop(&mut self) {
        self.tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests;
