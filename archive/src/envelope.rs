//! The sealed-object envelope: how a segment or snapshot is stored in the archive.
//!
//! The plaintext is zstd-compressed, then encrypted with AES-256-GCM in fixed-size chunks
//! under a fresh random data key per object. The data key is wrapped (AES-256-GCM) by a
//! master key from the [`KeyRing`], whose id is recorded in the header.
//!
//! ```text
//! header: "GRSEAL01" | u8 version | u8 compression | u8 cipher | u8 key-id length | key id |
//!         12-byte wrap nonce | 48-byte wrapped data key | 7-byte nonce prefix |
//!         u32 chunk size | u64 plaintext length | u64 compressed length
//! chunks: (u32 ciphertext length | ciphertext+tag)*
//! chunk nonce = nonce prefix | u32 chunk index (BE) | u8 final flag; AAD = the whole header
//! ```
//! Every chunk authenticates its position, its object (through the header as AAD) and whether
//! it is the last one. So a flipped bit, a reordered or swapped chunk, a chunk from another
//! object, a truncation at a chunk boundary, or a wrong key all fail, with the chunk and
//! byte offset named. Nothing partial is returned.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::keyring::KeyRing;

const MAGIC: &[u8; 8] = b"GRSEAL01";
const VERSION: u8 = 1;
const ZSTD: u8 = 1;
const AES_256_GCM: u8 = 1;
const TAG: usize = 16;
const WRAP_AAD: &[u8] = b"georep-archive data key v1:";
/// Plaintext (compressed) bytes per chunk.
pub const DEFAULT_CHUNK: u32 = 1 << 20;
pub const DEFAULT_LEVEL: i32 = 3;
/// Refuse to allocate more than this for one object's plaintext.
const MAX_PLAIN: u64 = 16 << 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a sealed georep archive object (bad magic)")]
    NotSealed,
    #[error("unsupported envelope: {0}")]
    Unsupported(String),
    #[error("object truncated: {what} cut short at byte {offset}")]
    Truncated { what: &'static str, offset: u64 },
    #[error("object was sealed with key id {key_id:?}, which is not in the keyring (have: {have})")]
    UnknownKey { key_id: String, have: String },
    #[error(
        "the data key does not unwrap with key {key_id:?}: wrong key material or a damaged header"
    )]
    WrongKey { key_id: String },
    #[error(
        "chunk {index} at byte {offset} fails authentication (altered, reordered or from another object)"
    )]
    Chunk { index: u32, offset: u64 },
    #[error("object ends after chunk {chunks} without its final chunk (truncated)")]
    MissingFinalChunk { chunks: u32 },
    #[error("{bytes} unexpected bytes after the final chunk at byte {offset}")]
    TrailingData { offset: u64, bytes: u64 },
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("compression failed: {0}")]
    Compress(String),
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    b
}

/// Seals `plain` with zstd at `level` and the keyring's current key.
pub fn seal(plain: &[u8], ring: &KeyRing, level: i32) -> Result<Vec<u8>, EnvelopeError> {
    seal_with_chunk(plain, ring, level, DEFAULT_CHUNK)
}

pub fn seal_with_chunk(
    plain: &[u8],
    ring: &KeyRing,
    level: i32,
    chunk: u32,
) -> Result<Vec<u8>, EnvelopeError> {
    assert!(chunk > 0, "chunk size must be positive");
    let compressed =
        zstd::bulk::compress(plain, level).map_err(|e| EnvelopeError::Compress(e.to_string()))?;
    let (key_id, master) = ring.current();
    let data_key: [u8; 32] = random();
    let wrap_nonce: [u8; 12] = random();
    let mut wrap_aad = WRAP_AAD.to_vec();
    wrap_aad.extend_from_slice(key_id.as_bytes());
    let wrapped = Aes256Gcm::new_from_slice(master)
        .expect("32-byte key")
        .encrypt(
            Nonce::from_slice(&wrap_nonce),
            Payload {
                msg: &data_key,
                aad: &wrap_aad,
            },
        )
        .expect("AES-GCM encryption of 32 bytes cannot fail");
    let prefix: [u8; 7] = random();

    let mut out =
        Vec::with_capacity(compressed.len() + compressed.len() / chunk as usize * 20 + 160);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VERSION, ZSTD, AES_256_GCM, key_id.len() as u8]);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&chunk.to_le_bytes());
    out.extend_from_slice(&(plain.len() as u64).to_le_bytes());
    out.extend_from_slice(&(compressed.len() as u64).to_le_bytes());
    let header = out.clone();

    let cipher = Aes256Gcm::new_from_slice(&data_key).expect("32-byte key");
    let pieces: Vec<&[u8]> = if compressed.is_empty() {
        vec![&[][..]]
    } else {
        compressed.chunks(chunk as usize).collect()
    };
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let nonce = chunk_nonce(&prefix, i as u32, i == last);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: piece,
                    aad: &header,
                },
            )
            .expect("AES-GCM encryption cannot fail for chunk-sized input");
        out.extend_from_slice(&(ct.len() as u32).to_le_bytes());
        out.extend_from_slice(&ct);
    }
    Ok(out)
}

