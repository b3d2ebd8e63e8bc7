//! The online placement change, run by the group's leader (the API finds it, see
//! `api/placement.rs`): record the target as `changing_to`, change the group's membership
//! through joint consensus (`group/membership.rs`), set the ack policy through the group's
//! log, record the target as the placement in force. Repeating a change that failed
//! part-way resumes it: every step checks what is already done.

use std::time::{Duration, Instant};

use super::plan::placement_spec;
use super::records::{PlacementRecord, PlacementRecords};
use crate::catalog::CatalogError;
use crate::config::Placement;
use crate::group::{AckPolicy, GroupError, GroupSpec, LogGroup};

/// How long a new replica may take to receive the log before the change gives up.
pub const CATCH_UP: Duration = Duration::from_secs(120);

/// A completed change.
#[derive(Debug)]
pub struct Changed {
    /// The placement in force before.
    pub previous: Placement,
    /// The group's replicas and ack policy now.
    pub members: GroupSpec,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Another change to this placement was recorded meanwhile.
    #[error("another change to this placement was recorded meanwhile: {0}")]
    Conflict(CatalogError),
    #[error(transparent)]
    Catalog(CatalogError),
    #[error(transparent)]
    Group(#[from] GroupError),
}

impl From<CatalogError> for ChangeError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Conflict { .. } => ChangeError::Conflict(e),
            other => ChangeError::Catalog(other),
        }
    }
}

/// The placement in force as the meta group's leader has it (`current` if never changed),
/// the record's version and how many changes it has seen.
async fn recorded(
    records: &PlacementRecords,
    collection: &str,
    current: Placement,
) -> Result<(Placement, Option<u64>, u64), ChangeError> {
    let (record, version) = records
        .get_fresh(collection)
        .await?
        .map_or((None, None), |(r, v)| (Some(r), Some(v)));
    let changes = record.as_ref().map_or(0, |r| r.changes);
    Ok((record.map_or(current, |r| r.placement), version, changes))
}

/// Moves `group` (this replica leads it) to `target`. `current` is the placement in force as
/// this region read it; the record read through the meta group's leader overrides it.
pub async fn run(
    records: &PlacementRecords,
    group: &LogGroup,
    collection: &str,
    current: Placement,
    target: &Placement,
) -> Result<Changed, ChangeError> {
    let started = Instant::now();
    let (previous, version, changes) = recorded(records, collection, current).await?;
    let version = records
        .put(
            collection,
            version,
            &PlacementRecord {
                placement: previous.clone(),
                changing_to: Some(target.clone()),
                changes,
            },
        )
        .await?;
    let members = placement_spec(target);
    group
        .change_members(&members.voters, &members.learners, CATCH_UP)
        .await?;
    if group.spec().ack != members.ack {
        set_ack(group, members.ack).await?;
    }
    records
        .put(
            collection,
            Some(version),
            &PlacementRecord {
                placement: target.clone(),
                changing_to: None,
                changes: changes + 1,
            },
        )
        .await?;
    tracing::info!(%collection, from = ?previous.regions, to = ?target.regions, tier = ?target.tier, "placement changed");
    Ok(Changed {
        previous,
        members,
        took: started.elapsed(),
    })
}

/// A change that moves no replica (a multi-master collection's default consistency or
/// staleness bound): recorded in the catalog in one step, which every region reads on its
/// next request.
pub async fn run_settings(
    records: &PlacementRecords,
    collection: &str,
    current: Placement,
    target: &Placement,
) -> Result<Changed, ChangeError> {
    let started = Instant::now();
    let (previous, version, changes) = recorded(records, collection, current).await?;
    records
        .put(
            collection,
            version,
            &PlacementRecord {
                placement: target.clone(),
                changing_to: None,
                changes: changes + 1,
            },
        )
        .await?;
    tracing::info!(%collection, consistency = ?target.consistency, "placement settings changed");
    Ok(Changed {
        previous,
        members: placement_spec(target),
        took: started.elapsed(),
    })
}

/// Writes the ack policy through the group's log, retrying while leadership moves (a
/// leader the change removed hands over): the same policy written twice is harmless.
async fn set_ack(group: &LogGroup, ack: AckPolicy) -> Result<(), GroupError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match group.set_ack_policy(ack).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(
                GroupError::NoLeader { .. }
                | GroupError::Forward { .. }
                | GroupError::CommitTimeout { .. }
                | GroupError::NotLeader { .. },
            ) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(e) => return Err(e),
        }
    }
}
