//! A multi-master document version as the store keeps it: the region that wrote it, what
//! that region had seen (its version vector, its own write included), and the value, or
//! nothing for a delete. Deletes are versions too (tombstones): a delete concurrent with a
//! write must be able to lose, or win, like any other version.
//!
//! Wire form: `u8 version (1) | short region | varint n | n × (short region, varint seen) |
//! u8 kind (0 tombstone, 1 value) | value bytes to the end`.

use bytes::Bytes;

use super::version_vector::VersionVector;
use crate::util::codec::{DecodeError, Reader, put_short_bytes, put_varint};

const VERSION: u8 = 1;
/// A vector names at most the placement's regions; more is a corrupt or hostile record.
const MAX_ORIGINS: u64 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub region: String,
    pub vv: VersionVector,
    /// None: the version is a delete.
    pub value: Option<Bytes>,
}

impl Envelope {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.value.as_ref().map_or(0, Bytes::len) + 64);
        out.push(VERSION);
        put_short_bytes(&mut out, self.region.as_bytes());
        encode_vv(&mut out, &self.vv);
        match &self.value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                out.extend_from_slice(v);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.u8()? != VERSION {
            return Err(DecodeError::Invalid {
                offset: 0,
                what: "multi-master envelope version",
            });
        }
        let region = r.short_str()?.to_string();
        let vv = decode_vv(&mut r)?;
        let value = match r.u8()? {
            0 => {
                r.expect_end("bytes after a tombstone")?;
                None
            }
            1 => Some(Bytes::copy_from_slice(r.rest())),
            _ => {
                return Err(DecodeError::Invalid {
                    offset: r.position() - 1,
                    what: "multi-master envelope kind",
                });
            }
        };
        Ok(Envelope { region, vv, value })
    }
}

pub fn encode_vv(out: &mut Vec<u8>, vv: &VersionVector) {
    put_varint(out, vv.len() as u64);
    for (region, n) in vv.iter() {
        put_short_bytes(out, region.as_bytes());
        put_varint(out, n);
    }
}

pub fn decode_vv(r: &mut Reader<'_>) -> Result<VersionVector, DecodeError> {
    let n = r.varint()?;
    if n > MAX_ORIGINS {
        return Err(DecodeError::Invalid {
            offset: r.position(),
            what: "version vector length",
        });
    }
    let mut vv = VersionVector::new();
    for _ in 0..n {
        let region = r.short_str()?.to_string();
        vv.raise(&region, r.varint()?);
    }
    Ok(vv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(entries: &[(&str, u64)]) -> VersionVector {
        let mut v = VersionVector::new();
        for (r, n) in entries {
            v.raise(r, *n);
        }
        v
    }

    #[test]
    fn values_and_tombstones_round_trip() {
        for value in [
            None,
            Some(Bytes::from_static(b"")),
            Some(Bytes::from_static(b"{\"a\":1}")),
        ] {
            let e = Envelope {
                region: "eu".into(),
                vv: vv(&[("eu", 7), ("us", 300)]),
                value,
            };
            assert_eq!(Envelope::decode(&e.encode()).unwrap(), e);
        }
    }

    #[test]
    fn damaged_envelopes_are_errors_not_panics() {
        let e = Envelope {
            region: "eu".into(),
            vv: vv(&[("eu", 7)]),
            value: None,
        }
        .encode();
        for cut in 0..e.len() {
            assert!(Envelope::decode(&e[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong = e.clone();
        wrong[0] = 9;
        assert!(Envelope::decode(&wrong).is_err());
        let mut trailing = e;
        trailing.push(1);
        assert!(
            Envelope::decode(&trailing).is_err(),
            "bytes after a tombstone"
        );
    }
}
