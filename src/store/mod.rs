//! The state machine: documents of every log group in one embedded redb database.
//!
//! Entries are applied in index order and idempotently: each group's applied index is
//! written in the same redb transaction as the documents it covers, and an entry at or below
//! it is skipped. Batches commit without fsync (`Durability::None`), and a periodic durable
//! checkpoint makes everything up to it persistent; after a crash the group replays the WAL
//! from the last checkpoint. The WAL, not this store, is what acknowledges a write.
//!
//! Keys: `collection 0x00 key`. Collection names never contain 0x00 (validated at the API),
//! so each collection's documents form one contiguous, ordered range.

mod changes;
mod command;
mod conflicts;
mod document;
mod error;
mod merge_apply;
mod scan;
mod snapshot;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

pub use changes::{CAPTURED_CATALOG, ChangeId, ChangeOp, ChangeRow, ChangesPage};

pub use command::{Command, CommandKind, EncodedCommand, Precondition, encode_batch, kind_of};
pub use conflicts::{ConflictRecord, ConflictSide};
pub use document::Document;
pub use error::StoreError;
pub use merge_apply::{MergeHead, MergeValue, OriginSet, decode_head, json_of, resolve_custom};
pub use scan::{DocsPage, ScannedDoc};
pub use snapshot::{SnapshotError, SnapshotHead};

use crate::clock::Timestamp;
use crate::wal::Entry;
use error::db;

const APPLIED: TableDefinition<u32, &[u8]> = TableDefinition::new("applied");
/// Per group: the latest membership entry as `index u64, term u64, body`.
const MEMBERSHIP: TableDefinition<u32, &[u8]> = TableDefinition::new("membership");

/// The latest membership change a group has applied (the body is the group layer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMembership {
    pub index: u64,
    pub term: u64,
    pub body: Vec<u8>,
}

/// A collection no client can name (client collection names start with a letter or digit):
/// the group's own settings, written through its log like any document so every replica,
/// every snapshot and every restore carries them.
pub const GROUP_COLLECTION: &str = "_group";
/// Key of the group's ack policy (JSON) in [`GROUP_COLLECTION`].
pub const ACK_POLICY_KEY: &str = "ack";

/// How far a group's log has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppliedState {
    pub index: u64,
    pub term: u64,
    pub hlc: Timestamp,
}

/// What applying one entry did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ApplyOutcome {
    Written {
        version: u64,
    },
    Deleted {
        version: u64,
    },
    NotFound,
    PreconditionFailed {
        current: Option<u64>,
    },
    Noop,
    /// At or below the applied index: applied before (replay after a crash).
    AlreadyApplied,
    /// A batch entry: one outcome per write, in order.
    Batch(Vec<ApplyOutcome>),
    /// A multi-master version (`Command::Merge`): its version in the origin log, whether
    /// it is a delete, and the vector it was given (what its writer had seen).
    Merged {
        version: u64,
        deleted: bool,
        vv: crate::merge::VersionVector,
    },
}

pub struct Store {
    db: Database,
    /// Multi-master origin logs by group: which others to compare a version with.
    origins: RwLock<HashMap<u32, Arc<OriginSet>>>,
}

fn docs_table(group: u32) -> String {
    format!("docs.g{group}")
}

