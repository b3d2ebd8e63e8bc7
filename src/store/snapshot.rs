//! A group's whole state as one byte string: what a leader streams to a replica whose log it
//! no longer holds, and what that replica installs in place of its own state.
//!
//! Layout: `"GSN1"`, applied state (28 bytes), membership (`u32` length, then index, term,
//! body), `u64` document count, then per document `u32` key length, key, `u32` value
//! length, value; finally CRC32C of everything before it. Export reads in one redb
//! transaction, so applied index, membership and documents are from the same instant.
//! Install replaces the group's documents in one durable transaction: a crash leaves either
//! the old state or the new one.

use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::error::db;
use super::{
    APPLIED, AppliedState, MEMBERSHIP, Store, StoreError, decode_applied, decode_membership,
    docs_table, encode_applied,
};

const MAGIC: &[u8; 4] = b"GSN1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a snapshot says about the log it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHead {
    pub applied: AppliedState,
    pub membership: Option<super::StoredMembership>,
}

impl Store {
    /// Serializes `group`'s applied state, membership and documents.
    pub fn export_snapshot(&self, group: u32) -> Result<(SnapshotHead, Vec<u8>), StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let applied = match tx.open_table(APPLIED) {
            Ok(t) => t
                .get(group)
                .map_err(db("read applied"))?
                .and_then(|v| decode_applied(v.value()))
                .unwrap_or_default(),
            Err(redb::TableError::TableDoesNotExist(_)) => AppliedState::default(),
            Err(e) => return Err(db("open applied table")(e)),
        };
        let membership_raw = match tx.open_table(MEMBERSHIP) {
            Ok(t) => t
                .get(group)
                .map_err(db("read membership"))?
                .map(|v| v.value().to_vec()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(db("open membership table")(e)),
        };
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&encode_applied(&applied));
        let m = membership_raw.as_deref().unwrap_or(&[]);
        out.extend_from_slice(&(m.len() as u32).to_le_bytes());
        out.extend_from_slice(m);
        let count_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let mut count = 0u64;
        let name = docs_table(group);
        match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(table) => {
                for item in table.iter().map_err(db("iterate"))? {
                    let (k, v) = item.map_err(db("iterate"))?;
                    out.extend_from_slice(&(k.value().len() as u32).to_le_bytes());
                    out.extend_from_slice(k.value());
                    out.extend_from_slice(&(v.value().len() as u32).to_le_bytes());
                    out.extend_from_slice(v.value());
                    count += 1;
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(db("open docs table")(e)),
        }
        out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let membership = membership_raw.map(|m| decode_membership(&m)).transpose()?;
        Ok((
            SnapshotHead {
                applied,
                membership,
            },
            out,
        ))
    }

    /// Replaces `group`'s state with `snapshot` (durably); returns what it covered.
    pub fn install_snapshot(
        &self,
        group: u32,
        snapshot: &[u8],
    ) -> Result<SnapshotHead, SnapshotError> {
        let parsed = parse(snapshot)?;
        let mut tx = self.db.begin_write().map_err(db("begin write"))?;
        tx.set_durability(Durability::Immediate)
            .map_err(db("set durability"))?;
        let name = docs_table(group);
        {
            let def = TableDefinition::<&[u8], &[u8]>::new(&name);
            match tx.delete_table(def) {
                Ok(_) => {}
                Err(e) => return Err(db("drop docs table")(e).into()),
            }
            let mut docs = tx.open_table(def).map_err(db("open docs table"))?;
            for (k, v) in parsed.docs {
                docs.insert(k, v).map_err(db("write document"))?;
            }
            // the changes the snapshot covers were applied elsewhere, not here
            super::changes::reset(&tx, group, parsed.head.applied.index)?;
            let mut applied = tx.open_table(APPLIED).map_err(db("open applied table"))?;
            applied
                .insert(group, encode_applied(&parsed.head.applied).as_slice())
                .map_err(db("write applied"))?;
            let mut membership = tx.open_table(MEMBERSHIP).map_err(db("open membership"))?;
            match parsed.membership_raw {
                Some(m) => {
                    membership
                        .insert(group, m)
                        .map_err(db("write membership"))?;
                }
                None => {
                    membership.remove(group).map_err(db("clear membership"))?;
                }
            }
        }
        let origins = self.origins_of(group);
        super::merge_apply::sweep(&tx, group, origins.as_deref())?;
        tx.commit().map_err(db("commit snapshot"))?;
        Ok(parsed.head)
    }
}

impl Store {
    /// Forgets everything `group` holds (documents, applied position, membership), durably:
    /// the replica will be refilled from its leader.
    pub fn clear_group(&self, group: u32) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(db("begin write"))?;
        tx.set_durability(Durability::Immediate)
            .map_err(db("set durability"))?;
        {
            let name = docs_table(group);
            let def = TableDefinition::<&[u8], &[u8]>::new(&name);
            tx.delete_table(def).map_err(db("drop docs table"))?;
            super::changes::reset(&tx, group, 0)?;
            let mut applied = tx.open_table(APPLIED).map_err(db("open applied table"))?;
            applied.remove(group).map_err(db("clear applied"))?;
            let mut membership = tx.open_table(MEMBERSHIP).map_err(db("open membership"))?;
            membership.remove(group).map_err(db("clear membership"))?;
        }
        tx.commit().map_err(db("commit clear"))?;
        Ok(())
    }
}

struct Parsed<'a> {
    head: SnapshotHead,
    membership_raw: Option<&'a [u8]>,
    docs: Vec<(&'a [u8], &'a [u8])>,
}

fn parse(b: &[u8]) -> Result<Parsed<'_>, SnapshotError> {
    let bad = |what: &str| SnapshotError::Damaged(what.to_string());
    if b.len() < 4 + 28 + 4 + 8 + 4 || &b[..4] != MAGIC {
        return Err(bad("too short or not a georep snapshot"));
    }
    let (body, tail) = b.split_at(b.len() - 4);
    let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(SnapshotError::Damaged(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        )));
    }
    let mut at = 4;
    let mut take = |n: usize| -> Result<&[u8], SnapshotError> {
        let s = body
            .get(at..at + n)
            .ok_or_else(|| bad("truncated record"))?;
        at += n;
        Ok(s)
    };
    let applied = decode_applied(take(28)?).ok_or_else(|| bad("applied state"))?;
    let mlen = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
    let membership_raw = if mlen == 0 { None } else { Some(take(mlen)?) };
    let count = u64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
    let mut docs = Vec::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let klen = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let k = take(klen)?;
        let vlen = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let v = take(vlen)?;
        docs.push((k, v));
    }
    if at != body.len() {
        return Err(bad("trailing bytes after the last document"));
    }
    let membership = membership_raw.map(decode_membership).transpose()?;
    Ok(Parsed {
        head: SnapshotHead {
            applied,
            membership,
        },
        membership_raw,
        docs,
    })
}
