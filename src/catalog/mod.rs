//! The catalog: what the meta group (every region a voter) records about the data groups.
//!
//! Today it holds, per `standard` group, a [`GroupRecord`]: the epoch, the voter, the
//! learners and whether the learners hold every acknowledged write. Every change is a
//! compare-and-set on the record's version through the meta group's log, which is what makes
//! the catalog the fencing authority: of a promotion and the voter's "learners out of sync"
//! mark, exactly one commits (see `group/fence.rs` and [`failover`]).

pub mod failover;
pub mod session_keys;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::group::{BoxFuture, GroupError, GroupId, GroupSpec, LogGroup, SyncRecorder};
use crate::store::{ApplyOutcome, Command, Precondition, StoreError};

/// The meta group's collection holding the records.
pub const CATALOG_COLLECTION: &str = crate::store::CAPTURED_CATALOG;

/// How long a catalog read or update keeps trying: long enough for the meta group to elect
/// a new leader if its leader just died (3.2-6 s with the default timings).
const META_TIMEOUT: Duration = Duration::from_secs(8);

/// One attempt's share of it: a dead meta leader costs one attempt, not the whole budget.
const META_ATTEMPT: Duration = Duration::from_secs(1);

/// One `standard` group as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// 1 until the first promotion; each promotion adds one.
    pub epoch: u64,
    /// The region whose replica is the group's only voter.
    pub voter: String,
    /// Regions replicating the group as learners, in promotion order.
    pub learners: Vec<String>,
    /// Whether every learner holds every write the voter acknowledged: a promotion needs it.
    pub in_sync: bool,
    /// WAL index of the newest entry the voter held when promoted (0: never promoted); the
    /// superseded voter keeps aside what it holds beyond it.
    pub promoted_at: u64,
    /// The voter before the last promotion.
    pub previous: Option<String>,
}

