//! Applying a multi-master version (`Command::Merge`) from an origin log.
//!
//! The version's vector is made here, not by the writer: what the writer had seen of the
//! other origins (carried in the command), joined with the origin's previous head of the
//! document (every earlier write of the same origin is applied before it, in log order),
//! and the origin's own position set to this entry's index. Every replica applying the same
//! log computes the same vector, and a later write of an origin always supersedes its
//! earlier ones, however close together they were proposed.
//!
//! Then, when this region knows the collection's other origin logs ([`OriginSet`]), the new
//! head is compared with theirs; a conflict among the live heads that this version is part
//! of is recorded in the feed (`conflicts.rs`), in this same transaction.

use bytes::Bytes;
use redb::{ReadableTable, TableDefinition};

use super::conflicts::{self, ConflictRecord, ConflictSide};
use super::document::Document;
use super::error::{StoreError, db};
use super::{ApplyOutcome, doc_key, docs_table};
use crate::merge::{Envelope, Resolution, Stamp, VersionVector, Versioned, pick};
use crate::wal::Entry;

/// A multi-master collection's origin logs, `(region, group)`: registered by the node for
/// each of them, so applying one can compare with the others.
#[derive(Debug, Clone)]
pub struct OriginSet {
    pub collection: String,
    pub origins: Vec<(String, u32)>,
    /// Whether concurrent heads are conflicts to record (`lww`, `custom`); a CRDT
    /// collection's heads are states that merge, so nothing of them is ever lost.
    pub detect: bool,
    /// The `custom` rule's resolver: a conflict's winner is what it makes of the sides.
    pub resolver: Option<std::sync::Arc<crate::merge::Resolver>>,
}

/// A head's value as a resolver sees it: JSON as JSON, other bytes as text, a delete null.
pub fn json_of(h: &MergeHead) -> serde_json::Value {
    match &h.value.value {
        None => serde_json::Value::Null,
        Some(b) => serde_json::from_slice(b)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(b).into())),
    }
}

/// What the `custom` rule makes of the live versions `live` (deterministic: sorted by stamp).
pub fn resolve_custom(resolver: &crate::merge::Resolver, live: &[&MergeHead]) -> Resolution {
    let sides: Vec<Versioned<serde_json::Value>> = live
        .iter()
        .map(|h| Versioned {
            stamp: h.stamp.clone(),
            vv: h.vv.clone(),
            value: json_of(h),
        })
        .collect();
    resolver.resolve_all(&sides)
}

impl OriginSet {
    fn region_of(&self, group: u32) -> Option<&str> {
        self.origins
            .iter()
            .find(|(_, g)| *g == group)
            .map(|(r, _)| r.as_str())
    }
}

/// What an origin's head of a document holds besides its stamp and vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeValue {
    /// The entry index in its origin log.
    pub version: u64,
    pub content_type: Option<String>,
    /// None: a delete.
    pub value: Option<Bytes>,
}

/// One origin's latest version of a document.
pub type MergeHead = Versioned<MergeValue>;
type Head = MergeHead;

pub(super) struct MergeWrite {
    pub collection: String,
    pub key: String,
    pub value: Option<Bytes>,
    pub content_type: Option<String>,
    pub seen: VersionVector,
}

fn corrupt(what: String) -> impl Fn(crate::util::codec::DecodeError) -> StoreError {
    move |e| StoreError::Corrupt {
        what: what.clone(),
        reason: e.to_string(),
    }
}

/// Decodes a stored multi-master document (as `Store::merge_heads_raw` gives it).
pub fn decode_head(raw: &[u8]) -> Result<MergeHead, StoreError> {
    head_of(raw, "a multi-master version")
}

/// Decodes a stored multi-master document into its head.
pub(super) fn head_of(raw: &[u8], what: &str) -> Result<Head, StoreError> {
    let doc = Document::decode(raw).map_err(corrupt(what.to_string()))?;
    let env = Envelope::decode(&doc.value).map_err(corrupt(what.to_string()))?;
    Ok(Versioned {
        stamp: Stamp {
            hlc: doc.hlc,
            region: env.region,
        },
        vv: env.vv,
        value: MergeValue {
            version: doc.version,
            content_type: doc.content_type,
            value: env.value,
        },
    })
}

