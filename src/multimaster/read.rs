//! Reading a multi-master document: every origin's head of it, and the pick among them.

use crate::merge::pick;
use crate::store::{MergeHead, Store, StoreError};

/// A document as the merge of its origins' heads.
#[derive(Debug, Clone)]
pub struct Merged {
    pub winner: MergeHead,
    /// Live versions the winner beat (the feed has them).
    pub losers: usize,
    /// Every live version, the winner first (what a `custom` resolver is given).
    pub live: Vec<MergeHead>,
}

impl Merged {
    /// Whether the document exists (the winner is not a delete).
    pub fn exists(&self) -> bool {
        self.winner.value.value.is_some()
    }
}

pub fn get(
    store: &Store,
    groups: &[u32],
    collection: &str,
    key: &str,
) -> Result<Option<Merged>, StoreError> {
    let heads = store.merge_heads(groups, collection, key)?;
    Ok(pick(&heads).map(|p| Merged {
        winner: p.winner.clone(),
        losers: p.losers.len(),
        live: std::iter::once(p.winner)
            .chain(p.losers.iter().copied())
            .cloned()
            .collect(),
    }))
}

/// Up to `limit` keys of `collection` after `start_after` whose merged version is not a
/// delete, in order, each with its winner's version. A key is only answered once every
/// origin's listing has passed it, so a key one origin holds beyond another's page is not
/// skipped.
pub fn list(
    store: &Store,
    groups: &[u32],
    collection: &str,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, u64)>, StoreError> {
    let page = limit.clamp(16, 1000) + 1;
    let mut cursor = start_after.map(str::to_string);
    let mut out = Vec::new();
    loop {
        let mut keys: Vec<String> = Vec::new();
        // the listing is complete up to the smallest last key of a full page
        let mut bound: Option<String> = None;
        for g in groups {
            let rows = store.list(*g, collection, prefix, cursor.as_deref(), page)?;
            if rows.len() == page {
                let last = rows.last().map(|(k, _)| k.clone()).expect("full page");
                if bound.as_ref().is_none_or(|b| last < *b) {
                    bound = Some(last);
                }
            }
            keys.extend(rows.into_iter().map(|(k, _)| k));
        }
        keys.sort();
        keys.dedup();
        if let Some(b) = &bound {
            keys.retain(|k| k <= b);
        }
        for key in &keys {
            if let Some(m) = get(store, groups, collection, key)?
                && m.exists()
            {
                out.push((key.clone(), m.winner.value.version));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        match (bound, keys.last()) {
            (Some(_), Some(last)) => cursor = Some(last.clone()),
            _ => return Ok(out),
        }
    }
}