fn doc_key(collection: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(collection.len() + 1 + key.len());
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(db("open"))?;
        Ok(Store {
            db,
            origins: RwLock::new(HashMap::new()),
        })
    }

    /// Makes every group of `set` compare the versions it applies with the others' (the
    /// conflict feed). Without it a version is still applied, only not compared.
    pub fn register_origins(&self, set: OriginSet) {
        let set = Arc::new(set);
        let mut map = self.origins.write().unwrap_or_else(|e| e.into_inner());
        for (_, g) in &set.origins {
            map.insert(*g, set.clone());
        }
    }

    /// Read repair: installs another region's later head of `group`'s document (see
    /// `merge_apply::repair`); whether it was newer than this region's.
    pub fn repair_head(
        &self,
        group: u32,
        collection: &str,
        key: &str,
        raw: &[u8],
    ) -> Result<bool, StoreError> {
        let origins = self.origins_of(group);
        let mut tx = self.db.begin_write().map_err(db("begin write"))?;
        tx.set_durability(Durability::None)
            .map_err(db("set durability"))?;
        let installed = merge_apply::repair(&tx, group, origins.as_deref(), collection, key, raw)?;
        tx.commit().map_err(db("commit"))?;
        Ok(installed)
    }

    /// Every origin's raw head of `collection/key` (as stored, for a read repair elsewhere).
    pub fn merge_heads_raw(
        &self,
        groups: &[u32],
        collection: &str,
        key: &str,
    ) -> Result<Vec<(u32, Vec<u8>)>, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let k = doc_key(collection, key);
        let mut out = Vec::with_capacity(groups.len());
        for g in groups {
            let name = docs_table(*g);
            let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => continue,
                Err(e) => return Err(db("open docs table")(e)),
            };
            if let Some(v) = table.get(k.as_slice()).map_err(db("read document"))? {
                out.push((*g, v.value().to_vec()));
            }
        }
        Ok(out)
    }

    /// Every origin's head of `collection/key`, read in one transaction (one state).
    pub fn merge_heads(
        &self,
        groups: &[u32],
        collection: &str,
        key: &str,
    ) -> Result<Vec<MergeHead>, StoreError> {
        let what = format!("document {collection}/{key}");
        self.merge_heads_raw(groups, collection, key)?
            .iter()
            .map(|(_, raw)| merge_apply::head_of(raw, &what))
            .collect()
    }

    /// The origins registered for `group` (`register_origins`), if it is an origin log.
    fn origins_of(&self, group: u32) -> Option<Arc<OriginSet>> {
        self.origins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&group)
            .cloned()
    }

    /// The applied state of `group` as of the latest commit (durable or not).
    pub fn applied(&self, group: u32) -> Result<AppliedState, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let table = match tx.open_table(APPLIED) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(AppliedState::default()),
            Err(e) => return Err(db("open applied table")(e)),
        };
        match table.get(group).map_err(db("read applied"))? {
            None => Ok(AppliedState::default()),
            Some(v) => decode_applied(v.value()).ok_or_else(|| StoreError::Corrupt {
                what: format!("applied state of group {group}"),
                reason: "wrong length".into(),
            }),
        }
    }

    /// Applies `entries` (ascending indexes) in one transaction; returns one outcome each.
    pub fn apply_batch(
        &self,
        group: u32,
        entries: &[&Entry],
        durable: bool,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        let mut tx = self.db.begin_write().map_err(db("begin write"))?;
        if !durable {
            tx.set_durability(Durability::None)
                .map_err(db("set durability"))?;
        }
        let name = docs_table(group);
        let mut outcomes = Vec::with_capacity(entries.len());
        {
            let mut applied_table = tx.open_table(APPLIED).map_err(db("open applied table"))?;
            let mut applied = match applied_table.get(group).map_err(db("read applied"))? {
                Some(v) => decode_applied(v.value()).unwrap_or_default(),
                None => AppliedState::default(),
            };
            let mut docs = tx
                .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .map_err(db("open docs table"))?;
            let mut membership = tx.open_table(MEMBERSHIP).map_err(db("open membership"))?;
            let mut changes = changes::Recorder::open(&tx, group)?;
            let origins = self.origins_of(group);
            let mut ctx = ApplyCtx {
                tx: &tx,
                group,
                origins: origins.as_deref(),
            };
            for entry in entries {
                if entry.index <= applied.index {
                    outcomes.push(ApplyOutcome::AlreadyApplied);
                    continue;
                }
                let cmd = Command::decode(&entry.payload).map_err(|e| StoreError::BadEntry {
                    index: entry.index,
                    reason: e.to_string(),
                })?;
                if let Command::Membership(body) = &cmd {
                    let mut v = Vec::with_capacity(16 + body.len());
                    v.extend_from_slice(&entry.index.to_le_bytes());
                    v.extend_from_slice(&entry.term.to_le_bytes());
                    v.extend_from_slice(body);
                    membership
                        .insert(group, v.as_slice())
                        .map_err(db("write membership"))?;
                }
                changes.entry();
                outcomes.push(apply_one(
                    &mut ctx,
                    &mut docs,
                    &mut changes,
                    entry,
                    &entry.origin,
                    cmd,
                )?);
                applied = AppliedState {
                    index: entry.index,
                    term: entry.term,
                    hlc: entry.hlc,
                };
            }
            applied_table
                .insert(group, encode_applied(&applied).as_slice())
                .map_err(db("write applied"))?;
        }
        tx.commit().map_err(db("commit"))?;
        Ok(outcomes)
    }

    /// The latest membership entry `group` has applied, if any.
    pub fn membership(&self, group: u32) -> Result<Option<StoredMembership>, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let table = match tx.open_table(MEMBERSHIP) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db("open membership table")(e)),
        };
        let Some(v) = table.get(group).map_err(db("read membership"))? else {
            return Ok(None);
        };
        decode_membership(v.value()).map(Some)
    }

    /// Makes every commit so far durable.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db("begin checkpoint"))?;
        tx.commit().map_err(db("checkpoint commit"))
    }

    pub fn get(
        &self,
        group: u32,
        collection: &str,
        key: &str,
    ) -> Result<Option<Document>, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = docs_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db("open docs table")(e)),
        };
        let Some(v) = table
            .get(doc_key(collection, key).as_slice())
            .map_err(db("read document"))?
        else {
            return Ok(None);
        };
        Document::decode(v.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                what: format!("document {collection}/{key}"),
                reason: e.to_string(),
            })
    }

    /// Keys of `collection` starting with `prefix`, strictly after `start_after`, in order,
    /// with their versions; at most `limit`.
    pub fn list(
        &self,
        group: u32,
        collection: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = docs_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db("open docs table")(e)),
        };
        let lower = doc_key(collection, prefix);
        let start = match start_after {
            Some(after) if after >= prefix => {
                let mut k = doc_key(collection, after);
                k.push(0); // the smallest key greater than `after`
                k
            }
            _ => lower.clone(),
        };
        let head = collection.len() + 1;
        let mut out = Vec::new();
        for item in table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("range"))?
        {
            let (k, v) = item.map_err(db("range"))?;
            let k = k.value();
            if !k.starts_with(&lower) || out.len() >= limit {
                break;
            }
            let key = String::from_utf8_lossy(&k[head..]).into_owned();
            let version = Document::decode_version(v.value()).map_err(|e| StoreError::Corrupt {
                what: format!("document {collection}/{key}"),
                reason: e.to_string(),
            })?;
            out.push((key, version));
        }
        Ok(out)
    }

    /// SHA-256 over every (key, document) of `group` in key order: equal digests mean
    /// identical state, which is how replicas are compared.
    pub fn digest(&self, group: u32) -> Result<[u8; 32], StoreError> {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = docs_table(group);
        match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(table) => {
                for item in table.iter().map_err(db("iterate"))? {
                    let (k, v) = item.map_err(db("iterate"))?;
                    h.update((k.value().len() as u32).to_le_bytes());
                    h.update(k.value());
                    h.update((v.value().len() as u32).to_le_bytes());
                    h.update(v.value());
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(db("open docs table")(e)),
        }
        Ok(h.finalize().into())
    }
}

