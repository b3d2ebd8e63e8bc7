//! Where every entry lives: per segment, the byte offset of each record and of each frame.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameLoc {
    pub first_index: u64,
    pub offset: u64,
}

#[derive(Debug)]
pub(crate) struct SegmentIndex {
    pub start: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Byte offset of the record of entry `start + i`.
    pub records: Vec<u64>,
    pub frames: Vec<FrameLoc>,
    /// End of the last entry frame (the seal frame, if any, starts here).
    pub data_end: u64,
    pub sealed: bool,
}

impl SegmentIndex {
    pub fn last_index(&self) -> Option<u64> {
        (!self.records.is_empty()).then(|| self.start + self.records.len() as u64 - 1)
    }

    pub fn contains(&self, index: u64) -> bool {
        index >= self.start && index < self.start + self.records.len() as u64
    }

    /// Byte range of the record of `index`, which must be in this segment.
    pub fn record_span(&self, index: u64) -> (u64, u64) {
        let i = (index - self.start) as usize;
        let begin = self.records[i];
        let end = match self.records.get(i + 1) {
            Some(&next) => next,
            None => self.data_end,
        };
        (begin, end)
    }
}

#[derive(Debug, Default)]
pub(crate) struct LogIndex {
    pub segments: Vec<SegmentIndex>,
}

impl LogIndex {
    pub fn first_index(&self) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| !s.records.is_empty())
            .map(|s| s.start)
    }

    pub fn last_index(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.last_index())
    }

    pub fn position_of(&self, index: u64) -> Option<usize> {
        let after = self.segments.partition_point(|s| s.start <= index);
        let k = after.checked_sub(1)?;
        self.segments[k].contains(index).then_some(k)
    }
}
