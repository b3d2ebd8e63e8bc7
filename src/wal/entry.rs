//! A log entry and its on-disk record: `[u32 body_len][u32 crc32c(body)][body]`.
//!
//! Body: index u64, term u64, HLC (packed u64 + node u32), origin region (short string),
//! then the opaque payload to the end. Every field a later layer needs to order, fence or
//! trace a write travels with the entry itself.

use std::sync::Arc;

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::util::codec::{DecodeError, Reader, put_short_bytes};

pub const RECORD_HEADER_LEN: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub hlc: Timestamp,
    /// Region whose client issued the write.
    pub origin: Arc<str>,
    pub payload: Bytes,
}

impl Entry {
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_LEN + 8 + 8 + 8 + 4 + 1 + self.origin.len() + self.payload.len()
    }

    /// Appends the full record (header and body) to `out`.
    pub fn encode_record(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.term.to_le_bytes());
        out.extend_from_slice(&self.hlc.packed.to_le_bytes());
        out.extend_from_slice(&self.hlc.node.to_le_bytes());
        put_short_bytes(out, self.origin.as_bytes());
        out.extend_from_slice(&self.payload);
        let body_len = (out.len() - start - RECORD_HEADER_LEN) as u32;
        let crc = crc32c::crc32c(&out[start + RECORD_HEADER_LEN..]);
        out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record header truncated")]
    TruncatedHeader,
    #[error("record body truncated: length {len} exceeds the {available} bytes available")]
    TruncatedBody { len: usize, available: usize },
    #[error("record checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum { stored: u32, computed: u32 },
    #[error("record body malformed: {0}")]
    Body(#[from] DecodeError),
}

/// Decodes one record at the start of `buf`; returns the entry and the bytes consumed.
pub fn decode_record(buf: &[u8]) -> Result<(Entry, usize), RecordError> {
    let (body, total) = record_body(buf)?;
    let mut r = Reader::new(body);
    let index = r.u64()?;
    let term = r.u64()?;
    let packed = r.u64()?;
    let node = r.u32()?;
    let origin: Arc<str> = Arc::from(r.short_str()?);
    let payload = Bytes::copy_from_slice(r.rest());
    Ok((
        Entry {
            index,
            term,
            hlc: Timestamp { packed, node },
            origin,
            payload,
        },
        total,
    ))
}

/// Checks a record's framing and checksum; returns its body and total length.
pub fn record_body(buf: &[u8]) -> Result<(&[u8], usize), RecordError> {
    if buf.len() < RECORD_HEADER_LEN {
        return Err(RecordError::TruncatedHeader);
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let stored = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    let available = buf.len() - RECORD_HEADER_LEN;
    if len > available {
        return Err(RecordError::TruncatedBody { len, available });
    }
    let body = &buf[RECORD_HEADER_LEN..RECORD_HEADER_LEN + len];
    let computed = crc32c::crc32c(body);
    if computed != stored {
        return Err(RecordError::Checksum { stored, computed });
    }
    Ok((body, RECORD_HEADER_LEN + len))
}

/// The index stored in a record that already passed [`record_body`].
pub fn record_index(body: &[u8]) -> Result<u64, DecodeError> {
    Reader::new(body).u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            index: 42,
            term: 3,
            hlc: Timestamp::new(1_700_000_000_000, 5, 0xabc),
            origin: Arc::from("eu-west-1"),
            payload: Bytes::from_static(b"{\"a\":1}"),
        }
    }

    #[test]
    fn record_round_trips() {
        let e = sample();
        let mut buf = Vec::new();
        e.encode_record(&mut buf);
        assert_eq!(buf.len(), e.encoded_len());
        let (back, used) = decode_record(&buf).unwrap();
        assert_eq!(back, e);
        assert_eq!(used, buf.len());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut buf = Vec::new();
        sample().encode_record(&mut buf);
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                if let Ok((e, _)) = decode_record(&bad) {
                    panic!("flip at {byte}:{bit} decoded as {e:?}")
                }
            }
        }
    }
}
