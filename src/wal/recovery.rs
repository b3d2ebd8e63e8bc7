//! Opening a WAL directory after any kind of stop.
//!
//! Recovery keeps every frame that was fully written and verifies, stops at the first
//! frame that does not verify, and then decides what that frame was:
//! - the torn tail of the last write before a crash, if it is in the last segment and no
//!   verifiable frame follows it: its bytes are zeroed (they were never acknowledged,
//!   because acknowledgement waits for the fsync of the whole frame);
//! - corruption otherwise (bit rot, a lost sector, an edited file, a missing segment):
//!   recovery refuses to open the log and names the segment file and byte offset.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::WalError;
use super::frame::{self, FrameFault, FrameKind};
use super::index::{FrameLoc, LogIndex, SegmentIndex};
use super::segment::{self, HEADER_LEN, SegmentHeader};
use crate::util::atomic_file::sync_dir;

/// What recovery found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segments: usize,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub torn_tail: Option<TornTail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub segment: PathBuf,
    pub offset: u64,
    pub discarded_bytes: u64,
}

struct Scan {
    records: Vec<u64>,
    frames: Vec<FrameLoc>,
    data_end: u64,
    sealed: bool,
    /// `(offset, end)` of unverifiable bytes at the end of the segment.
    torn: Option<(u64, u64)>,
}

pub(crate) fn recover(dir: &Path, group: u32) -> Result<(LogIndex, RecoveryReport), WalError> {
    fs::create_dir_all(dir).map_err(|e| WalError::io(dir, "create WAL directory", e))?;
    let mut found = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| WalError::io(dir, "list WAL directory", e))? {
        let item = item.map_err(|e| WalError::io(dir, "list WAL directory", e))?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            // a preallocated segment never put to use, or an interrupted metadata write
            fs::remove_file(item.path()).map_err(|e| WalError::io(item.path(), "remove", e))?;
        } else if let Some(start) = segment::parse_segment_name(&name) {
            found.push((start, item.path()));
        }
    }
    found.sort();

    let mut index = LogIndex::default();
    let mut report = RecoveryReport::default();
    let count = found.len();
    for (i, (name_start, path)) in found.into_iter().enumerate() {
        let is_last = i + 1 == count;
        let corrupt = |offset: u64, reason: String| WalError::Corrupt {
            segment: path.clone(),
            offset,
            reason,
        };
        let bytes = fs::read(&path).map_err(|e| WalError::io(&path, "read segment", e))?;
        let header = SegmentHeader::decode(&bytes).map_err(|r| corrupt(0, r))?;
        let Some(header) = header else {
            if !is_last {
                return Err(corrupt(
                    0,
                    "segment has no header but later segments exist".into(),
                ));
            }
            // Created and renamed, but its first write never completed.
            let garbage = last_nonzero(&bytes, 0);
            if garbage > 0 {
                report.torn_tail = Some(TornTail {
                    segment: path.clone(),
                    offset: 0,
                    discarded_bytes: garbage,
                });
            }
            fs::remove_file(&path).map_err(|e| WalError::io(&path, "remove empty segment", e))?;
            sync_dir(dir).map_err(|e| WalError::io(dir, "fsync directory", e))?;
            continue;
        };
        if header.start_index != name_start {
            return Err(corrupt(
                0,
                format!(
                    "header says the segment starts at index {} but its name says {name_start}",
                    header.start_index
                ),
            ));
        }
        if header.group != group {
            return Err(corrupt(
                0,
                format!("segment belongs to log group {}, not {group}", header.group),
            ));
        }
        if let Some(prev_last) = index.last_index()
            && prev_last + 1 != header.start_index
        {
            return Err(WalError::Gap {
                missing_from: prev_last + 1,
                missing_to: header.start_index.saturating_sub(1),
                next_segment: path.clone(),
            });
        }
        let scan = scan(&bytes, header.start_index, &path, is_last)?;
        if !is_last && !scan.sealed {
            return Err(corrupt(
                scan.data_end,
                "segment was never sealed but later segments exist".into(),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| WalError::io(&path, "open segment", e))?;
        if let Some((offset, end)) = scan.torn {
            segment::zero_range(&file, offset, end)
                .and_then(|_| file.sync_data())
                .map_err(|e| WalError::io(&path, "discard torn tail", e))?;
            report.torn_tail = Some(TornTail {
                segment: path.clone(),
                offset,
                discarded_bytes: end - offset,
            });
        }
        index.segments.push(SegmentIndex {
            start: header.start_index,
            path,
            file: Arc::new(file),
            records: scan.records,
            frames: scan.frames,
            data_end: scan.data_end,
            sealed: scan.sealed,
        });
    }
    report.segments = index.segments.len();
    report.first_index = index.first_index();
    report.last_index = index.last_index();
    Ok((index, report))
}

fn scan(bytes: &[u8], start: u64, path: &Path, is_last: bool) -> Result<Scan, WalError> {
    let corrupt = |offset: usize, reason: String| WalError::Corrupt {
        segment: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut out = Scan {
        records: Vec::new(),
        frames: Vec::new(),
        data_end: HEADER_LEN as u64,
        sealed: false,
        torn: None,
    };
    let mut pos = HEADER_LEN;
    let mut expected = start;
    while pos < bytes.len() {
        match frame::parse(bytes, pos) {
            Ok(view) if view.kind == FrameKind::Entries => {
                if view.first_index != expected {
                    return Err(corrupt(
                        pos,
                        format!(
                            "frame starts at index {} but {expected} was expected",
                            view.first_index
                        ),
                    ));
                }
                out.frames.push(FrameLoc {
                    first_index: view.first_index,
                    offset: pos as u64,
                });
                out.records.extend(view.records.iter().map(|&r| r as u64));
                expected += u64::from(view.count);
                pos = view.end;
                out.data_end = pos as u64;
            }
            Ok(view) => {
                let p = &bytes[view.payload_start..view.end];
                let last = u64::from_le_bytes(p[..8].try_into().expect("8"));
                if last + 1 != expected {
                    return Err(corrupt(
                        pos,
                        format!(
                            "seal frame says the last index is {last}, entries end at {}",
                            expected - 1
                        ),
                    ));
                }
                out.sealed = true;
                return Ok(out);
            }
            Err(fault) => {
                let reason = match fault {
                    FrameFault::Zero => "written data ends".to_string(),
                    FrameFault::Bad(r) => r,
                };
                if let Some(at) = frame::valid_frame_after(bytes, pos + 1, expected) {
                    return Err(corrupt(
                        pos,
                        format!(
                            "{reason}, yet a valid frame follows at offset {at}: \
                             data that was once durable has changed"
                        ),
                    ));
                }
                let garbage_end = last_nonzero(bytes, pos);
                if garbage_end > pos as u64 {
                    if !is_last {
                        return Err(corrupt(pos, format!("{reason} in a non-final segment")));
                    }
                    out.torn = Some((pos as u64, garbage_end));
                }
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// One past the last non-zero byte at or after `from` (or `from` if all are zero).
fn last_nonzero(bytes: &[u8], from: usize) -> u64 {
    bytes[from..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(from as u64, |p| (from + p + 1) as u64)
}
