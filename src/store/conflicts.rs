//! The conflict feed of multi-master collections, as this region recorded it: one record per
//! conflict detected while applying an origin log (both sides, their HLCs, the rule and the
//! winner), written in the same transaction as the version that revealed it, so a crash
//! replays both or neither. A conflict's id is the same in every region (`merge::Pick::id`);
//! a replay, or the same conflict seen again, records nothing new.
//!
//! Tables: `conflicts` (`collection 0x00 seq u64 BE` -> record) and `conflict_ids`
//! (`id` -> seq).

use bytes::Bytes;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::Store;
use super::error::{StoreError, db};
use crate::clock::Timestamp;
use crate::util::codec::{DecodeError, Reader, put_short_bytes};

const CONFLICTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("conflicts");
const CONFLICT_IDS: TableDefinition<&[u8], u64> = TableDefinition::new("conflict_ids");

/// One side of a conflict: the version, as its origin wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictSide {
    pub region: String,
    pub hlc: Timestamp,
    pub content_type: Option<String>,
    /// None: the side is a delete.
    pub value: Option<Bytes>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRecord {
    /// Order of detection in this region (ascending, from 1).
    pub seq: u64,
    pub key: String,
    pub rule: String,
    pub winner: ConflictSide,
    pub losers: Vec<ConflictSide>,
    /// The HLC of the version whose apply revealed the conflict.
    pub detected: Timestamp,
    /// `custom`: why the resolver gave no answer (the last writer's version stands
    /// meanwhile, both sides kept here).
    pub unresolved: Option<String>,
}

fn feed_key(collection: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(collection.len() + 9);
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Records a conflict unless it is recorded already; whether it was new.
pub(super) fn record(
    tx: &redb::WriteTransaction,
    collection: &str,
    id: &[u8; 16],
    mut rec: ConflictRecord,
) -> Result<bool, StoreError> {
    let mut ids = tx
        .open_table(CONFLICT_IDS)
        .map_err(db("open conflict ids"))?;
    if ids
        .get(id.as_slice())
        .map_err(db("read conflict id"))?
        .is_some()
    {
        return Ok(false);
    }
    let mut feed = tx.open_table(CONFLICTS).map_err(db("open conflicts"))?;
    rec.seq = last_seq(&feed, collection)? + 1;
    ids.insert(id.as_slice(), rec.seq)
        .map_err(db("write conflict id"))?;
    feed.insert(
        feed_key(collection, rec.seq).as_slice(),
        encode(&rec).as_slice(),
    )
    .map_err(db("write conflict"))?;
    Ok(true)
}

/// The seq of `collection`'s newest record (0: none).
fn last_seq(
    feed: &impl ReadableTable<&'static [u8], &'static [u8]>,
    collection: &str,
) -> Result<u64, StoreError> {
    let lower = feed_key(collection, 0);
    let upper = feed_key(collection, u64::MAX);
    let last = feed
        .range::<&[u8]>(lower.as_slice()..=upper.as_slice())
        .map_err(db("range conflicts"))?
        .next_back()
        .transpose()
        .map_err(db("range conflicts"))?
        .map(|(k, _)| seq_of(k.value()));
    Ok(last.unwrap_or(0))
}

fn seq_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&k[k.len() - 8..]);
    u64::from_be_bytes(b)
}

