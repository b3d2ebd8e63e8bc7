//! Collection placements changed at run time (`PUT /v1/admin/collections/{c}`).
//!
//! The topology file places each collection until an operator changes it; from then on the
//! catalog's record is the placement in force, on every region and across restarts. A
//! change is recorded in two steps around the group's membership change (see
//! `group/membership.rs`): first the target as `changing_to` (routing still follows the
//! placement in force), then, once the group's leader has committed the new membership, the
//! target as the placement in force. Every region follows the record: it adopts the new
//! voters and learners, starts serving a collection it now holds, and a region no longer
//! placed stops serving it and empties its replica.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CATALOG_COLLECTION, Catalog, CatalogError};
use crate::config::Placement;
use crate::group::{GroupId, Groups, LogGroup, spec};

/// Silence from every leader after which a replica the placement no longer holds is emptied.
const LET_GO: Duration = Duration::from_secs(3);

/// How often every region compares its replicas with the placements in force.
const FOLLOW_TICK: Duration = Duration::from_millis(300);

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
pub struct Cache {
    applied: u64,
    records: std::collections::HashMap<String, Option<(PlacementRecord, u64)>>,
}

fn key(collection: &str) -> String {
    format!("placement/{collection}")
}

impl Catalog {
    /// The record of `collection` and its version as this region's replica has it (None:
    /// never changed, the topology file's placement is in force).
    pub fn placement(
        &self,
        collection: &str,
    ) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        let applied = self.meta.applied_index();
        {
            let cache = self.placements.lock().expect("placement cache");
            if cache.applied == applied
                && let Some(hit) = cache.records.get(collection)
            {
                return Ok(hit.clone());
            }
        }
        // the store holds at least what `applied` covers: a record read now is never older
        let record = self.read_placement(collection)?;
        let mut cache = self.placements.lock().expect("placement cache");
        if cache.applied != applied {
            cache.records.clear();
            cache.applied = applied;
        }
        cache.records.insert(collection.to_string(), record.clone());
        Ok(record)
    }

    fn read_placement(
        &self,
        collection: &str,
    ) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        match self.meta.get(CATALOG_COLLECTION, &key(collection))? {
            None => Ok(None),
            Some(doc) => serde_json::from_slice(&doc.value)
                .map(|r| Some((r, doc.version)))
                .map_err(|e| CatalogError::Corrupt {
                    key: key(collection),
                    reason: e.to_string(),
                }),
        }
    }

    /// As [`Catalog::placement`], after catching up with the meta group's leader.
    pub async fn placement_fresh(
        &self,
        collection: &str,
    ) -> Result<Option<(PlacementRecord, u64)>, CatalogError> {
        self.barrier().await?;
        self.placement(collection)
    }

    /// Stores `record` if the stored one is still at `version` (None: absent).
    pub async fn put_placement(
        &self,
        collection: &str,
        version: Option<u64>,
        record: &PlacementRecord,
    ) -> Result<u64, CatalogError> {
        let value = serde_json::to_vec(record).expect("placement record serializes");
        self.put(key(collection), version, value).await
    }
}

/// Runs on every region until the node stops: keeps each replica of a placed collection's
/// group in line with the placement in force.
pub async fn follow(catalog: Arc<Catalog>, groups: Arc<Groups>) {
    let mut last_error = String::new();
    loop {
        tokio::time::sleep(FOLLOW_TICK).await;
        for g in groups.iter() {
            if g.id() == GroupId::META || g.id() == GroupId::DEFAULT_DATA || g.promotes_learner() {
                continue;
            }
            let name = g.spec().name;
            let outcome = match catalog.placement(&name) {
                Ok(Some((record, _))) if record.changing_to.is_none() => {
                    adopt(g, &record.placement).await
                }
                Ok(Some(_)) => Ok(()),
                Ok(None) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = outcome
                && e != last_error
            {
                tracing::warn!(group = %g.id(), collection = %name, error = %e, "following the placement");
                last_error = e;
            }
        }
    }
}

/// Adopts `placement`'s voters and learners; a replica no longer placed is emptied.
async fn adopt(g: &Arc<LogGroup>, placement: &Placement) -> Result<(), String> {
    let target = spec::placement_spec(placement);
    if g.is_leader() && !g.changing_members() {
        // a leader that took over from one that removed itself finishes the removals
        g.remove_unplaced(&target.voters, &target.learners, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
    }
    g.set_placement(target.voters, target.learners);
    if g.is_member() || (g.raft_blank() && g.last_index() == 0) {
        return Ok(());
    }
    if g.leader_silence() < LET_GO {
        // A leader still replicates to this replica: the change is in force, but its last
        // step (removing this replica, which a successor of a leader that removed itself
        // does) is not done yet. Emptying the log under a live replication stream would
        // confuse it; the replica stops serving now and empties once nobody sends to it.
        return Ok(());
    }
    // The record is in force only after the leader committed the membership without this
    // region: nothing it holds is needed, and keeping it would serve stale reads.
    g.halt_raft()
        .await
        .retire()
        .await
        .map_err(|e| e.to_string())
}
