//! The commands a data group's log carries, and their binary encoding (the WAL payload).

use bytes::Bytes;

use crate::merge::VersionVector;
use crate::merge::envelope::{decode_vv, encode_vv};
use crate::util::codec::{DecodeError, Reader, put_short_bytes};

/// A condition checked when the command is applied, so compare-and-set is decided in log
/// order on every replica alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    None,
    /// `If-Match: <version>`: the document exists at exactly this version.
    Version(u64),
    /// `If-None-Match: *`: the document does not exist.
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Put {
        collection: String,
        key: String,
        value: Bytes,
        content_type: Option<String>,
        precondition: Precondition,
    },
    Delete {
        collection: String,
        key: String,
        precondition: Precondition,
    },
    /// Written by a new leader to commit its term; changes nothing.
    Noop,
    /// A membership change of the log group (openraft's, serialized by the group layer):
    /// the store keeps the latest so a restarted replica knows its group.
    Membership(Bytes),
    /// Several client writes committed as one log entry (one fsync, one replication round),
    /// each with the region its client called. No two touch the same document, so every
    /// write still gets the entry's index as its version.
    Batch(Vec<(String, Command)>),
    /// A write to a multi-master collection in its origin log: a version of the document
    /// (None: a delete) and what the writing region had seen of the other origins. The
    /// store adds the origin's own position at apply, so the vector is the same on every
    /// replica (see `store/merge_apply.rs`).
    Merge {
        collection: String,
        key: String,
        value: Option<Bytes>,
        content_type: Option<String>,
        seen: VersionVector,
    },
}

const PUT: u8 = 1;
const DELETE: u8 = 2;
const NOOP: u8 = 3;
const MEMBERSHIP: u8 = 4;
const BATCH: u8 = 5;
const MERGE: u8 = 6;

impl Command {
    /// The encoded command with its document reference located (without a second pass).
    pub fn encoded(&self) -> EncodedCommand {
        let doc_end = match self {
            Command::Put {
                collection, key, ..
            }
            | Command::Delete {
                collection, key, ..
            }
            | Command::Merge {
                collection, key, ..
            } => 1 + 1 + collection.len() + 2 + key.len(),
            _ => 0,
        };
        EncodedCommand {
            bytes: self.encode(),
            doc_end,
        }
    }

    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            Command::Put {
                collection,
                key,
                value,
                content_type,
                precondition,
            } => {
                out.reserve(value.len() + key.len() + 64);
                out.push(PUT);
                put_doc_ref(&mut out, collection, key, *precondition);
                put_short_bytes(&mut out, content_type.as_deref().unwrap_or("").as_bytes());
                out.extend_from_slice(value);
            }
            Command::Delete {
                collection,
                key,
                precondition,
            } => {
                out.push(DELETE);
                put_doc_ref(&mut out, collection, key, *precondition);
            }
            Command::Merge {
                collection,
                key,
                value,
                content_type,
                seen,
            } => {
                out.reserve(value.as_ref().map_or(0, Bytes::len) + key.len() + 64);
                out.push(MERGE);
                put_doc_ref(&mut out, collection, key, Precondition::None);
                put_short_bytes(&mut out, content_type.as_deref().unwrap_or("").as_bytes());
                encode_vv(&mut out, seen);
                match value {
                    None => out.push(0),
                    Some(v) => {
                        out.push(1);
                        out.extend_from_slice(v);
                    }
                }
            }
            Command::Noop => out.push(NOOP),
            Command::Membership(m) => {
                out.push(MEMBERSHIP);
                out.extend_from_slice(m);
            }
            Command::Batch(items) => {
                out.push(BATCH);
                out.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for (origin, c) in items {
                    put_short_bytes(&mut out, origin.as_bytes());
                    let inner = c.encode();
                    out.extend_from_slice(&(inner.len() as u32).to_le_bytes());
                    out.extend_from_slice(&inner);
                }
            }
        }
        Bytes::from(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
        let mut r = Reader::new(bytes);
        match r.u8()? {
            PUT => {
                let (collection, key, precondition) = doc_ref(&mut r)?;
                let ct = r.short_str()?;
                let value = Bytes::copy_from_slice(r.rest());
                Ok(Command::Put {
                    collection,
                    key,
                    value,
                    content_type: (!ct.is_empty()).then(|| ct.to_string()),
                    precondition,
                })
            }
            DELETE => {
                let (collection, key, precondition) = doc_ref(&mut r)?;
                r.expect_end("trailing bytes after delete")?;
                Ok(Command::Delete {
                    collection,
                    key,
                    precondition,
                })
            }
            MERGE => {
                let (collection, key, _) = doc_ref(&mut r)?;
                let ct = r.short_str()?;
                let content_type = (!ct.is_empty()).then(|| ct.to_string());
                let seen = decode_vv(&mut r)?;
                let value = match r.u8()? {
                    0 => {
                        r.expect_end("trailing bytes after a merge delete")?;
                        None
                    }
                    1 => Some(Bytes::copy_from_slice(r.rest())),
                    _ => {
                        return Err(DecodeError::Invalid {
                            offset: r.position() - 1,
                            what: "merge value kind",
                        });
                    }
                };
                Ok(Command::Merge {
                    collection,
                    key,
                    value,
                    content_type,
                    seen,
                })
            }
            NOOP => Ok(Command::Noop),
            MEMBERSHIP => Ok(Command::Membership(Bytes::copy_from_slice(r.rest()))),
            BATCH => {
                let n = r.u32()? as usize;
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    let origin = r.short_str()?.to_string();
                    let len = r.u32()? as usize;
                    let at = r.position();
                    let c = Command::decode(r.take(len)?)?;
                    if matches!(c, Command::Batch(_) | Command::Membership(_)) {
                        return Err(DecodeError::Invalid {
                            offset: at,
                            what: "command inside a batch",
                        });
                    }
                    items.push((origin, c));
                }
                r.expect_end("trailing bytes after batch")?;
                Ok(Command::Batch(items))
            }
            _ => Err(DecodeError::Invalid {
                offset: 0,
                what: "command tag",
            }),
        }
    }
}