#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    tx: &redb::WriteTransaction,
    docs: &mut redb::Table<'_, &[u8], &[u8]>,
    group: u32,
    entry: &Entry,
    origin: &str,
    origins: Option<&OriginSet>,
    w: MergeWrite,
) -> Result<ApplyOutcome, StoreError> {
    let region = origins
        .and_then(|o| o.region_of(group))
        .unwrap_or(origin)
        .to_string();
    let k = doc_key(&w.collection, &w.key);
    let what = format!("document {}/{}", w.collection, w.key);
    let mut vv = w.seen;
    if let Some(prev) = docs.get(k.as_slice()).map_err(db("read document"))? {
        let prev = head_of(prev.value(), &what)?;
        if prev.value.version >= entry.index {
            // A read repair installed this origin's later version already (`repair`): the
            // one this entry makes is older, and the later one was made from it.
            return Ok(ApplyOutcome::Merged {
                version: entry.index,
                deleted: w.value.is_none(),
                vv: prev.vv,
            });
        }
        vv.merge(&prev.vv);
    }
    vv.raise(&region, entry.index);
    let deleted = w.value.is_none();
    let env = Envelope {
        region: region.clone(),
        vv: vv.clone(),
        value: w.value.clone(),
    };
    let doc = Document {
        version: entry.index,
        hlc: entry.hlc,
        content_type: w.content_type.clone(),
        value: Bytes::from(env.encode()),
    }
    .encode();
    docs.insert(k.as_slice(), doc.as_slice())
        .map_err(db("write document"))?;
    let stamped_vv = vv.clone();
    if let Some(set) = origins.filter(|o| o.detect) {
        let mine = Head {
            stamp: Stamp {
                hlc: entry.hlc,
                region,
            },
            vv,
            value: MergeValue {
                version: entry.index,
                content_type: w.content_type,
                value: w.value,
            },
        };
        detect(tx, group, set, &w.collection, &w.key, &k, mine, entry)?;
    }
    Ok(ApplyOutcome::Merged {
        version: entry.index,
        deleted,
        vv: stamped_vv,
    })
}

#[allow(clippy::too_many_arguments)]
fn detect(
    tx: &redb::WriteTransaction,
    group: u32,
    set: &OriginSet,
    collection: &str,
    key: &str,
    k: &[u8],
    mine: Head,
    entry: &Entry,
) -> Result<(), StoreError> {
    let what = format!("document {collection}/{key}");
    let mut heads = vec![mine];
    for (_, g) in set.origins.iter().filter(|(_, g)| *g != group) {
        let name = docs_table(*g);
        let table = tx
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
            .map_err(db("open docs table"))?;
        if let Some(raw) = table.get(k).map_err(db("read document"))? {
            heads.push(head_of(raw.value(), &what)?);
        }
    }
    let Some(p) = pick(&heads) else {
        return Ok(());
    };
    // Only a conflict this version takes part in is new: one among older heads alone was
    // recorded when the last of them arrived.
    if !p.conflict() || !p.live(&heads[0].stamp) {
        return Ok(());
    }
    let side = |h: &Head| ConflictSide {
        region: h.stamp.region.clone(),
        hlc: h.stamp.hlc,
        content_type: h.value.content_type.clone(),
        value: h.value.value.clone(),
    };
    let id = p.id(collection, key);
    let mut rec = ConflictRecord {
        seq: 0,
        key: key.to_string(),
        rule: "lww".into(),
        winner: side(p.winner),
        losers: p.losers.iter().map(|l| side(l)).collect(),
        detected: entry.hlc,
        unresolved: None,
    };
    if let Some(resolver) = &set.resolver {
        rec.rule = "custom".into();
        let live: Vec<&Head> = std::iter::once(p.winner)
            .chain(p.losers.iter().copied())
            .collect();
        match resolve_custom(resolver, &live) {
            Resolution::Resolved(v) => {
                // every side gave way to the resolver's value
                rec.losers = live.iter().map(|h| side(h)).collect();
                rec.losers
                    .sort_by(|a, b| (a.hlc, &a.region).cmp(&(b.hlc, &b.region)));
                rec.winner = ConflictSide {
                    region: "resolver".into(),
                    hlc: p.winner.stamp.hlc,
                    content_type: Some("application/json".into()),
                    value: Some(Bytes::from(v.to_string())),
                };
            }
            Resolution::Unresolved { reason } => rec.unresolved = Some(reason),
        }
    }
    if conflicts::record(tx, collection, &id, rec)? {
        tracing::debug!(%collection, %key, "conflict recorded");
    }
    Ok(())
}

