//! Frames: the unit of one group-commit write.
//!
//! ```text
//! 0  u32 magic "GWF1"     4 u8 kind   5 [3] zero
//! 8  u32 payload_len      12 u32 count (entries)
//! 16 u64 first_index      24 u32 crc32c(header[0..24] ++ payload)
//! 28 payload: `count` records (entries) or the seal body
//! ```
//! A batch is written with one `pwrite` and made durable with one `fdatasync`; the next
//! batch is only written after that returns. So a frame whose checksum fails can be the
//! torn tail of the last write only if no valid frame follows it; a valid frame after a bad
//! one means bytes that were once durable have changed, and recovery refuses to continue.

use super::entry::{RECORD_HEADER_LEN, record_body, record_index};

pub const FRAME_HEADER_LEN: usize = 28;
pub const MAGIC: [u8; 4] = *b"GWF1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Entries = 1,
    /// Last frame of a sealed segment; payload: last index u64, entry count u64.
    Seal = 2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameView {
    pub kind: FrameKind,
    pub first_index: u64,
    pub count: u32,
    /// Offsets (relative to the buffer) of each record, for entry frames.
    pub records: Vec<usize>,
    pub payload_start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameFault {
    /// The header is all zeros: the written part of the segment ends here.
    Zero,
    Bad(String),
}

/// Starts a frame in `out`; returns the frame's offset for [`finish`].
pub fn begin(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    at
}

/// Fills in the header of the frame begun at `at`, covering everything written since.
pub fn finish(out: &mut [u8], at: usize, kind: FrameKind, first_index: u64, count: u32) {
    let payload_len = (out.len() - at - FRAME_HEADER_LEN) as u32;
    let h = &mut out[at..at + FRAME_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4] = kind as u8;
    h[5..8].fill(0);
    h[8..12].copy_from_slice(&payload_len.to_le_bytes());
    h[12..16].copy_from_slice(&count.to_le_bytes());
    h[16..24].copy_from_slice(&first_index.to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&out[at..at + 24]),
        &out[at + FRAME_HEADER_LEN..],
    );
    out[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
}

pub fn seal_payload(last_index: u64, entries: u64) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..8].copy_from_slice(&last_index.to_le_bytes());
    p[8..].copy_from_slice(&entries.to_le_bytes());
    p
}

/// Parses and fully verifies the frame at `buf[pos..]`, including every record in it.
pub fn parse(buf: &[u8], pos: usize) -> Result<FrameView, FrameFault> {
    let bad = |m: String| Err(FrameFault::Bad(m));
    if buf.len() < pos + FRAME_HEADER_LEN {
        if buf[pos..].iter().all(|&b| b == 0) {
            return Err(FrameFault::Zero);
        }
        return bad("frame header cut short".into());
    }
    let h = &buf[pos..pos + FRAME_HEADER_LEN];
    if h.iter().all(|&b| b == 0) {
        return Err(FrameFault::Zero);
    }
    if h[0..4] != MAGIC {
        return bad("bad frame magic".into());
    }
    let kind = match h[4] {
        1 => FrameKind::Entries,
        2 => FrameKind::Seal,
        k => return bad(format!("unknown frame kind {k}")),
    };
    let payload_len = u32::from_le_bytes(h[8..12].try_into().expect("4")) as usize;
    let count = u32::from_le_bytes(h[12..16].try_into().expect("4"));
    let first_index = u64::from_le_bytes(h[16..24].try_into().expect("8"));
    let stored = u32::from_le_bytes(h[24..28].try_into().expect("4"));
    let payload_start = pos + FRAME_HEADER_LEN;
    let end = payload_start.saturating_add(payload_len);
    if end > buf.len() {
        return bad(format!(
            "frame payload of {payload_len} bytes runs past the end of the file"
        ));
    }
    let computed = crc32c::crc32c_append(crc32c::crc32c(&h[..24]), &buf[payload_start..end]);
    if computed != stored {
        return bad(format!(
            "frame checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    let mut records = Vec::new();
    match kind {
        FrameKind::Seal => {
            if payload_len != 16 || count != 0 {
                return bad("malformed seal frame".into());
            }
        }
        FrameKind::Entries => {
            let mut at = payload_start;
            for i in 0..count as u64 {
                let (body, len) = record_body(&buf[at..end])
                    .map_err(|e| FrameFault::Bad(format!("record {i} of frame: {e}")))?;
                let idx = record_index(body).map_err(|e| FrameFault::Bad(e.to_string()))?;
                if idx != first_index + i {
                    return bad(format!(
                        "record holds index {idx}, frame expects {}",
                        first_index + i
                    ));
                }
                records.push(at);
                at += len;
            }
            if at != end {
                return bad("frame payload has trailing bytes".into());
            }
            debug_assert!(records.iter().all(|&r| r + RECORD_HEADER_LEN <= end));
        }
    }
    Ok(FrameView {
        kind,
        first_index,
        count,
        records,
        payload_start,
        end,
    })
}

/// Whether any verifiable frame holding index `min_index` or later starts after `from`.
/// Used to tell a torn tail (nothing valid follows) from mid-log corruption.
pub fn valid_frame_after(buf: &[u8], from: usize, min_index: u64) -> Option<usize> {
    let mut pos = from;
    while pos + FRAME_HEADER_LEN <= buf.len() {
        let hit = buf[pos..].windows(4).position(|w| w == MAGIC)?;
        let at = pos + hit;
        if let Ok(view) = parse(buf, at)
            && (view.kind == FrameKind::Seal || view.first_index >= min_index)
        {
            return Some(at);
        }
        pos = at + 1;
    }
    None
}
