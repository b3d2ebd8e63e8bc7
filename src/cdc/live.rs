//! Reading a slot on a running node: its groups as this region holds them, and a read that
//! waits (bounded) for a first change. Shared by `GET /v1/slots/{name}/changes` and the
//! sinks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::position::Position;
use super::reader::{self, Batch, ReadError, ReadLimits};
use super::slot::SlotFilter;
use crate::group::{Groups, LogGroup};
use crate::ids::GroupId;
use crate::store::Store;

/// How often a waiting read looks for newly applied entries.
const POLL: Duration = Duration::from_millis(5);

/// The groups a slot follows (those `start` names), as replicated here; the first one this
/// region does not hold is the error.
pub fn held_groups(
    groups: &Groups,
    start: &Position,
) -> Result<Vec<(GroupId, Arc<LogGroup>)>, ReadError> {
    start
        .groups()
        .map(|(id, _)| match groups.get(id) {
            Some(g) if g.is_member() => Ok((id, g.clone())),
            _ => Err(ReadError::NotHeld { group: id }),
        })
        .collect()
}

/// Reads a batch after `from`; with none, waits up to `wait` for an entry to be applied and
/// reads on from where the last read looked.
pub async fn next_batch(
    groups: &[(GroupId, Arc<LogGroup>)],
    filter: &SlotFilter,
    from: &Position,
    max: usize,
    wait: Duration,
) -> Result<Batch, ReadError> {
    let deadline = Instant::now() + wait;
    let stores: HashMap<GroupId, &Store> = groups
        .iter()
        .map(|(id, g)| (*id, g.store().as_ref()))
        .collect();
    let mut from = from.clone();
    loop {
        let applied: Vec<u64> = groups.iter().map(|(_, g)| g.applied_index()).collect();
        let batch = reader::read(&stores, filter, &from, ReadLimits::events(max))?;
        if !batch.events.is_empty() || batch.more || Instant::now() >= deadline {
            return Ok(batch);
        }
        from = batch.frontier;
        while groups
            .iter()
            .map(|(_, g)| g.applied_index())
            .eq(applied.iter().copied())
        {
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
