use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::wal::WalError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "log group {group}: the store has applied index {applied} but the WAL ends at {wal_last}; \
         acknowledged entries are missing from the WAL"
    )]
    WalBehindStore {
        group: String,
        applied: u64,
        wal_last: u64,
    },
    #[error(
        "log group {group}: the WAL starts at index {wal_first} but the store has only applied up to {applied}"
    )]
    WalAheadOfStore {
        group: String,
        applied: u64,
        wal_first: u64,
    },
    /// This replica does not lead; the hint names the region that does, when known.
    #[error("not the leader{}", leader.as_ref().map(|l| format!(" (the leader is {l})")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    /// No leader could be found in time: no quorum is reachable from here.
    #[error("log group {group} has no reachable leader (no quorum from this region)")]
    NoLeader { group: String },
    /// The leader's region could not be reached or did not answer.
    #[error("forwarding to the leader in {leader} failed: {reason}")]
    Forward { leader: String, reason: String },
    /// Committed by Raft, but fewer replicas than the ack policy requires confirmed it in time.
    #[error(
        "index {index} is committed but only {confirmed} of the {required} replicas that \
         ack_mode = \"sync\" requires hold it after {waited_ms} ms"
    )]
    SyncReplicasUnavailable {
        index: u64,
        confirmed: u32,
        required: u32,
        waited_ms: u64,
    },
    /// The leader accepted the write but could not commit it in time (no quorum reachable):
    /// it may still commit later, or be discarded by a new leader.
    #[error(
        "index not committed within {waited_ms} ms (no quorum reachable); the outcome is unknown"
    )]
    CommitTimeout { waited_ms: u64 },
    /// The object store has been unreachable long enough that the group's unarchived WAL
    /// passed `[archive] wal_cap_mib`; writes resume once the archive catches up.
    #[error(
        "log group {group} refuses writes: {unarchived_bytes} bytes of WAL are not archived yet \
         (cap {cap_bytes}); the archive store is unreachable or slow"
    )]
    ArchiveBacklog {
        group: String,
        unarchived_bytes: u64,
        cap_bytes: u64,
    },
    /// A `standard` group's catalog names another voter: this replica was superseded by a
    /// promotion and must not acknowledge. The write may sit in its log; it will be kept
    /// aside when the replica steps aside, never merged.
    #[error(
        "log group {group} was taken over by {voter} at epoch {epoch}; this write was not \
         acknowledged; retry to reach the new voter"
    )]
    Fenced {
        group: String,
        epoch: u64,
        voter: String,
    },
    /// The meta group's catalog could not be read or written.
    #[error("catalog: {0}")]
    Catalog(String),
    /// A change of the group's replicas did not complete; the placement in force is
    /// unchanged unless the catalog says otherwise, and repeating the request resumes it.
    #[error("changing the replicas of log group {group}: {reason}")]
    Membership { group: String, reason: String },
    #[error("log group stopped after an earlier failure: {0}")]
    Failed(String),
    #[error("log group is shutting down")]
    Closed,
}

/// A [`GroupError`] as it travels back over RPC to the replica that forwarded a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum WireError {
    NotLeader {
        leader: Option<String>,
    },
    NoLeader {
        group: String,
    },
    SyncReplicasUnavailable {
        index: u64,
        confirmed: u32,
        required: u32,
        waited_ms: u64,
    },
    CommitTimeout {
        waited_ms: u64,
    },
    ArchiveBacklog {
        group: String,
        unarchived_bytes: u64,
        cap_bytes: u64,
    },
    Fenced {
        group: String,
        epoch: u64,
        voter: String,
    },
    Failed(String),
}

impl From<GroupError> for WireError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::NotLeader { leader } => WireError::NotLeader { leader },
            GroupError::NoLeader { group } => WireError::NoLeader { group },
            GroupError::SyncReplicasUnavailable {
                index,
                confirmed,
                required,
                waited_ms,
            } => WireError::SyncReplicasUnavailable {
                index,
                confirmed,
                required,
                waited_ms,
            },
            GroupError::CommitTimeout { waited_ms } => WireError::CommitTimeout { waited_ms },
            GroupError::ArchiveBacklog {
                group,
                unarchived_bytes,
                cap_bytes,
            } => WireError::ArchiveBacklog {
                group,
                unarchived_bytes,
                cap_bytes,
            },
            GroupError::Fenced {
                group,
                epoch,
                voter,
            } => WireError::Fenced {
                group,
                epoch,
                voter,
            },
            other => WireError::Failed(other.to_string()),
        }
    }
}

impl From<WireError> for GroupError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NotLeader { leader } => GroupError::NotLeader { leader },
            WireError::NoLeader { group } => GroupError::NoLeader { group },
            WireError::SyncReplicasUnavailable {
                index,
                confirmed,
                required,
                waited_ms,
            } => GroupError::SyncReplicasUnavailable {
                index,
                confirmed,
                required,
                waited_ms,
            },
            WireError::CommitTimeout { waited_ms } => GroupError::CommitTimeout { waited_ms },
            WireError::ArchiveBacklog {
                group,
                unarchived_bytes,
                cap_bytes,
            } => GroupError::ArchiveBacklog {
                group,
                unarchived_bytes,
                cap_bytes,
            },
            WireError::Fenced {
                group,
                epoch,
                voter,
            } => GroupError::Fenced {
                group,
                epoch,
                voter,
            },
            WireError::Failed(m) => GroupError::Failed(m),
        }
    }
}