impl GroupRecord {
    /// The record of a group never promoted: the topology's placement.
    pub fn initial(spec: &GroupSpec) -> GroupRecord {
        GroupRecord {
            epoch: 1,
            voter: spec.voters.first().cloned().unwrap_or_default(),
            learners: spec.learners.clone(),
            in_sync: true,
            promoted_at: 0,
            previous: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading the catalog: {0}")]
    Store(#[from] StoreError),
    #[error("catalog record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("the meta group: {0}")]
    Meta(#[from] GroupError),
    #[error("catalog record {key} changed meanwhile (now at version {current:?})")]
    Conflict { key: String, current: Option<u64> },
    #[error("group {0} is not in the catalog")]
    UnknownGroup(GroupId),
    /// The meta group applied a catalog write as something other than a write (a bug).
    #[error("catalog write of {key} applied as {outcome}")]
    UnexpectedOutcome { key: String, outcome: String },
}

/// The catalog, read from this region's replica of the meta group, written through its
/// leader.
pub struct Catalog {
    meta: Arc<LogGroup>,
    /// The topology's placements: a group's record until the first change.
    specs: HashMap<GroupId, GroupSpec>,
}

fn key(id: GroupId) -> String {
    format!("group/{id}")
}

impl Catalog {
    pub fn new(meta: Arc<LogGroup>, specs: impl IntoIterator<Item = GroupSpec>) -> Arc<Catalog> {
        Arc::new(Catalog {
            meta,
            specs: specs.into_iter().map(|s| (s.id, s)).collect(),
        })
    }

    /// The document at `key` as this region's replica of the meta group has it.
    pub(crate) fn get(&self, key: &str) -> Result<Option<crate::store::Document>, CatalogError> {
        Ok(self.meta.get(CATALOG_COLLECTION, key)?)
    }

    /// How far this region's replica of the meta group has applied (what a cache of
    /// catalog reads is valid for).
    pub(crate) fn applied_index(&self) -> u64 {
        self.meta.applied_index()
    }

    /// The record and its version (None: never written) as this region's replica has it;
    /// it may lag the meta group's leader.
    pub fn record(&self, id: GroupId) -> Result<(GroupRecord, Option<u64>), CatalogError> {
        let spec = self.specs.get(&id).ok_or(CatalogError::UnknownGroup(id))?;
        match self.meta.get(CATALOG_COLLECTION, &key(id))? {
            None => Ok((GroupRecord::initial(spec), None)),
            Some(doc) => serde_json::from_slice(&doc.value)
                .map(|r| (r, Some(doc.version)))
                .map_err(|e| CatalogError::Corrupt {
                    key: key(id),
                    reason: e.to_string(),
                }),
        }
    }

    /// The record as of now (linearizable: after a ReadIndex through the meta leader),
    /// retrying for [`META_TIMEOUT`] while the meta group has no reachable leader.
    pub async fn record_fresh(
        &self,
        id: GroupId,
    ) -> Result<(GroupRecord, Option<u64>), CatalogError> {
        self.barrier().await?;
        self.record(id)
    }

    /// Replaces the record if it is still at `version`; returns once this region's replica
    /// has applied the change, with the new version.
    pub async fn replace(
        &self,
        id: GroupId,
        version: Option<u64>,
        record: &GroupRecord,
    ) -> Result<u64, CatalogError> {
        let value = serde_json::to_vec(record).expect("catalog record serializes");
        self.put(key(id), version, value).await
    }

    /// Writes `value` at `key` if it is still at `version` (None: absent), through the
    /// meta group's log; returns once this region's replica has applied it.
    pub(crate) async fn put(
        &self,
        key: String,
        version: Option<u64>,
        value: Vec<u8>,
    ) -> Result<u64, CatalogError> {
        let committed = self
            .meta
            .propose(Command::Put {
                collection: CATALOG_COLLECTION.into(),
                key: key.clone(),
                value: value.into(),
                content_type: Some("application/json".into()),
                precondition: version.map_or(Precondition::Absent, Precondition::Version),
            })
            .await?;
        match committed.outcome {
            ApplyOutcome::Written { version } => {
                self.meta.wait_applied(committed.index, META_TIMEOUT).await;
                Ok(version)
            }
            ApplyOutcome::PreconditionFailed { current } => {
                Err(CatalogError::Conflict { key, current })
            }
            other => Err(CatalogError::UnexpectedOutcome {
                key,
                outcome: format!("{other:?}"),
            }),
        }
    }

    /// Waits (up to [`META_TIMEOUT`]) until this region's replica has applied everything
    /// the meta group committed before now.
    pub(crate) async fn barrier(&self) -> Result<(), CatalogError> {
        Ok(self.meta.catch_up(META_TIMEOUT, META_ATTEMPT).await?)
    }

    /// Reads the record afresh, applies `change`, and stores it if nobody changed it
    /// meanwhile (retrying a few times). `change` returns None to leave it as it is.
    pub async fn update(
        &self,
        id: GroupId,
        mut change: impl FnMut(&GroupRecord) -> Result<Option<GroupRecord>, GroupError>,
    ) -> Result<GroupRecord, GroupError> {
        let deadline = tokio::time::Instant::now() + META_TIMEOUT;
        loop {
            let (record, version) = self.record_fresh(id).await.map_err(into_group)?;
            let Some(next) = change(&record)? else {
                return Ok(record);
            };
            match self.replace(id, version, &next).await {
                Ok(_) => return Ok(next),
                // Changed meanwhile, or the meta leader failed mid-write (it may have
                // applied it): read again and decide afresh; a compare-and-set never
                // applies twice.
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(into_group(e)),
                Err(CatalogError::Conflict { .. } | CatalogError::Meta(_)) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(into_group(e)),
            }
        }
    }
}

pub(crate) fn into_group(e: CatalogError) -> GroupError {
    match e {
        CatalogError::Meta(g) => match g {
            GroupError::NoLeader { .. } | GroupError::Forward { .. } => {
                GroupError::Catalog(format!("the meta group is unreachable: {g}"))
            }
            other => GroupError::Catalog(other.to_string()),
        },
        other => GroupError::Catalog(other.to_string()),
    }
}

/// `Fenced` unless the record names `region` the voter at `epoch`.
fn fenced_unless_voter(
    group: GroupId,
    r: &GroupRecord,
    region: &str,
    epoch: u64,
) -> Result<(), GroupError> {
    if r.voter != region || r.epoch != epoch {
        return Err(GroupError::Fenced {
            group: group.to_string(),
            epoch: r.epoch,
            voter: r.voter.clone(),
        });
    }
    Ok(())
}

impl SyncRecorder for Catalog {
    fn record_in_sync(
        &self,
        group: GroupId,
        region: &str,
        epoch: u64,
        in_sync: bool,
    ) -> BoxFuture<'_, Result<(), GroupError>> {
        let region = region.to_string();
        Box::pin(async move {
            self.update(group, |r| {
                fenced_unless_voter(group, r, &region, epoch)?;
                Ok((r.in_sync != in_sync).then(|| GroupRecord {
                    in_sync,
                    ..r.clone()
                }))
            })
            .await
            .map(|_| ())
        })
    }

    fn confirm_voter(
        &self,
        group: GroupId,
        region: &str,
        epoch: u64,
    ) -> BoxFuture<'_, Result<(), GroupError>> {
        let region = region.to_string();
        Box::pin(async move {
            self.update(group, |r| {
                fenced_unless_voter(group, r, &region, epoch)?;
                Ok(None)
            })
            .await
            .map(|_| ())
        })
    }
}
