//! Collection placements changed at run time, as records in the meta group's catalog.
//!
//! The topology file places each collection until an operator changes it; from then on the
//! catalog's record is the placement in force, on every region and across restarts. A
//! change is recorded in two steps around the group's membership change (`change.rs`):
//! first the target as `changing_to` (routing still follows the placement in force), then,
//! once the group's leader has committed the new membership, the target as the placement
//! in force.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogError};
use crate::config::Placement;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRecord {
    /// The placement in force: who serves the collection.
    pub placement: Placement,
    /// Set while the group's leader moves the group to this placement.
    pub changing_to: Option<Placement>,
    /// Completed changes so far.
    pub changes: u64,
}

/// Placement records read at one meta-group applied index.
#[derive(Default)]
struct Cache {
    applied: u64,
    records: std::collections::HashMap<String, Option<(PlacementRecord, u64)>>,
}

fn key(collection: &str) -> String {
    format!("placement/{collection}")
}

/// The placement records in the catalog. Reads are cached as of the meta group's applied
/// index: every request asks who serves its collection, and the answer changes only when
/// the meta group applies something.
pub struct PlacementRecords {
    catalog: Arc<Catalog>,
    cache: Mutex<Cache>,
}

impl PlacementRecords {
    pub fn new(catalog: Arc<Catalog>) -> Arc<PlacementRecords> {
        Arc::new(PlacementRecords {
            catalog,
            cache: Mutex::default(),
        })
    }

    /// The record of `collection` and its version as this region's replica has it (None:
    /// never changed, the topology file's placement is in force).
    pub fn get(&self, collection: &str) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        let applied = self.catalog.applied_index();
        {
            let cache = self.cache.lock().expect("placement cache");
            if cache.applied == applied
                && let Some(hit) = cache.records.get(collection)
            {
                return Ok(hit.clone());
            }
        }
        // the store holds at least what `applied` covers: a record read now is never older
        let record = self.read(collection)?;
        let mut cache = self.cache.lock().expect("placement cache");
        if cache.applied != applied {
            cache.records.clear();
            cache.applied = applied;
        }
        cache.records.insert(collection.to_string(), record.clone());
        Ok(record)
    }

    fn read(&self, collection: &str) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        match self.catalog.get(&key(collection))? {
            None => Ok(None),
            Some(doc) => serde_json::from_slice(&doc.value)
                .map(|r| Some((r, doc.version)))
                .map_err(|e| CatalogError::Corrupt {
                    key: key(collection),
                    reason: e.to_string(),
                }),
        }
    }

    /// As [`PlacementRecords::get`], after catching up with the meta group's leader.
    pub async fn get_fresh(
        &self,
        collection: &str,
    ) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        self.catalog.barrier().await?;
        self.get(collection)
    }

    /// Stores `record` if the stored one is still at `version` (None: absent).
    pub async fn put(
        &self,
        collection: &str,
        version: Option<u64>,
        record: &PlacementRecord,
    ) -> Result<u64, CatalogError> {
        let value = serde_json::to_vec(record).expect("placement record serializes");
        self.catalog.put(key(collection), version, value).await
    }
}