fn chunk_nonce(prefix: &[u8; 7], index: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// What the header of a sealed object says (readable without the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeInfo {
    pub key_id: String,
    pub plain_len: u64,
    pub compressed_len: u64,
    pub chunk_size: u32,
    pub header_len: usize,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.buf.len() - self.pos < n {
            return Err(EnvelopeError::Truncated {
                what,
                offset: self.buf.len() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
}

struct Header<'a> {
    info: EnvelopeInfo,
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    prefix: [u8; 7],
}

fn parse_header(sealed: &[u8]) -> Result<Header<'_>, EnvelopeError> {
    let mut c = Cursor {
        buf: sealed,
        pos: 0,
    };
    if c.take(8, "header").map_err(|_| EnvelopeError::NotSealed)? != MAGIC {
        return Err(EnvelopeError::NotSealed);
    }
    let fixed = c.take(4, "header")?;
    if fixed[0] != VERSION || fixed[1] != ZSTD || fixed[2] != AES_256_GCM {
        return Err(EnvelopeError::Unsupported(format!(
            "version {}, compression {}, cipher {}",
            fixed[0], fixed[1], fixed[2]
        )));
    }
    let key_id = String::from_utf8_lossy(c.take(fixed[3] as usize, "key id")?).into_owned();
    let wrap_nonce = c.take(12, "wrap nonce")?;
    let wrapped = c.take(32 + TAG, "wrapped data key")?;
    let prefix: [u8; 7] = c.take(7, "nonce prefix")?.try_into().expect("7 bytes");
    let chunk_size = u32::from_le_bytes(c.take(4, "chunk size")?.try_into().expect("4"));
    let plain_len = u64::from_le_bytes(c.take(8, "plaintext length")?.try_into().expect("8"));
    let compressed_len = u64::from_le_bytes(c.take(8, "compressed length")?.try_into().expect("8"));
    if chunk_size == 0 || plain_len > MAX_PLAIN {
        return Err(EnvelopeError::Unsupported(format!(
            "chunk size {chunk_size}, plaintext length {plain_len}"
        )));
    }
    Ok(Header {
        info: EnvelopeInfo {
            key_id,
            plain_len,
            compressed_len,
            chunk_size,
            header_len: c.pos,
        },
        wrap_nonce,
        wrapped,
        prefix,
    })
}

/// Reads the header only: key id and sizes.
pub fn inspect(sealed: &[u8]) -> Result<EnvelopeInfo, EnvelopeError> {
    parse_header(sealed).map(|h| h.info)
}

/// Verifies and opens a sealed object; returns the original plaintext or the first failure.
pub fn open(sealed: &[u8], ring: &KeyRing) -> Result<Vec<u8>, EnvelopeError> {
    let h = parse_header(sealed)?;
    let info = &h.info;
    let master = ring
        .get(&info.key_id)
        .ok_or_else(|| EnvelopeError::UnknownKey {
            key_id: info.key_id.clone(),
            have: ring.ids().join(", "),
        })?;
    let mut wrap_aad = WRAP_AAD.to_vec();
    wrap_aad.extend_from_slice(info.key_id.as_bytes());
    let data_key = Aes256Gcm::new_from_slice(master)
        .expect("32-byte key")
        .decrypt(
            Nonce::from_slice(h.wrap_nonce),
            Payload {
                msg: h.wrapped,
                aad: &wrap_aad,
            },
        )
        .map_err(|_| EnvelopeError::WrongKey {
            key_id: info.key_id.clone(),
        })?;
    let cipher = Aes256Gcm::new_from_slice(&data_key).expect("32-byte key");
    let header = &sealed[..info.header_len];

    let mut compressed = Vec::with_capacity(info.compressed_len.min(MAX_PLAIN) as usize);
    let mut c = Cursor {
        buf: sealed,
        pos: info.header_len,
    };
    let mut index: u32 = 0;
    loop {
        if c.pos == sealed.len() {
            return Err(EnvelopeError::MissingFinalChunk { chunks: index });
        }
        let offset = c.pos as u64;
        let len = u32::from_le_bytes(c.take(4, "chunk length")?.try_into().expect("4")) as usize;
        if len < TAG || len > info.chunk_size as usize + TAG {
            return Err(EnvelopeError::Chunk { index, offset });
        }
        let ct = c.take(len, "chunk")?;
        let is_last = c.pos == sealed.len();
        let attempt = |last: bool| {
            cipher.decrypt(
                Nonce::from_slice(&chunk_nonce(&h.prefix, index, last)),
                Payload {
                    msg: ct,
                    aad: header,
                },
            )
        };
        match attempt(is_last) {
            Ok(pt) => {
                compressed.extend_from_slice(&pt);
                if is_last {
                    break;
                }
            }
            // a final chunk followed by more bytes: something was appended
            Err(_) if !is_last && attempt(true).is_ok() => {
                return Err(EnvelopeError::TrailingData {
                    offset: c.pos as u64,
                    bytes: (sealed.len() - c.pos) as u64,
                });
            }
            // the last chunk present is not marked final: the object was cut at a chunk boundary
            Err(_) if is_last && attempt(false).is_ok() => {
                return Err(EnvelopeError::MissingFinalChunk { chunks: index + 1 });
            }
            Err(_) => return Err(EnvelopeError::Chunk { index, offset }),
        }
        index = index
            .checked_add(1)
            .ok_or(EnvelopeError::Chunk { index, offset })?;
    }
    if compressed.len() as u64 != info.compressed_len {
        return Err(EnvelopeError::Decompress(format!(
            "{} compressed bytes, header says {}",
            compressed.len(),
            info.compressed_len
        )));
    }
    let plain = zstd::bulk::decompress(&compressed, info.plain_len as usize)
        .map_err(|e| EnvelopeError::Decompress(e.to_string()))?;
    if plain.len() as u64 != info.plain_len {
        return Err(EnvelopeError::Decompress(format!(
            "{} bytes, header says {}",
            plain.len(),
            info.plain_len
        )));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests;