/// A batch of already-encoded writes (each with its origin region): the same bytes as
/// `Command::Batch(..).encode()`, without decoding and re-encoding the values.
pub fn encode_batch<'a>(items: impl ExactSizeIterator<Item = (&'a str, &'a [u8])>) -> Bytes {
    let mut out = Vec::new();
    out.push(BATCH);
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for (origin, c) in items {
        put_short_bytes(&mut out, origin.as_bytes());
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(c);
    }
    Bytes::from(out)
}

/// What an encoded command is, from its first byte alone (no copy of the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind<'a> {
    /// A put, delete or batch: a client write.
    Write,
    Noop,
    Membership(&'a [u8]),
}

pub fn kind_of(encoded: &[u8]) -> Result<CommandKind<'_>, DecodeError> {
    match encoded.first() {
        Some(&PUT) | Some(&DELETE) | Some(&BATCH) | Some(&MERGE) => Ok(CommandKind::Write),
        Some(&NOOP) => Ok(CommandKind::Noop),
        Some(&MEMBERSHIP) => Ok(CommandKind::Membership(&encoded[1..])),
        _ => Err(DecodeError::Invalid {
            offset: 0,
            what: "command tag",
        }),
    }
}

/// An encoded command and where its document reference (collection and key) lies, found
/// once: where the command was encoded, or where a forwarded write arrived. The batcher
/// reads it without parsing the bytes again; the state machine decodes them once, to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedCommand {
    bytes: Bytes,
    /// End of the document reference (which starts at byte 1); 0: the command writes no
    /// single document.
    doc_end: usize,
}

