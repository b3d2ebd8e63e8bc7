//! The group-commit pipeline: three threads with one job each.
//!
//! ```text
//! appenders ──requests──▶ writer ──completions──▶ notifier ──▶ callbacks
//!                           │  ▲
//!                      prepare │ preallocated files
//!                           ▼  │
//!                          preparer
//! ```
//! The writer takes every append that is waiting, writes them as one frame with one
//! `pwrite`, calls `fdatasync` once and hands the callbacks to the notifier, so the next
//! fsync can start at once instead of after waking every waiter. The preparer zero-fills the
//! next segment in the background, keeping that off the write path.
//! A failed write or fsync poisons the log: after an fsync error the page cache can no
//! longer be trusted (see "fsyncgate"), so nothing more is accepted.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use super::Shared;
use super::entry::Entry;
use super::error::WalError;
use super::frame::{self, FRAME_HEADER_LEN, FrameKind};
use super::index::{FrameLoc, SegmentIndex};
use super::segment::{self, HEADER_LEN, SegmentHeader};
use crate::util::atomic_file::sync_dir;

pub(crate) type Callback = Box<dyn FnOnce(Result<u64, WalError>) + Send>;

pub(crate) enum Request {
    Append {
        entries: Vec<Entry>,
        done: Callback,
    },
    Truncate {
        from: u64,
        done: SyncSender<Result<(), WalError>>,
    },
    Purge {
        up_to: u64,
        done: SyncSender<Result<usize, WalError>>,
    },
    Seal {
        done: SyncSender<Result<(), WalError>>,
    },
    Reset {
        next: u64,
        done: SyncSender<Result<(), WalError>>,
    },
}

pub(crate) type Completion = Vec<(Callback, Result<u64, WalError>)>;

/// Zero-fill a file for the next segment.
pub(crate) struct PrepRequest {
    path: PathBuf,
    len: u64,
}

type Prepared = std::io::Result<(PathBuf, File)>;

