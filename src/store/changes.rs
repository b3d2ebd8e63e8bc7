//! Change rows: what each applied write did, recorded in the same redb transaction as the
//! write itself, so a row exists exactly when its write was applied (a crash loses both or
//! neither, and replay after a crash records it again). This is what change data capture
//! reads (`cdc/`): the store is the one place that knows whether a key existed (insert vs
//! update) and what it held before (the `before` image), and recording here costs the write
//! path one row insert, never a wait on a consumer.
//!
//! Per group, table `changes.g{N}`, key = `index u64 BE ++ seq u32 BE` (seq numbers the
//! writes of a batch entry), so rows are in log order. Client collections and the meta
//! group's catalog (for DDL events): other internal collections (names starting with `_`)
//! are not captured.
//!
//! Each replica holds the rows of what it applied, down to its floor (`changes_floor`): rows
//! at or below the floor are not held here, because they were purged (no slot needs them, or
//! a slot's retention cap was reached) or because the replica was filled from a snapshot. A
//! reader asking below the floor is told so, never handed a silent gap.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::error::db;
use super::{Document, Store, StoreError};
use crate::clock::Timestamp;
use crate::util::codec::{DecodeError, Reader, put_short_bytes};

/// Per group: changes at or below this index are not held here.
pub(super) const CHANGES_FLOOR: TableDefinition<u32, u64> = TableDefinition::new("changes_floor");

pub(super) fn changes_table(group: u32) -> String {
    format!("changes.g{group}")
}

/// What a change did to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// A put of a key that did not exist.
    Insert,
    /// A put of a key that existed.
    Update,
    Delete,
}

/// Where a change sits in its group's log: the entry's index, then the write's place in a
/// batch entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct ChangeId {
    pub index: u64,
    pub seq: u32,
}

impl ChangeId {
    /// The first change of entry `index`.
    pub fn at(index: u64) -> ChangeId {
        ChangeId { index, seq: 0 }
    }

    fn key(&self) -> [u8; 12] {
        let mut k = [0u8; 12];
        k[..8].copy_from_slice(&self.index.to_be_bytes());
        k[8..].copy_from_slice(&self.seq.to_be_bytes());
        k
    }

    fn from_key(k: &[u8]) -> Option<ChangeId> {
        Some(ChangeId {
            index: u64::from_be_bytes(k.get(..8)?.try_into().ok()?),
            seq: u32::from_be_bytes(k.get(8..12)?.try_into().ok()?),
        })
    }
}

/// One applied write, as change data capture sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub id: ChangeId,
    pub op: ChangeOp,
    /// The entry's HLC.
    pub hlc: Timestamp,
    /// The region that accepted the write.
    pub origin: String,
    pub collection: String,
    pub key: String,
    /// The document before the write (updates and deletes).
    pub before: Option<Document>,
    /// The document the write left (inserts and updates).
    pub after: Option<Document>,
}

impl ChangeRow {
    /// The row's stored size, the unit of a slot's backlog.
    pub fn encoded_len(&self) -> usize {
        12 + self.encode().len()
    }

    fn encode(&self) -> Vec<u8> {
        let (before, after) = (
            self.before.as_ref().map(Document::encode),
            self.after.as_ref().map(Document::encode),
        );
        RawChange {
            op: self.op,
            hlc: self.hlc,
            origin: &self.origin,
            collection: &self.collection,
            key: &self.key,
            before: before.as_deref(),
            after: after.as_deref(),
        }
        .encode()
    }

    fn decode(id: ChangeId, b: &[u8]) -> Result<ChangeRow, DecodeError> {
        let mut r = Reader::new(b);
        let op = match r.u8()? {
            1 => ChangeOp::Insert,
            2 => ChangeOp::Update,
            3 => ChangeOp::Delete,
            _ => {
                return Err(DecodeError::Invalid {
                    offset: 0,
                    what: "change op",
                });
            }
        };
        let hlc = Timestamp {
            packed: r.u64()?,
            node: r.u32()?,
        };
        let origin = r.short_str()?.to_string();
        let collection = r.short_str()?.to_string();
        let key = r.short_str()?.to_string();
        let mut doc = || -> Result<Option<Document>, DecodeError> {
            match r.u32()? {
                0 => Ok(None),
                n => Document::decode(r.take(n as usize - 1)?).map(Some),
            }
        };
        let before = doc()?;
        let after = doc()?;
        r.expect_end("change row")?;
        Ok(ChangeRow {
            id,
            op,
            hlc,
            origin,
            collection,
            key,
            before,
            after,
        })
    }
}

