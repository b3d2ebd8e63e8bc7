//! The commands a data group's log carries, and their binary encoding (the WAL payload).

use bytes::Bytes;

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
}

const PUT: u8 = 1;
const DELETE: u8 = 2;
const NOOP: u8 = 3;
const MEMBERSHIP: u8 = 4;

impl Command {
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
            Command::Noop => out.push(NOOP),
            Command::Membership(m) => {
                out.push(MEMBERSHIP);
                out.extend_from_slice(m);
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
            NOOP => Ok(Command::Noop),
            MEMBERSHIP => Ok(Command::Membership(Bytes::copy_from_slice(r.rest()))),
            _ => Err(DecodeError::Invalid {
                offset: 0,
                what: "command tag",
            }),
        }
    }
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
            Command::Noop,
            Command::Membership(Bytes::from_static(b"{\"voters\":[1]}")),
        ];
        for c in cmds {
            assert_eq!(Command::decode(&c.encode()).unwrap(), c);
        }
        assert!(Command::decode(&[9]).is_err());
        assert!(Command::decode(&[DELETE, 1, b'c', 5, 0, b'k']).is_err());
    }
}