struct Active {
    file: Arc<File>,
    path: PathBuf,
    write_pos: u64,
    opened: Instant,
    has_entries: bool,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    active: Option<Active>,
    next_index: Option<u64>,
    buf: Vec<u8>,
    notify: Sender<Completion>,
    prep_tx: Sender<PrepRequest>,
    prep_rx: Receiver<Prepared>,
    prep_pending: bool,
    prep_seq: u64,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        notify: Sender<Completion>,
        prep_tx: Sender<PrepRequest>,
        prep_rx: Receiver<Prepared>,
    ) -> Self {
        let (active, next_index) = {
            let index = shared.index.read().expect("WAL index lock");
            match index.segments.last() {
                Some(seg) if !seg.sealed => (
                    Some(Active {
                        file: seg.file.clone(),
                        path: seg.path.clone(),
                        write_pos: seg.data_end,
                        opened: Instant::now(),
                        has_entries: !seg.records.is_empty(),
                    }),
                    Some(seg.start + seg.records.len() as u64),
                ),
                Some(seg) => (None, seg.last_index().map(|l| l + 1)),
                None => (None, None),
            }
        };
        let mut writer = Self {
            shared,
            active,
            next_index,
            buf: Vec::with_capacity(1 << 20),
            notify,
            prep_tx,
            prep_rx,
            prep_pending: false,
            prep_seq: 0,
        };
        writer.request_preallocation();
        writer
    }

    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        loop {
            let request = match self.age_deadline() {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        self.seal_if_aged();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                },
            };
            match request {
                Request::Append { entries, done } => {
                    let mut batch = vec![(entries, done)];
                    let mut bytes: usize = batch[0].0.iter().map(Entry::encoded_len).sum();
                    let mut deferred = None;
                    while bytes < self.shared.options.max_batch_bytes {
                        match rx.try_recv() {
                            Ok(Request::Append { entries, done }) => {
                                bytes += entries.iter().map(Entry::encoded_len).sum::<usize>();
                                batch.push((entries, done));
                            }
                            Ok(other) => {
                                deferred = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.write_batch(batch);
                    if let Some(other) = deferred {
                        self.control(other);
                    }
                }
                other => self.control(other),
            }
            self.seal_if_aged();
        }
    }

    fn control(&mut self, request: Request) {
        match request {
            Request::Append { .. } => unreachable!("appends are batched by run()"),
            Request::Truncate { from, done } => {
                let r = self.check_poison().and_then(|_| self.truncate(from));
                let _ = done.send(r);
            }
            Request::Purge { up_to, done } => {
                let _ = done.send(self.purge(up_to));
            }
            Request::Seal { done } => {
                let r = self.check_poison().and_then(|_| self.seal_active());
                let _ = done.send(r);
            }
            Request::Reset { next, done } => {
                let r = self.check_poison().and_then(|_| self.reset(next));
                let _ = done.send(r);
            }
        }
    }

    fn check_poison(&self) -> Result<(), WalError> {
        match &*self.shared.poisoned.lock().expect("poison lock") {
            Some(reason) => Err(WalError::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn poison(&self, err: &WalError) {
        tracing::error!(error = %err, "WAL poisoned; refusing further writes");
        let mut p = self.shared.poisoned.lock().expect("poison lock");
        p.get_or_insert_with(|| err.to_string());
    }

    fn write_batch(&mut self, batch: Vec<(Vec<Entry>, Callback)>) {
        let mut completions: Completion = Vec::with_capacity(batch.len());
        if let Err(e) = self.check_poison() {
            completions.extend(batch.into_iter().map(|(_, cb)| (cb, Err(e.clone()))));
            let _ = self.notify.send(completions);
            return;
        }
        // Admit appends whose indexes continue the log; reject the rest individually.
        let mut accepted: Vec<(Vec<Entry>, Callback)> = Vec::with_capacity(batch.len());
        let mut next = self.next_index;
        let mut frame_bytes = FRAME_HEADER_LEN;
        for (entries, done) in batch {
            let contiguous = entries
                .iter()
                .enumerate()
                .all(|(i, e)| next.is_none_or(|n| e.index == n + i as u64))
                && entries.windows(2).all(|w| w[1].index == w[0].index + 1);
            if !contiguous {
                let expected = next.unwrap_or(0);
                let got = entries.first().map_or(0, |e| e.index);
                completions.push((done, Err(WalError::NonContiguous { expected, got })));
                continue;
            }
            if let Some(last) = entries.last() {
                next = Some(last.index + 1);
                frame_bytes += entries.iter().map(Entry::encoded_len).sum::<usize>();
            }
            accepted.push((entries, done));
        }
        let Some(first_index) = accepted
            .iter()
            .find_map(|(e, _)| e.first().map(|e| e.index))
        else {
            // Nothing to write: empty appends are acknowledged with the current last index.
            let last = self.next_index.map_or(0, |n| n - 1);
            completions.extend(accepted.into_iter().map(|(_, cb)| (cb, Ok(last))));
            let _ = self.notify.send(completions);
            return;
        };
        let last_index = next.expect("accepted entries set next") - 1;

        match self.write_frame(&accepted, first_index, last_index, frame_bytes) {
            Ok(()) => {
                self.next_index = Some(last_index + 1);
                self.shared.durable.store(last_index, Ordering::Release);
                for (entries, done) in accepted {
                    let last = entries.last().map_or(first_index - 1, |e| e.index);
                    completions.push((done, Ok(last)));
                }
            }
            Err(e) => {
                self.poison(&e);
                completions.extend(accepted.into_iter().map(|(_, cb)| (cb, Err(e.clone()))));
            }
        }
        let _ = self.notify.send(completions);
    }

    fn write_frame(
        &mut self,
        accepted: &[(Vec<Entry>, Callback)],
        first_index: u64,
        last_index: u64,
        frame_bytes: usize,
    ) -> Result<(), WalError> {
        let opts = self.shared.options.clone();
        if let Some(active) = &self.active
            && active.has_entries
            && active.write_pos + frame_bytes as u64 > opts.segment_bytes
        {
            self.seal_active()?;
        }
        let new_segment = self.active.is_none();
        if new_segment {
            self.open_segment(first_index)?;
        }
        let active = self.active.as_mut().expect("active segment");

        self.buf.clear();
        let base = if new_segment {
            self.buf
                .extend_from_slice(&SegmentHeader::new(opts.group, first_index).encode());
            0
        } else {
            active.write_pos
        };
        let frame_at = frame::begin(&mut self.buf);
        let mut offsets = Vec::with_capacity((last_index - first_index + 1) as usize);
        for (entries, _) in accepted {
            for e in entries {
                offsets.push(base + self.buf.len() as u64);
                e.encode_record(&mut self.buf);
            }
        }
        let count = offsets.len() as u32;
        frame::finish(
            &mut self.buf,
            frame_at,
            FrameKind::Entries,
            first_index,
            count,
        );

        let path = active.path.clone();
        active
            .file
            .write_all_at(&self.buf, base)
            .map_err(|e| WalError::io(&path, "write", e))?;
        let frame_offset = base + frame_at as u64;
        active.write_pos = base + self.buf.len() as u64;
        active.has_entries = true;
        {
            let mut index = self.shared.index.write().expect("WAL index lock");
            let seg = index
                .segments
                .last_mut()
                .expect("active segment is indexed");
            seg.records.extend_from_slice(&offsets);
            seg.frames.push(FrameLoc {
                first_index,
                offset: frame_offset,
            });
            seg.data_end = active.write_pos;
        }

        let started = Instant::now();
        active
            .file
            .sync_data()
            .map_err(|e| WalError::io(&path, "fdatasync", e))?;
        if new_segment {
            // the rename that named this segment must be durable before we acknowledge
            sync_dir(&opts.dir).map_err(|e| WalError::io(&opts.dir, "fsync directory", e))?;
        }
        if let Some(m) = &self.shared.metrics {
            m.fsync_seconds.observe(started.elapsed().as_secs_f64());
            m.batch_entries.observe(f64::from(count));
            m.bytes_written.inc_by(self.buf.len() as u64);
            m.appends.inc_by(u64::from(count));
        }
        Ok(())
    }

    fn open_segment(&mut self, start: u64) -> Result<(), WalError> {
        let opts = self.shared.options.clone();
        let prepared = if self.prep_pending {
            self.prep_pending = false;
            self.prep_rx.recv().ok().and_then(|r| {
                r.map_err(|e| tracing::warn!(error = %e, "segment preallocation failed"))
                    .ok()
            })
        } else {
            None
        };
        let (tmp, file) = match prepared {
            Some(p) => p,
            None => {
                let tmp = self.next_prep_path();
                let file = segment::create_zeroed(&tmp, opts.segment_bytes)
                    .map_err(|e| WalError::io(&tmp, "create segment", e))?;
                (tmp, file)
            }
        };
        let path = segment::segment_path(&opts.dir, start);
        std::fs::rename(&tmp, &path).map_err(|e| WalError::io(&path, "rename segment", e))?;
        let file = Arc::new(file);
        self.shared
            .index
            .write()
            .expect("WAL index lock")
            .segments
            .push(SegmentIndex {
                start,
                path: path.clone(),
                file: file.clone(),
                records: Vec::new(),
                frames: Vec::new(),
                data_end: HEADER_LEN as u64,
                sealed: false,
            });
        self.active = Some(Active {
            file,
            path,
            write_pos: 0,
            opened: Instant::now(),
            has_entries: false,
        });
        self.request_preallocation();
        Ok(())
    }

    fn next_prep_path(&mut self) -> PathBuf {
        self.prep_seq += 1;
        self.shared
            .options
            .dir
            .join(format!("prealloc-{}.tmp", self.prep_seq))
    }

    fn request_preallocation(&mut self) {
        if self.prep_pending {
            return;
        }
        let path = self.next_prep_path();
        let len = self.shared.options.segment_bytes;
        self.prep_pending = self.prep_tx.send(PrepRequest { path, len }).is_ok();
    }

    fn age_deadline(&self) -> Option<Duration> {
        let active = self.active.as_ref().filter(|a| a.has_entries)?;
        Some(
            self.shared
                .options
                .segment_age
                .saturating_sub(active.opened.elapsed()),
        )
    }

    fn seal_if_aged(&mut self) {
        if self.age_deadline() == Some(Duration::ZERO)
            && self.check_poison().is_ok()
            && let Err(e) = self.seal_active()
        {
            self.poison(&e);
        }
    }

    /// Ends the active segment with a seal frame; the next append opens a new one.
    fn seal_active(&mut self) -> Result<(), WalError> {
        let Some(active) = self.active.take() else {
            return Ok(());
        };
        if !active.has_entries {
            self.active = Some(active);
            return Ok(());
        }
        let (start, count) = {
            let index = self.shared.index.read().expect("WAL index lock");
            let seg = index.segments.last().expect("active segment is indexed");
            (seg.start, seg.records.len() as u64)
        };
        let last = start + count - 1;
        let mut buf = Vec::with_capacity(FRAME_HEADER_LEN + 16);
        let at = frame::begin(&mut buf);
        buf.extend_from_slice(&frame::seal_payload(last, count));
        frame::finish(&mut buf, at, FrameKind::Seal, last + 1, 0);
        // Trimming here rather than in the background keeps a later truncate from racing
        // a trim of the same file; it costs one metadata fsync per segment.
        let end = active.write_pos + buf.len() as u64;
        active
            .file
            .write_all_at(&buf, active.write_pos)
            .and_then(|_| active.file.set_len(end))
            .and_then(|_| active.file.sync_all())
            .map_err(|e| WalError::io(&active.path, "seal segment", e))?;
        self.shared
            .index
            .write()
            .expect("WAL index lock")
            .segments
            .last_mut()
            .expect("active segment is indexed")
            .sealed = true;
        if let Some(m) = &self.shared.metrics {
            m.segments_sealed.inc();
        }
        tracing::debug!(segment = %active.path.display(), first = start, last, "sealed WAL segment");
        Ok(())
    }

    /// Removes entries `from..`: later segment files first (so a crash midway leaves an
    /// older, still consistent log), then the tail of the segment holding `from`.
    fn truncate(&mut self, from: u64) -> Result<(), WalError> {
        let dir = self.shared.options.dir.clone();
        let mut index = self.shared.index.write().expect("WAL index lock");
        let (first, last) = (index.first_index(), index.last_index());
        let Some(last_index) = last else {
            return Ok(());
        };
        if from > last_index {
            return Ok(());
        }
        let k = index.position_of(from).ok_or(WalError::OutOfRange {
            index: from,
            first,
            last,
        })?;
        let later: Vec<SegmentIndex> = index.segments.drain(k + 1..).collect();
        for seg in &later {
            std::fs::remove_file(&seg.path).map_err(|e| WalError::io(&seg.path, "remove", e))?;
        }
        if !later.is_empty() {
            sync_dir(&dir).map_err(|e| WalError::io(&dir, "fsync directory", e))?;
        }
        let active_pos = self.active.as_ref().map(|a| (a.path.clone(), a.write_pos));
        let seg = &mut index.segments[k];
        let old_end = match &active_pos {
            Some((p, pos)) if *p == seg.path => *pos,
            _ => seg
                .file
                .metadata()
                .map_err(|e| WalError::io(&seg.path, "stat", e))?
                .len(),
        };
        let keep = (from - seg.start) as usize;
        if keep == 0 {
            let path = seg.path.clone();
            index.segments.pop();
            std::fs::remove_file(&path).map_err(|e| WalError::io(&path, "remove", e))?;
            sync_dir(&dir).map_err(|e| WalError::io(&dir, "fsync directory", e))?;
            self.active = None;
        } else {
            let f = seg.frames.partition_point(|fr| fr.first_index <= from) - 1;
            let fr = seg.frames[f];
            let new_end = if fr.first_index == from {
                seg.frames.truncate(f);
                fr.offset
            } else {
                // Rewrite the frame holding `from` with only its records before `from`.
                let rec_start = seg.records[(fr.first_index - seg.start) as usize];
                let rec_end = seg.records[keep];
                let mut records = vec![0u8; (rec_end - rec_start) as usize];
                seg.file
                    .read_exact_at(&mut records, rec_start)
                    .map_err(|e| WalError::io(&seg.path, "read for truncate", e))?;
                let mut buf = Vec::with_capacity(FRAME_HEADER_LEN + records.len());
                let at = frame::begin(&mut buf);
                buf.extend_from_slice(&records);
                let n = (from - fr.first_index) as u32;
                frame::finish(&mut buf, at, FrameKind::Entries, fr.first_index, n);
                seg.file
                    .write_all_at(&buf, fr.offset)
                    .map_err(|e| WalError::io(&seg.path, "rewrite frame", e))?;
                seg.frames.truncate(f + 1);
                fr.offset + buf.len() as u64
            };
            seg.records.truncate(keep);
            seg.data_end = new_end;
            seg.sealed = false;
            segment::zero_range(&seg.file, new_end, old_end)
                .and_then(|_| seg.file.sync_data())
                .map_err(|e| WalError::io(&seg.path, "truncate", e))?;
            self.active = Some(Active {
                file: seg.file.clone(),
                path: seg.path.clone(),
                write_pos: new_end,
                opened: Instant::now(),
                has_entries: true,
            });
        }
        self.next_index = Some(from);
        self.shared.durable.fetch_min(from - 1, Ordering::AcqRel);
        Ok(())
    }

    /// Drops every segment; the next append starts the log at `next`. A replica does this
    /// after installing a snapshot newer than its whole log.
    fn reset(&mut self, next: u64) -> Result<(), WalError> {
        let removed: Vec<SegmentIndex> = {
            let mut index = self.shared.index.write().expect("WAL index lock");
            index.segments.drain(..).collect()
        };
        for seg in &removed {
            std::fs::remove_file(&seg.path).map_err(|e| WalError::io(&seg.path, "remove", e))?;
        }
        let dir = &self.shared.options.dir;
        sync_dir(dir).map_err(|e| WalError::io(dir, "fsync directory", e))?;
        self.active = None;
        self.next_index = Some(next);
        self.shared
            .durable
            .store(next.saturating_sub(1), Ordering::Release);
        Ok(())
    }

    /// Deletes sealed segments whose entries are all at or below `up_to`.
    fn purge(&mut self, up_to: u64) -> Result<usize, WalError> {
        let removed: Vec<SegmentIndex> = {
            let mut index = self.shared.index.write().expect("WAL index lock");
            let mut n = 0;
            while n + 1 < index.segments.len()
                && index.segments[n].sealed
                && index.segments[n].last_index().is_some_and(|l| l <= up_to)
            {
                n += 1;
            }
            index.segments.drain(..n).collect()
        };
        for seg in &removed {
            std::fs::remove_file(&seg.path).map_err(|e| WalError::io(&seg.path, "remove", e))?;
        }
        if !removed.is_empty() {
            let dir = &self.shared.options.dir;
            sync_dir(dir).map_err(|e| WalError::io(dir, "fsync directory", e))?;
        }
        Ok(removed.len())
    }
}

pub(crate) fn run_notifier(rx: Receiver<Completion>) {
    for completion in rx {
        for (callback, result) in completion {
            callback(result);
        }
    }
}

pub(crate) fn run_preparer(rx: Receiver<PrepRequest>, prepared: Sender<Prepared>) {
    for PrepRequest { path, len } in rx {
        let r = segment::create_zeroed(&path, len).map(|f| (path, f));
        if prepared.send(r).is_err() {
            return;
        }
    }
}