/// What applying a multi-master version needs beyond its own group's table.
struct ApplyCtx<'a> {
    tx: &'a redb::WriteTransaction,
    group: u32,
    origins: Option<&'a OriginSet>,
}

fn apply_one(
    ctx: &mut ApplyCtx<'_>,
    docs: &mut redb::Table<'_, &[u8], &[u8]>,
    changes: &mut changes::Recorder<'_>,
    entry: &Entry,
    origin: &str,
    cmd: Command,
) -> Result<ApplyOutcome, StoreError> {
    let check = |current: Option<u64>, p: Precondition| match p {
        Precondition::None => true,
        Precondition::Version(v) => current == Some(v),
        Precondition::Absent => current.is_none(),
    };
    let change = |op, collection, key, before, after| changes::RawChange {
        op,
        hlc: entry.hlc,
        origin,
        collection,
        key,
        before,
        after,
    };
    Ok(match cmd {
        Command::Put {
            collection,
            key,
            value,
            content_type,
            precondition,
        } => {
            let k = doc_key(&collection, &key);
            let capture = changes::captured(&collection);
            let before = current(docs, &k, capture)?;
            let current = before.as_ref().map(|(v, _)| *v);
            if !check(current, precondition) {
                return Ok(ApplyOutcome::PreconditionFailed { current });
            }
            let doc = Document {
                version: entry.index,
                hlc: entry.hlc,
                content_type,
                value,
            }
            .encode();
            docs.insert(k.as_slice(), doc.as_slice())
                .map_err(db("write document"))?;
            if capture {
                let (op, before) = match &before {
                    Some((_, raw)) => (ChangeOp::Update, Some(raw.as_slice())),
                    None => (ChangeOp::Insert, None),
                };
                changes.record(
                    entry.index,
                    change(op, &collection, &key, before, Some(doc.as_slice())),
                )?;
            }
            ApplyOutcome::Written {
                version: entry.index,
            }
        }
        Command::Delete {
            collection,
            key,
            precondition,
        } => {
            let k = doc_key(&collection, &key);
            let capture = changes::captured(&collection);
            let before = current(docs, &k, capture)?;
            let current = before.as_ref().map(|(v, _)| *v);
            if !check(current, precondition) {
                return Ok(ApplyOutcome::PreconditionFailed { current });
            }
            let Some((_, raw)) = before else {
                return Ok(ApplyOutcome::NotFound);
            };
            docs.remove(k.as_slice()).map_err(db("delete document"))?;
            if capture {
                changes.record(
                    entry.index,
                    change(
                        ChangeOp::Delete,
                        &collection,
                        &key,
                        Some(raw.as_slice()),
                        None,
                    ),
                )?;
            }
            ApplyOutcome::Deleted {
                version: entry.index,
            }
        }
        Command::Merge {
            collection,
            key,
            value,
            content_type,
            seen,
        } => merge_apply::apply(
            ctx.tx,
            docs,
            ctx.group,
            entry,
            origin,
            ctx.origins,
            merge_apply::MergeWrite {
                collection,
                key,
                value,
                content_type,
                seen,
            },
        )?,
        Command::Noop | Command::Membership(_) => ApplyOutcome::Noop,
        Command::Batch(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (origin, c) in items {
                out.push(apply_one(ctx, docs, changes, entry, &origin, c)?);
            }
            ApplyOutcome::Batch(out)
        }
    })
}

