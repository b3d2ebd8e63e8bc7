//! Where a new slot starts: in every group that can hold a collection it follows (the
//! default group, and each collection group whose collection matches) and, for DDL events,
//! the meta group if this region holds it, what this region has applied after catching up
//! with the group's leader, so a write acknowledged before the slot was created is not
//! delivered and every later one is. Shared by `POST /v1/slots` and the filtered replicas,
//! which create their own slots.

use std::time::Duration;

use super::position::Position;
use super::reader;
use super::slot::SlotFilter;
use crate::group::{GroupError, Groups};
use crate::ids::GroupId;

/// How long the catch-up with each group's leader may take, and one attempt of it.
const CATCH_UP: Duration = Duration::from_secs(8);
const CATCH_UP_ATTEMPT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "collection {collection:?} (group {group}) is not held in region {region}: create the \
         slot in a region that holds every collection it follows ({})",
        voters.join(", ")
    )]
    NotHeld {
        collection: String,
        group: GroupId,
        region: String,
        voters: Vec<String>,
    },
    #[error(transparent)]
    Group(#[from] GroupError),
}

pub async fn start_here(
    groups: &Groups,
    region: &str,
    filter: &SlotFilter,
) -> Result<Position, StartError> {
    let mut start = Position::new();
    for g in groups.iter() {
        let id = g.id();
        let follows = id == GroupId::DEFAULT_DATA
            || (id == GroupId::META && filter.ddl && g.is_member())
            || (id != GroupId::META && filter.patterns.matches(&g.spec().name));
        if !follows {
            continue;
        }
        if !g.is_member() {
            return Err(StartError::NotHeld {
                collection: g.spec().name.clone(),
                group: id,
                region: region.to_string(),
                voters: g.spec().voters.clone(),
            });
        }
        g.catch_up(CATCH_UP, CATCH_UP_ATTEMPT).await?;
        start.set(id, reader::start_at(g.applied_index()));
    }
    Ok(start)
}
