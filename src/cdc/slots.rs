//! Where slots are kept: documents of the reserved collection `_slots` in the meta group (the
//! default group in a single-region topology, which has no meta group), written through its
//! log with compare-and-set, so every region serves them and they survive failover. Reads
//! first catch up with the group's leader (a ReadIndex barrier): a slot created in one region
//! is listed at once in every other.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::position::{Position, PositionError};
use super::slot::{SlotCursor, SlotRecord};
use crate::group::{GroupError, LogGroup};
use crate::store::{ApplyOutcome, Command, Precondition, StoreError};

/// Clients cannot name it (collection names start with a letter or digit).
pub const SLOTS_COLLECTION: &str = "_slots";
/// Each slot's confirmed position, one document per slot.
pub const CURSORS_COLLECTION: &str = "_slot_cursors";

/// Compare-and-set attempts an ack makes against concurrent acks before giving up.
const ACK_ATTEMPTS: usize = 8;

/// How long a read keeps trying to catch up with the leader: long enough for the group to
/// elect a new one if its leader just died (as the catalog's reads do).
const FRESH: Duration = Duration::from_secs(8);

/// One attempt's share of it: a dead leader costs one attempt, not the whole budget.
const ATTEMPT: Duration = Duration::from_secs(1);

/// How long a write waits for this replica to apply it (a forwarded write commits at the
/// leader first).
const READ_YOUR_WRITE: Duration = Duration::from_secs(2);