impl Store {
    /// How many conflicts of `collection` this region has recorded (the last seq).
    pub fn conflicts_recorded(&self, collection: &str) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let feed = match tx.open_table(CONFLICTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(db("open conflicts")(e)),
        };
        last_seq(&feed, collection)
    }

    /// Conflicts of `collection` recorded here after `start_after` (a seq), oldest first.
    pub fn conflicts(
        &self,
        collection: &str,
        start_after: u64,
        limit: usize,
    ) -> Result<Vec<ConflictRecord>, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let feed = match tx.open_table(CONFLICTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db("open conflicts")(e)),
        };
        let lower = feed_key(collection, start_after.saturating_add(1));
        let upper = feed_key(collection, u64::MAX);
        let mut out = Vec::new();
        for item in feed
            .range::<&[u8]>(lower.as_slice()..=upper.as_slice())
            .map_err(db("range conflicts"))?
        {
            if out.len() >= limit {
                break;
            }
            let (_, v) = item.map_err(db("range conflicts"))?;
            out.push(decode(v.value()).map_err(|e| StoreError::Corrupt {
                what: format!("conflict record of {collection}"),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// How many conflicts of `collection` were detected at or after `since` (newest first
    /// scan, so a recent window costs what it holds).
    pub fn conflicts_since(&self, collection: &str, since: Timestamp) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(db("begin read"))?;
        let feed = match tx.open_table(CONFLICTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(db("open conflicts")(e)),
        };
        let lower = feed_key(collection, 0);
        let upper = feed_key(collection, u64::MAX);
        let mut n = 0;
        for item in feed
            .range::<&[u8]>(lower.as_slice()..=upper.as_slice())
            .map_err(db("range conflicts"))?
            .rev()
        {
            let (_, v) = item.map_err(db("range conflicts"))?;
            let rec = decode(v.value()).map_err(|e| StoreError::Corrupt {
                what: format!("conflict record of {collection}"),
                reason: e.to_string(),
            })?;
            if rec.detected.packed < since.packed {
                break;
            }
            n += 1;
        }
        Ok(n)
    }
}

fn put_side(out: &mut Vec<u8>, s: &ConflictSide) {
    put_short_bytes(out, s.region.as_bytes());
    out.extend_from_slice(&s.hlc.packed.to_le_bytes());
    out.extend_from_slice(&s.hlc.node.to_le_bytes());
    put_short_bytes(out, s.content_type.as_deref().unwrap_or("").as_bytes());
    match &s.value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
    }
}

fn side(r: &mut Reader<'_>) -> Result<ConflictSide, DecodeError> {
    let region = r.short_str()?.to_string();
    let hlc = Timestamp {
        packed: r.u64()?,
        node: r.u32()?,
    };
    let ct = r.short_str()?;
    let content_type = (!ct.is_empty()).then(|| ct.to_string());
    let value = match r.u8()? {
        0 => None,
        _ => {
            let n = r.u32()? as usize;
            Some(Bytes::copy_from_slice(r.take(n)?))
        }
    };
    Ok(ConflictSide {
        region,
        hlc,
        content_type,
        value,
    })
}

fn encode(rec: &ConflictRecord) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&rec.seq.to_le_bytes());
    out.extend_from_slice(&(rec.key.len() as u16).to_le_bytes());
    out.extend_from_slice(rec.key.as_bytes());
    put_short_bytes(&mut out, rec.rule.as_bytes());
    out.extend_from_slice(&rec.detected.packed.to_le_bytes());
    out.extend_from_slice(&rec.detected.node.to_le_bytes());
    put_side(&mut out, &rec.winner);
    out.extend_from_slice(&(rec.losers.len() as u16).to_le_bytes());
    for l in &rec.losers {
        put_side(&mut out, l);
    }
    if let Some(reason) = &rec.unresolved {
        out.extend_from_slice(&(reason.len() as u32).to_le_bytes());
        out.extend_from_slice(reason.as_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Result<ConflictRecord, DecodeError> {
    let mut r = Reader::new(bytes);
    let seq = r.u64()?;
    let klen = r.u16()? as usize;
    let at = r.position();
    let key = std::str::from_utf8(r.take(klen)?)
        .map_err(|_| DecodeError::Invalid {
            offset: at,
            what: "utf-8 key",
        })?
        .to_string();
    let rule = r.short_str()?.to_string();
    let detected = Timestamp {
        packed: r.u64()?,
        node: r.u32()?,
    };
    let winner = side(&mut r)?;
    let n = r.u16()?;
    let mut losers = Vec::with_capacity(n as usize);
    for _ in 0..n {
        losers.push(side(&mut r)?);
    }
    let unresolved = if r.remaining() == 0 {
        None
    } else {
        let n = r.u32()? as usize;
        let at = r.position();
        let text = std::str::from_utf8(r.take(n)?).map_err(|_| DecodeError::Invalid {
            offset: at,
            what: "utf-8 reason",
        })?;
        Some(text.to_string())
    };
    r.expect_end("trailing bytes after a conflict record")?;
    Ok(ConflictRecord {
        seq,
        key,
        rule,
        winner,
        losers,
        detected,
        unresolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let side = |region: &str, value: Option<&'static [u8]>| ConflictSide {
            region: region.into(),
            hlc: Timestamp {
                packed: 77 << 16,
                node: 3,
            },
            content_type: value.map(|_| "application/json".to_string()),
            value: value.map(Bytes::from_static),
        };
        let rec = ConflictRecord {
            seq: 4,
            key: "cart/ü".into(),
            rule: "lww".into(),
            winner: side("us", Some(b"{\"n\":2}")),
            losers: vec![side("eu", None), side("ap", Some(b""))],
            detected: Timestamp {
                packed: 99,
                node: 1,
            },
            unresolved: None,
        };
        let bytes = encode(&rec);
        assert_eq!(decode(&bytes).unwrap(), rec);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let failed = ConflictRecord {
            unresolved: Some("the resolver failed: boom".into()),
            ..rec
        };
        let bytes = encode(&failed);
        assert_eq!(decode(&bytes).unwrap(), failed);
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
