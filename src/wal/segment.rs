//! Segment files: `<start-index, 20 digits>.wal`, a 64-byte header, then frames.
//!
//! Segments are zero-filled to their full size before they are used, because on ext4 an
//! `fdatasync` that must also persist a new file size costs about twice one that does not
//! (measured here: ~170 us vs ~250-370 us). A sealed segment ends with a seal frame and is
//! then trimmed to its used length.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub const HEADER_LEN: usize = 64;
const MAGIC: &[u8; 8] = b"GEOWAL01";
const FORMAT_VERSION: u32 = 1;
const ZERO_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub group: u32,
    pub start_index: u64,
    pub created_ms: u64,
}

impl SegmentHeader {
    pub fn new(group: u32, start_index: u64) -> Self {
        let created_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            group,
            start_index,
            created_ms,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&self.group.to_le_bytes());
        h[16..24].copy_from_slice(&self.start_index.to_le_bytes());
        h[24..32].copy_from_slice(&self.created_ms.to_le_bytes());
        let crc = crc32c::crc32c(&h[..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// `Ok(None)` for an all-zero header: a segment created but never written.
    pub fn decode(buf: &[u8]) -> Result<Option<Self>, String> {
        if buf.len() < HEADER_LEN {
            return if buf.iter().all(|&b| b == 0) {
                Ok(None)
            } else {
                Err("segment header cut short".into())
            };
        }
        let h = &buf[..HEADER_LEN];
        if h.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        if &h[0..8] != MAGIC {
            return Err("not a georep WAL segment (bad magic)".into());
        }
        let crc = u32::from_le_bytes(h[60..64].try_into().expect("4"));
        if crc32c::crc32c(&h[..60]) != crc {
            return Err("segment header checksum mismatch".into());
        }
        let version = u32::from_le_bytes(h[8..12].try_into().expect("4"));
        if version != FORMAT_VERSION {
            return Err(format!("unsupported segment format version {version}"));
        }
        Ok(Some(Self {
            group: u32::from_le_bytes(h[12..16].try_into().expect("4")),
            start_index: u64::from_le_bytes(h[16..24].try_into().expect("8")),
            created_ms: u64::from_le_bytes(h[24..32].try_into().expect("8")),
        }))
    }
}

pub fn segment_path(dir: &Path, start_index: u64) -> PathBuf {
    dir.join(format!("{start_index:020}.wal"))
}

/// The start index encoded in a segment file name, if the name is one of ours.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".wal")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Creates `path` filled with `len` zero bytes and fsyncs it.
pub fn create_zeroed(path: &Path, len: u64) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(ZERO_CHUNK as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(file)
}

/// Overwrites `[from, to)` with zeros (no sync).
pub fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK.min((to.saturating_sub(from)) as usize)];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_names() {
        let h = SegmentHeader::new(9, 1234);
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes).unwrap(), Some(h));
        assert_eq!(SegmentHeader::decode(&[0u8; HEADER_LEN]).unwrap(), None);
        let mut bad = bytes;
        bad[17] ^= 1;
        assert!(SegmentHeader::decode(&bad).is_err());

        let p = segment_path(Path::new("/x"), 1234);
        assert_eq!(p, Path::new("/x/00000000000000001234.wal"));
        assert_eq!(parse_segment_name("00000000000000001234.wal"), Some(1234));
        assert_eq!(parse_segment_name("1234.wal"), None);
        assert_eq!(parse_segment_name("00000000000000001234.tmp"), None);
    }
}