/// A change as the apply step has it: the documents still in their stored encoding, so
/// recording one copies bytes and decodes nothing.
pub(super) struct RawChange<'a> {
    pub op: ChangeOp,
    pub hlc: Timestamp,
    pub origin: &'a str,
    pub collection: &'a str,
    pub key: &'a str,
    /// `Document::encode` of the document before and after.
    pub before: Option<&'a [u8]>,
    pub after: Option<&'a [u8]>,
}

impl RawChange<'_> {
    fn encode(&self) -> Vec<u8> {
        let len = |d: Option<&[u8]>| d.map_or(0, <[u8]>::len);
        let mut out = Vec::with_capacity(
            32 + self.origin.len()
                + self.collection.len()
                + self.key.len()
                + len(self.before)
                + len(self.after),
        );
        out.push(match self.op {
            ChangeOp::Insert => 1,
            ChangeOp::Update => 2,
            ChangeOp::Delete => 3,
        });
        out.extend_from_slice(&self.hlc.packed.to_le_bytes());
        out.extend_from_slice(&self.hlc.node.to_le_bytes());
        put_short_bytes(&mut out, self.origin.as_bytes());
        put_short_bytes(&mut out, self.collection.as_bytes());
        put_short_bytes(&mut out, self.key.as_bytes());
        for d in [self.before, self.after] {
            match d {
                None => out.extend_from_slice(&0u32.to_le_bytes()),
                Some(d) => {
                    out.extend_from_slice(&(d.len() as u32 + 1).to_le_bytes());
                    out.extend_from_slice(d);
                }
            }
        }
        out
    }
}

/// The one internal collection whose changes are captured: the meta group's catalog, whose
/// placement records become change data capture's DDL events. (Its name is the catalog's,
/// `catalog::CATALOG_COLLECTION`; the store sits below the catalog and spells it here.)
pub const CAPTURED_CATALOG: &str = "_catalog";

/// Whether writes to `collection` are captured: client collections, and the catalog.
pub(super) fn captured(collection: &str) -> bool {
    !collection.starts_with('_') || collection == CAPTURED_CATALOG
}

/// The change rows table of one apply transaction, numbering the writes of each entry.
pub(super) struct Recorder<'t> {
    table: redb::Table<'t, &'static [u8], &'static [u8]>,
    seq: u32,
}

impl<'t> Recorder<'t> {
    pub(super) fn open(tx: &'t redb::WriteTransaction, group: u32) -> Result<Self, StoreError> {
        let name = changes_table(group);
        let table = tx
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
            .map_err(db("open changes table"))?;
        Ok(Recorder { table, seq: 0 })
    }

    /// Starts the writes of entry `index`.
    pub(super) fn entry(&mut self) {
        self.seq = 0;
    }

    pub(super) fn record(&mut self, index: u64, row: RawChange<'_>) -> Result<(), StoreError> {
        let id = ChangeId {
            index,
            seq: self.seq,
        };
        self.seq += 1;
        self.table
            .insert(id.key().as_slice(), row.encode().as_slice())
            .map_err(db("write change row"))?;
        Ok(())
    }
}

/// A page of change rows.
#[derive(Debug, Default)]
pub struct ChangesPage {
    pub rows: Vec<ChangeRow>,
    /// Whether the scan stopped at `max_rows` or `max_bytes` with rows left.
    pub more: bool,
}