/// The stored version of `k`, and with `whole` the stored bytes too (a captured write's
/// before image, kept encoded).
fn current(
    docs: &redb::Table<'_, &[u8], &[u8]>,
    k: &[u8],
    whole: bool,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let Some(v) = docs.get(k).map_err(db("read document"))? else {
        return Ok(None);
    };
    let version = Document::decode_version(v.value()).map_err(|e| StoreError::Corrupt {
        what: "document".into(),
        reason: e.to_string(),
    })?;
    Ok(Some((
        version,
        if whole {
            v.value().to_vec()
        } else {
            Vec::new()
        },
    )))
}

fn decode_membership(v: &[u8]) -> Result<StoredMembership, StoreError> {
    if v.len() < 16 {
        return Err(StoreError::Corrupt {
            what: "membership".into(),
            reason: format!("{} bytes, need at least 16", v.len()),
        });
    }
    Ok(StoredMembership {
        index: u64::from_le_bytes(v[0..8].try_into().expect("8 bytes")),
        term: u64::from_le_bytes(v[8..16].try_into().expect("8 bytes")),
        body: v[16..].to_vec(),
    })
}

fn encode_applied(a: &AppliedState) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[0..8].copy_from_slice(&a.index.to_le_bytes());
    b[8..16].copy_from_slice(&a.term.to_le_bytes());
    b[16..24].copy_from_slice(&a.hlc.packed.to_le_bytes());
    b[24..28].copy_from_slice(&a.hlc.node.to_le_bytes());
    b
}

fn decode_applied(b: &[u8]) -> Option<AppliedState> {
    if b.len() != 28 {
        return None;
    }
    Some(AppliedState {
        index: u64::from_le_bytes(b[0..8].try_into().ok()?),
        term: u64::from_le_bytes(b[8..16].try_into().ok()?),
        hlc: Timestamp {
            packed: u64::from_le_bytes(b[16..24].try_into().ok()?),
            node: u32::from_le_bytes(b[24..28].try_into().ok()?),
        },
    })
}

#[cfg(test)]
mod tests;