impl EncodedCommand {
    /// Takes bytes that arrived encoded (a forwarded write), finding the reference once.
    pub fn from_bytes(bytes: Bytes) -> EncodedCommand {
        let doc_end = doc_ref_bytes(&bytes).map_or(0, |d| d.len() + 1);
        EncodedCommand { bytes, doc_end }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes naming the document a put or delete writes: what a batch may hold only
    /// once. None for other commands.
    pub fn doc_ref(&self) -> Option<&[u8]> {
        (self.doc_end > 0).then(|| &self.bytes[1..self.doc_end])
    }

    /// Whether it writes a document of `collection`.
    pub fn writes_to(&self, collection: &str) -> bool {
        let name = collection.as_bytes();
        self.doc_ref().is_some_and(|d| {
            d.len() > name.len() && d[0] as usize == name.len() && &d[1..1 + name.len()] == name
        })
    }
}

/// The bytes naming the document an encoded put or delete writes (collection and key).
fn doc_ref_bytes(encoded: &[u8]) -> Option<&[u8]> {
    if !matches!(encoded.first(), Some(&PUT) | Some(&DELETE) | Some(&MERGE)) {
        return None;
    }
    let clen = *encoded.get(1)? as usize;
    let klen_at = 2 + clen;
    let klen = u16::from_le_bytes(encoded.get(klen_at..klen_at + 2)?.try_into().ok()?) as usize;
    encoded.get(1..klen_at + 2 + klen)
}

fn put_doc_ref(out: &mut Vec<u8>, collection: &str, key: &str, p: Precondition) {
    put_short_bytes(out, collection.as_bytes());
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    match p {
        Precondition::None => out.push(0),
        Precondition::Version(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Precondition::Absent => out.push(2),
    }
}

fn doc_ref(r: &mut Reader<'_>) -> Result<(String, String, Precondition), DecodeError> {
    let collection = r.short_str()?.to_string();
    let len = r.u16()? as usize;
    let at = r.position();
    let key = std::str::from_utf8(r.take(len)?)
        .map_err(|_| DecodeError::Invalid {
            offset: at,
            what: "utf-8 key",
        })?
        .to_string();
    let p = match r.u8()? {
        0 => Precondition::None,
        1 => Precondition::Version(r.u64()?),
        2 => Precondition::Absent,
        _ => {
            return Err(DecodeError::Invalid {
                offset: r.position() - 1,
                what: "precondition",
            });
        }
    };
    Ok((collection, key, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let cmds = [
            Command::Put {
                collection: "orders".into(),
                key: "a/b ü".into(),
                value: Bytes::from_static(b"{}"),
                content_type: Some("application/json".into()),
                precondition: Precondition::Version(9),
            },
            Command::Put {
                collection: "c".into(),
                key: "k".into(),
                value: Bytes::new(),
                content_type: None,
                precondition: Precondition::Absent,
            },
            Command::Delete {
                collection: "c".into(),
                key: "k".into(),
                precondition: Precondition::None,
            },
            Command::Merge {
                collection: "carts".into(),
                key: "k".into(),
                value: Some(Bytes::from_static(b"{\"n\":1}")),
                content_type: Some("application/json".into()),
                seen: {
                    let mut v = VersionVector::new();
                    v.raise("us", 41);
                    v
                },
            },
            Command::Merge {
                collection: "carts".into(),
                key: "k".into(),
                value: None,
                content_type: None,
                seen: VersionVector::new(),
            },
            Command::Noop,
            Command::Membership(Bytes::from_static(b"{\"voters\":[1]}")),
            Command::Batch(vec![
                (
                    "eu".into(),
                    Command::Delete {
                        collection: "c".into(),
                        key: "k".into(),
                        precondition: Precondition::None,
                    },
                ),
                ("us".into(), Command::Noop),
            ]),
        ];
        for c in cmds {
            assert_eq!(Command::decode(&c.encode()).unwrap(), c);
        }
        assert!(Command::decode(&[9]).is_err());
        let nested = Command::Batch(vec![("r".into(), Command::Batch(vec![]))]).encode();
        assert!(Command::decode(&nested).is_err(), "batches do not nest");
        let put = Command::Put {
            collection: "orders".into(),
            key: "k1".into(),
            value: Bytes::from_static(b"v"),
            content_type: None,
            precondition: Precondition::None,
        }
        .encode();
        assert_eq!(doc_ref_bytes(&put), Some(&b"\x06orders\x02\x00k1"[..]));
        assert_eq!(doc_ref_bytes(&Command::Noop.encode()), None);
        let del = Command::Delete {
            collection: "c".into(),
            key: "k".into(),
            precondition: Precondition::Version(3),
        };
        let raw = encode_batch([("eu", &put[..]), ("us", &del.encode()[..])].into_iter());
        assert_eq!(
            Command::decode(&raw).unwrap(),
            Command::Batch(vec![
                ("eu".into(), Command::decode(&put).unwrap()),
                ("us".into(), del)
            ])
        );
        assert!(Command::decode(&[DELETE, 1, b'c', 5, 0, b'k']).is_err());
    }

    #[test]
    fn an_encoded_command_knows_its_document_however_it_was_made() {
        let put = Command::Put {
            collection: "_group".into(),
            key: "ack".into(),
            value: Bytes::from_static(b"v"),
            content_type: None,
            precondition: Precondition::Version(3),
        };
        let del = Command::Delete {
            collection: "orders".into(),
            key: "k".into(),
            precondition: Precondition::None,
        };
        for c in [put, del, Command::Noop] {
            let made = c.encoded();
            let arrived = EncodedCommand::from_bytes(made.bytes().clone());
            assert_eq!(made, arrived, "{c:?}");
            assert_eq!(made.doc_ref(), doc_ref_bytes(made.bytes()));
        }
        let put = Command::Put {
            collection: "_group".into(),
            key: "ack".into(),
            value: Bytes::new(),
            content_type: None,
            precondition: Precondition::None,
        }
        .encoded();
        assert!(put.writes_to("_group"));
        assert!(!put.writes_to("_grou"), "a prefix is another collection");
        assert!(!Command::Noop.encoded().writes_to("_group"));
    }
}
