//! RPC frames on a QUIC stream, versioned so peers of different versions refuse each other
//! clearly instead of misreading bytes.
//!
//! ```text
//! u8 version (3) | u8 kind | u8 flags (bit 0: zstd) | u8 0 | u32 wire length | u32 plain length
//! | u64 sender HLC (packed) | u64 sender wall clock (ms) | payload
//! ```
//! Payloads above [`COMPRESS_ABOVE`] bytes are zstd-compressed (level 1: log shipping wants
//! speed) when that makes them smaller. Every frame, request or answer, carries the sender's
//! clock ([`Stamp`]): the receiver merges the HLC and measures the peer's offset from it
//! (`peer_clock.rs`), so no message kind can bypass the clock.

use std::cell::RefCell;

use bytes::Bytes;

use super::error::TransportError;

/// 3: requests start with their service byte (`rpc/dispatch.rs`) and errors are typed JSON.
pub const VERSION: u8 = 3;
pub const HEADER_LEN: usize = 28;
pub const COMPRESS_ABOVE: usize = 16 << 10;
/// Largest frame accepted from a peer.
pub const MAX_FRAME: usize = 256 << 20;
const ZSTD: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request = 1,
    Response = 2,
    Error = 3,
}

/// The sender's clock when it sent a frame: its HLC reading and its wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub hlc: u64,
    pub wall_ms: u64,
}

/// An encoded frame and its sizes before and after compression.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub plain_len: usize,
}

thread_local! {
    // One zstd context per thread, reused: setting one up for every frame cost about a
    // sixth of the shipping rate.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(zstd::bulk::Compressor::new(1).ok());
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        RefCell::new(zstd::bulk::Decompressor::new().ok());
}

fn compress(payload: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(payload.len()));
        c.as_mut()?.compress_to_buffer(payload, &mut out).ok()?;
        Some(out)
    })
}

fn decompress(body: &[u8], plain: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        match d.as_mut() {
            Some(d) => {
                let mut out = Vec::with_capacity(plain);
                d.decompress_to_buffer(body, &mut out)?;
                Ok(out)
            }
            None => zstd::bulk::decompress(body, plain),
        }
    })
}

pub fn encode(kind: Kind, stamp: Stamp, payload: &[u8]) -> Encoded {
    let compressed = (payload.len() > COMPRESS_ABOVE)
        .then(|| compress(payload))
        .flatten()
        .filter(|c| c.len() < payload.len());
    let (flags, body) = match &compressed {
        Some(c) => (ZSTD, c.as_slice()),
        None => (0, payload),
    };
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&[VERSION, kind as u8, flags, 0]);
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&stamp.hlc.to_le_bytes());
    bytes.extend_from_slice(&stamp.wall_ms.to_le_bytes());
    bytes.extend_from_slice(body);
    Encoded {
        bytes,
        plain_len: payload.len(),
    }
}

pub fn decode(frame: &[u8]) -> Result<(Kind, Stamp, Bytes), TransportError> {
    let bad = |m: &str| TransportError::Frame(m.to_string());
    if frame.len() < HEADER_LEN {
        return Err(bad("shorter than its header"));
    }
    if frame[0] != VERSION {
        return Err(TransportError::Frame(format!(
            "peer speaks frame version {}, this node {VERSION}",
            frame[0]
        )));
    }
    let kind = match frame[1] {
        1 => Kind::Request,
        2 => Kind::Response,
        3 => Kind::Error,
        k => return Err(TransportError::Frame(format!("unknown frame kind {k}"))),
    };
    let wire = u32::from_le_bytes(frame[4..8].try_into().expect("4")) as usize;
    let plain = u32::from_le_bytes(frame[8..12].try_into().expect("4")) as usize;
    let stamp = Stamp {
        hlc: u64::from_le_bytes(frame[12..20].try_into().expect("8")),
        wall_ms: u64::from_le_bytes(frame[20..28].try_into().expect("8")),
    };
    if wire != frame.len() - HEADER_LEN || plain > MAX_FRAME {
        return Err(bad("length fields do not match the frame"));
    }
    let body = &frame[HEADER_LEN..];
    let payload = if frame[2] & ZSTD != 0 {
        let out =
            decompress(body, plain).map_err(|e| TransportError::Frame(format!("zstd: {e}")))?;
        if out.len() != plain {
            return Err(bad("decompressed length differs from the header"));
        }
        Bytes::from(out)
    } else {
        if wire != plain {
            return Err(bad("uncompressed frame with differing lengths"));
        }
        Bytes::copy_from_slice(body)
    };
    Ok((kind, stamp, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_are_plain_large_compressible_ones_shrink() {
        let stamp = Stamp {
            hlc: 77 << 16,
            wall_ms: 77,
        };
        let small = encode(Kind::Request, stamp, b"hello");
        assert_eq!(small.bytes[2], 0);
        assert_eq!(
            decode(&small.bytes).unwrap(),
            (Kind::Request, stamp, Bytes::from_static(b"hello"))
        );

        let big: Vec<u8> = b"append entries "
            .iter()
            .cycle()
            .take(1 << 20)
            .copied()
            .collect();
        let e = encode(Kind::Response, Stamp::default(), &big);
        assert_eq!(e.bytes[2], ZSTD);
        assert!(
            e.bytes.len() < big.len() / 20,
            "{} bytes on the wire",
            e.bytes.len()
        );
        assert_eq!(decode(&e.bytes).unwrap().2, big);
    }

    #[test]
    fn damaged_frames_are_errors() {
        let big: Vec<u8> = b"xyz".iter().cycle().take(100_000).copied().collect();
        let e = encode(Kind::Request, Stamp::default(), &big).bytes;
        assert!(decode(&e[..5]).is_err());
        let mut v = e.clone();
        v[0] = 1;
        assert!(decode(&v).unwrap_err().to_string().contains("version 1"));
        let mut v = e.clone();
        v[HEADER_LEN + 3] ^= 0xff;
        assert!(decode(&v).is_err());
        let mut v = e;
        v.truncate(v.len() - 1);
        assert!(decode(&v).is_err());
    }
}