impl Store {
    /// Changes at or below this index are not held here.
    pub fn changes_floor(&self, group: u32) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        match tx.open_table(CHANGES_FLOOR) {
            Ok(t) => Ok(t
                .get(group)
                .map_err(db("read changes floor"))?
                .map_or(0, |v| v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(db("open changes floor")(e)),
        }
    }

    /// Change rows of `group` strictly after `after`, in log order, until `max_rows` rows or
    /// `max_bytes` of them. The caller checks the floor first (`changes_floor`).
    pub fn changes_after(
        &self,
        group: u32,
        after: ChangeId,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<ChangesPage, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = changes_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(ChangesPage::default()),
            Err(e) => return Err(db("open changes table")(e)),
        };
        let mut start = after.key().to_vec();
        start.push(0); // the smallest key after `after`
        let mut page = ChangesPage::default();
        let mut bytes = 0;
        for item in table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("range changes"))?
        {
            if page.rows.len() >= max_rows || bytes >= max_bytes {
                page.more = true;
                break;
            }
            let (k, v) = item.map_err(db("range changes"))?;
            let corrupt = |reason: String| StoreError::Corrupt {
                what: format!("change row of group {group}"),
                reason,
            };
            let id = ChangeId::from_key(k.value()).ok_or_else(|| corrupt("bad key".into()))?;
            bytes += 12 + v.value().len();
            page.rows
                .push(ChangeRow::decode(id, v.value()).map_err(|e| corrupt(e.to_string()))?);
        }
        Ok(page)
    }

    /// How many change rows of `group` lie after `after`, and their bytes, counting at most
    /// `limit` rows (a backlog figure, not a scan of everything).
    pub fn changes_backlog(
        &self,
        group: u32,
        after: ChangeId,
        limit: usize,
    ) -> Result<(u64, u64), StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = changes_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((0, 0)),
            Err(e) => return Err(db("open changes table")(e)),
        };
        let mut start = after.key().to_vec();
        start.push(0);
        let (mut n, mut bytes) = (0u64, 0u64);
        for item in table
            .range::<&[u8]>(start.as_slice()..)
            .map_err(db("range changes"))?
            .take(limit)
        {
            let (_, v) = item.map_err(db("range changes"))?;
            n += 1;
            bytes += 12 + v.value().len() as u64;
        }
        Ok((n, bytes))
    }

    /// The oldest change row of `group` held here and how many rows are held.
    pub fn changes_held(&self, group: u32) -> Result<(Option<ChangeId>, u64), StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let name = changes_table(group);
        let table = match tx.open_table(TableDefinition::<&[u8], &[u8]>::new(&name)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, 0)),
            Err(e) => return Err(db("open changes table")(e)),
        };
        let first = table
            .first()
            .map_err(db("first change"))?
            .and_then(|(k, _)| ChangeId::from_key(k.value()));
        Ok((first, table.len().map_err(db("count changes"))?))
    }

    /// Deletes the change rows of `group` at or below index `through` and raises the floor
    /// to it; returns how many rows went.
    pub fn purge_changes(&self, group: u32, through: u64) -> Result<u64, StoreError> {
        let tx = self.db.begin_write().map_err(db("begin write"))?;
        let mut gone = 0u64;
        {
            let name = changes_table(group);
            let mut table = tx
                .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
                .map_err(db("open changes table"))?;
            let end = ChangeId {
                index: through.saturating_add(1),
                seq: 0,
            }
            .key();
            table
                .retain_in::<&[u8], _>(..end.as_slice(), |_, _| {
                    gone += 1;
                    false
                })
                .map_err(db("purge changes"))?;
            let mut floor = tx
                .open_table(CHANGES_FLOOR)
                .map_err(db("open changes floor"))?;
            let old = floor
                .get(group)
                .map_err(db("read changes floor"))?
                .map_or(0, |v| v.value());
            floor
                .insert(group, old.max(through))
                .map_err(db("write changes floor"))?;
        }
        tx.commit().map_err(db("commit purge"))?;
        Ok(gone)
    }
}

/// Drops `group`'s change rows and sets its floor, in the caller's transaction (a snapshot
/// install or a cleared replica: what came before is not held here).
pub(super) fn reset(tx: &redb::WriteTransaction, group: u32, floor: u64) -> Result<(), StoreError> {
    let name = changes_table(group);
    tx.delete_table(TableDefinition::<&[u8], &[u8]>::new(&name))
        .map_err(db("drop changes table"))?;
    let mut t = tx
        .open_table(CHANGES_FLOOR)
        .map_err(db("open changes floor"))?;
    t.insert(group, floor).map_err(db("write changes floor"))?;
    Ok(())
}
