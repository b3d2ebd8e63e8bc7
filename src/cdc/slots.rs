//! Where slots are kept: documents of the reserved collection `_slots` in the meta group (the
//! default group in a single-region topology, which has no meta group), written through its
//! log with compare-and-set, so every region serves them and they survive failover. Reads
//! first catch up with the group's leader (a ReadIndex barrier): a slot created in one region
//! is listed at once in every other.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::slot::SlotRecord;
use crate::group::{GroupError, LogGroup};
use crate::store::{ApplyOutcome, Command, Precondition, StoreError};

/// Clients cannot name it (collection names start with a letter or digit).
pub const SLOTS_COLLECTION: &str = "_slots";

/// How long a read keeps trying to catch up with the leader: long enough for the group to
/// elect a new one if its leader just died (as the catalog's reads do).
const FRESH: Duration = Duration::from_secs(8);

/// One attempt's share of it: a dead leader costs one attempt, not the whole budget.
const ATTEMPT: Duration = Duration::from_secs(1);

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
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Store(#[from] StoreError),
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
            ApplyOutcome::Written { .. } => Ok(()),
            _ => Err(SlotStoreError::Exists(name.clone())),
        }
    }

    /// The slot and its version, after catching up with the leader.
    pub async fn get(&self, name: &str) -> Result<(SlotRecord, u64), SlotStoreError> {
        self.catch_up().await?;
        self.read(name)?
            .ok_or_else(|| SlotStoreError::NotFound(name.to_string()))
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
        match c.outcome {
            ApplyOutcome::Deleted { .. } => Ok(()),
            _ => Err(SlotStoreError::NotFound(name.to_string())),
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
        let value = serde_json::to_vec(record).expect("slot records serialize");
        let c = self
            .group
            .propose(Command::Put {
                collection: SLOTS_COLLECTION.into(),
                key: name.into(),
                value: Bytes::from(value),
                content_type: Some("application/json".into()),
                precondition,
            })
            .await?;
        Ok(c.outcome)
    }
}