/// Slots a listing returns at most.
const MAX_SLOTS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SlotStoreError {
    #[error("slot {0:?} already exists")]
    Exists(String),
    #[error("no slot {0:?}")]
    NotFound(String),
    #[error("slot {name:?} changed meanwhile; retry")]
    Conflict { name: String },
    #[error("stored slot {name:?} is unreadable: {reason}")]
    Corrupt { name: String, reason: String },
    #[error("position: {0}")]
    BadPosition(#[from] PositionError),
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn start_cursor(record: &SlotRecord) -> SlotCursor {
    SlotCursor {
        confirmed: record.start.clone(),
        acked_at_ms: 0,
        lost: None,
    }
}

pub struct SlotStore {
    group: Arc<LogGroup>,
}

impl SlotStore {
    pub fn new(group: Arc<LogGroup>) -> SlotStore {
        SlotStore { group }
    }

    pub async fn create(&self, record: &SlotRecord) -> Result<(), SlotStoreError> {
        let name = &record.spec.name;
        match self.put(name, record, Precondition::Absent).await? {
            ApplyOutcome::Written { .. } => {}
            _ => return Err(SlotStoreError::Exists(name.clone())),
        }
        // Overwrites a cursor a dropped slot of this name may have left. Until it lands, a
        // cursor reads as the record's start (`cursor`); an ack racing it can be undone,
        // which redelivers (at-least-once), never skips.
        let cursor = start_cursor(record);
        self.put_doc(CURSORS_COLLECTION, name, &cursor, Precondition::None)
            .await?;
        Ok(())
    }

    /// The slot's cursor and the precondition that replaces it, after catching up with the
    /// leader.
    pub async fn cursor(&self, name: &str) -> Result<(SlotCursor, Precondition), SlotStoreError> {
        let (record, _) = self.get(name).await?;
        match self.read_cursor(name) {
            Ok((c, version)) => Ok((c, Precondition::Version(version))),
            Err(SlotStoreError::NotFound(_)) => Ok((start_cursor(&record), Precondition::Absent)),
            Err(e) => Err(e),
        }
    }

    /// Confirms `position` (per group, never backwards); the cursor as it is now.
    pub async fn ack(
        &self,
        name: &str,
        position: &Position,
        now_ms: u64,
    ) -> Result<SlotCursor, SlotStoreError> {
        for _ in 0..ACK_ATTEMPTS {
            let (mut cursor, version) = self.cursor(name).await?;
            if !cursor.confirmed.advance_to(position)? {
                return Ok(cursor);
            }
            cursor.acked_at_ms = now_ms;
            let outcome = self
                .put_doc(CURSORS_COLLECTION, name, &cursor, version)
                .await?;
            if let ApplyOutcome::Written { .. } = outcome {
                return Ok(cursor);
            }
        }
        Err(SlotStoreError::Conflict {
            name: name.to_string(),
        })
    }

    /// Marks the slot lost (retention purged what it had not confirmed); idempotent.
    pub async fn mark_lost(&self, name: &str, reason: &str) -> Result<(), SlotStoreError> {
        for _ in 0..ACK_ATTEMPTS {
            let (mut cursor, version) = self.cursor(name).await?;
            if cursor.lost.is_some() {
                return Ok(());
            }
            cursor.lost = Some(reason.to_string());
            let outcome = self
                .put_doc(CURSORS_COLLECTION, name, &cursor, version)
                .await?;
            if let ApplyOutcome::Written { .. } = outcome {
                return Ok(());
            }
        }
        Err(SlotStoreError::Conflict {
            name: name.to_string(),
        })
    }

    /// Every slot with its cursor, as this replica holds them now (no catch-up: the
    /// retention task's view, which only holds changes back).
    pub fn local(&self) -> Result<Vec<(SlotRecord, SlotCursor)>, SlotStoreError> {
        let keys = self.group.list(SLOTS_COLLECTION, "", None, MAX_SLOTS)?;
        let mut out = Vec::with_capacity(keys.len());
        for (name, _) in keys {
            if let Some((r, _)) = self.read(&name)? {
                let cursor = match self.read_cursor(&name) {
                    Ok((c, _)) => c,
                    Err(SlotStoreError::NotFound(_)) => start_cursor(&r),
                    Err(e) => return Err(e),
                };
                out.push((r, cursor));
            }
        }
        Ok(out)
    }

    fn read_cursor(&self, name: &str) -> Result<(SlotCursor, u64), SlotStoreError> {
        let Some(doc) = self.group.get(CURSORS_COLLECTION, name)? else {
            return Err(SlotStoreError::NotFound(name.to_string()));
        };
        let cursor = serde_json::from_slice(&doc.value).map_err(|e| SlotStoreError::Corrupt {
            name: name.to_string(),
            reason: format!("cursor: {e}"),
        })?;
        Ok((cursor, doc.version))
    }

    /// The slot and its version, after catching up with the leader.
    pub async fn get(&self, name: &str) -> Result<(SlotRecord, u64), SlotStoreError> {
        self.catch_up().await?;
        self.read(name)?
            .ok_or_else(|| SlotStoreError::NotFound(name.to_string()))
    }

    /// The slot and its cursor after one catch-up with the leader.
    pub async fn get_with_cursor(
        &self,
        name: &str,
    ) -> Result<(SlotRecord, SlotCursor), SlotStoreError> {
        self.catch_up().await?;
        self.local_get(name)
    }

    /// The slot and its cursor as this replica holds them now, without catching up: the
    /// cursor may be behind the cluster's (never ahead of it).
    pub fn local_get(&self, name: &str) -> Result<(SlotRecord, SlotCursor), SlotStoreError> {
        let (record, _) = self
            .read(name)?
            .ok_or_else(|| SlotStoreError::NotFound(name.to_string()))?;
        let cursor = match self.read_cursor(name) {
            Ok((c, _)) => c,
            Err(SlotStoreError::NotFound(_)) => start_cursor(&record),
            Err(e) => return Err(e),
        };
        Ok((record, cursor))
    }

    pub async fn list(&self) -> Result<Vec<SlotRecord>, SlotStoreError> {
        self.catch_up().await?;
        let keys = self.group.list(SLOTS_COLLECTION, "", None, MAX_SLOTS)?;
        let mut out = Vec::with_capacity(keys.len());
        for (name, _) in keys {
            // dropped between the listing and the read: not listed
            if let Some((r, _)) = self.read(&name)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Pauses or resumes the slot; the record as it is now.
    pub async fn set_paused(&self, name: &str, paused: bool) -> Result<SlotRecord, SlotStoreError> {
        let (mut record, version) = self.get(name).await?;
        if record.paused == paused {
            return Ok(record);
        }
        record.paused = paused;
        match self
            .put(name, &record, Precondition::Version(version))
            .await?
        {
            ApplyOutcome::Written { .. } => Ok(record),
            ApplyOutcome::PreconditionFailed { current: None } => {
                Err(SlotStoreError::NotFound(name.to_string()))
            }
            _ => Err(SlotStoreError::Conflict {
                name: name.to_string(),
            }),
        }
    }

    pub async fn drop_slot(&self, name: &str) -> Result<(), SlotStoreError> {
        let c = self
            .group
            .propose(Command::Delete {
                collection: SLOTS_COLLECTION.into(),
                key: name.into(),
                precondition: Precondition::None,
            })
            .await?;
        let dropped = matches!(c.outcome, ApplyOutcome::Deleted { .. });
        self.group
            .propose(Command::Delete {
                collection: CURSORS_COLLECTION.into(),
                key: name.into(),
                precondition: Precondition::None,
            })
            .await?;
        if dropped {
            Ok(())
        } else {
            Err(SlotStoreError::NotFound(name.to_string()))
        }
    }

    /// Waits until this replica has applied everything committed before now.
    async fn catch_up(&self) -> Result<(), SlotStoreError> {
        Ok(self.group.catch_up(FRESH, ATTEMPT).await?)
    }

    fn read(&self, name: &str) -> Result<Option<(SlotRecord, u64)>, SlotStoreError> {
        let Some(doc) = self.group.get(SLOTS_COLLECTION, name)? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&doc.value).map_err(|e| SlotStoreError::Corrupt {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some((record, doc.version)))
    }

    async fn put(
        &self,
        name: &str,
        record: &SlotRecord,
        precondition: Precondition,
    ) -> Result<ApplyOutcome, SlotStoreError> {
        self.put_doc(SLOTS_COLLECTION, name, record, precondition)
            .await
    }

    async fn put_doc(
        &self,
        collection: &str,
        name: &str,
        doc: &impl serde::Serialize,
        precondition: Precondition,
    ) -> Result<ApplyOutcome, SlotStoreError> {
        let value = serde_json::to_vec(doc).expect("slot documents serialize");
        let c = self
            .group
            .propose(Command::Put {
                collection: collection.into(),
                key: name.into(),
                value: Bytes::from(value),
                content_type: Some("application/json".into()),
                precondition,
            })
            .await?;
        // Read-your-acks in this region: a read here right after sees what was written.
        self.group.wait_applied(c.index, READ_YOUR_WRITE).await;
        Ok(c.outcome)
    }
}
