//! Metadata of one archived WAL segment: what a restore needs to choose objects without
//! listing or downloading everything.

use serde::{Deserialize, Serialize};

/// An inclusive range of log indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRange {
    pub first: u64,
    pub last: u64,
}

impl IndexRange {
    pub fn new(first: u64, last: u64) -> Option<Self> {
        (first <= last).then_some(Self { first, last })
    }

    pub fn contains(&self, index: u64) -> bool {
        (self.first..=self.last).contains(&index)
    }

    /// Whether `next` continues this range with no gap or overlap.
    pub fn is_followed_by(&self, next: &IndexRange) -> bool {
        self.last.checked_add(1) == Some(next.first)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    pub cluster: String,
    pub group: u32,
    pub indexes: IndexRange,
    /// HLC of the first and last entry, packed (physical ms << 16 | logical).
    pub first_hlc: u64,
    pub last_hlc: u64,
    /// Size of the sealed segment file before compression.
    pub plain_bytes: u64,
    /// CRC32C of the sealed segment file, checked again after a restore decrypts it.
    pub plain_crc32c: u32,
}

impl SegmentMeta {
    /// Physical milliseconds of the last entry: the latest instant this segment can restore to.
    pub fn last_physical_ms(&self) -> u64 {
        self.last_hlc >> 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(IndexRange::new(5, 4).is_none());
        let a = IndexRange::new(1, 10).unwrap();
        let b = IndexRange::new(11, 20).unwrap();
        assert!(a.is_followed_by(&b));
        assert!(!b.is_followed_by(&a));
        assert!(a.contains(10) && !a.contains(11));
    }

    #[test]
    fn last_physical_ms_unpacks_the_hlc() {
        let m = SegmentMeta {
            cluster: "c".into(),
            group: 1,
            indexes: IndexRange::new(1, 2).unwrap(),
            first_hlc: 5 << 16,
            last_hlc: (1_700_000_000_000 << 16) | 3,
            plain_bytes: 10,
            plain_crc32c: 0,
        };
        assert_eq!(m.last_physical_ms(), 1_700_000_000_000);
    }
}