/// Installs `raw` (an origin's head of `collection/key` as another region applied it) when
/// this region's head of that origin is older: a read repair. The bytes are what this
/// region will make itself when it applies that entry (versions are made the same on every
/// replica), so installing them early changes what reads see, never what the log makes; the
/// older entries, applied later, leave it in place. Compared with the other origins like an
/// applied version. Whether it was installed.
pub(super) fn repair(
    tx: &redb::WriteTransaction,
    group: u32,
    origins: Option<&OriginSet>,
    collection: &str,
    key: &str,
    raw: &[u8],
) -> Result<bool, StoreError> {
    let what = format!("repair of {collection}/{key}");
    let new = head_of(raw, &what)?;
    if let Some(region) = origins.and_then(|o| o.region_of(group))
        && new.stamp.region != region
    {
        return Err(StoreError::Corrupt {
            what,
            reason: format!(
                "a version of {} offered as origin {region}'s",
                new.stamp.region
            ),
        });
    }
    let k = doc_key(collection, key);
    {
        let name = docs_table(group);
        let mut docs = tx
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
            .map_err(db("open docs table"))?;
        if let Some(prev) = docs.get(k.as_slice()).map_err(db("read document"))?
            && head_of(prev.value(), &what)?.value.version >= new.value.version
        {
            return Ok(false);
        }
        docs.insert(k.as_slice(), raw)
            .map_err(db("write document"))?;
    }
    if let Some(set) = origins.filter(|o| o.detect) {
        let at = Entry {
            index: new.value.version,
            term: 0,
            hlc: new.stamp.hlc,
            origin: std::sync::Arc::from(new.stamp.region.as_str()),
            payload: Bytes::new(),
        };
        detect(tx, group, set, collection, key, &k, new, &at)?;
    }
    Ok(true)
}

/// After a snapshot of an origin log is installed (a region far behind): compares every
/// document it brought with the other origins' heads, as applying its entries one by one
/// would have, so conflicts among the versions it holds are recorded here too.
pub(super) fn sweep(
    tx: &redb::WriteTransaction,
    group: u32,
    origins: Option<&OriginSet>,
) -> Result<(), StoreError> {
    let Some(set) = origins.filter(|o| o.detect) else {
        return Ok(());
    };
    let prefix = doc_key(&set.collection, "");
    let mut heads = Vec::new();
    {
        let name = docs_table(group);
        let docs = tx
            .open_table(TableDefinition::<&[u8], &[u8]>::new(&name))
            .map_err(db("open docs table"))?;
        for item in docs
            .range::<&[u8]>(prefix.as_slice()..)
            .map_err(db("range"))?
        {
            let (k, v) = item.map_err(db("range"))?;
            if !k.value().starts_with(&prefix) {
                break;
            }
            let key = String::from_utf8_lossy(&k.value()[prefix.len()..]).into_owned();
            let head = head_of(v.value(), &format!("document {}/{key}", set.collection))?;
            heads.push((k.value().to_vec(), key, head));
        }
    }
    for (k, key, head) in heads {
        let at = Entry {
            index: head.value.version,
            term: 0,
            hlc: head.stamp.hlc,
            origin: std::sync::Arc::from(head.stamp.region.as_str()),
            payload: Bytes::new(),
        };
        detect(tx, group, set, &set.collection, &key, &k, head, &at)?;
    }
    Ok(())
}
