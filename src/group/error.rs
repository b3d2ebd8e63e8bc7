use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::wal::WalError;

impl GroupError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> GroupError {
        GroupError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn raft(op: &str, e: impl std::fmt::Display) -> GroupError {
        GroupError::Raft {
            op: op.to_string(),
            reason: e.to_string(),
        }
    }
}

impl From<openraft::StorageError<u64>> for GroupError {
    fn from(e: openraft::StorageError<u64>) -> Self {
        GroupError::LogStorage {
            reason: e.to_string(),
        }
    }
}

impl From<tokio::task::JoinError> for GroupError {
    fn from(e: tokio::task::JoinError) -> Self {
        GroupError::TaskFailed(e.to_string())
    }
}

/// Also what a leader answers a forwarded write or read-index with: it crosses the wire as
/// itself (JSON), so the forwarding replica branches on the leader's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
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
    /// openraft failed an operation on this replica (start, initialize, a write it could
    /// not take for a reason other than leadership).
    #[error("raft {op}: {reason}")]
    Raft { op: String, reason: String },
    /// The log or state machine under openraft failed (a WAL or store error, as openraft
    /// reports it).
    #[error("log storage: {reason}")]
    LogStorage { reason: String },
    /// A file of the group's directory (a marker, the kept-aside log) could not be written
    /// or removed.
    #[error("{path}: {reason}")]
    Io {
        path: std::path::PathBuf,
        reason: String,
    },
    /// A blocking task of the group panicked or was cancelled.
    #[error("a background task of the log group failed: {0}")]
    TaskFailed(String),
    #[error("log group is shutting down")]
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A leader's answer to a forwarded write is this type as JSON: the forwarder branches
    /// on it (NotLeader is retried, the rest go to the client), so every variant must come
    /// back as itself, local storage failures included.
    #[test]
    fn errors_cross_the_wire_as_themselves() {
        let all = [
            GroupError::NotLeader {
                leader: Some("eu".into()),
            },
            GroupError::NoLeader { group: "g2".into() },
            GroupError::SyncReplicasUnavailable {
                index: 9,
                confirmed: 1,
                required: 2,
                waited_ms: 500,
            },
            GroupError::CommitTimeout { waited_ms: 3 },
            GroupError::Fenced {
                group: "g2".into(),
                epoch: 4,
                voter: "us".into(),
            },
            GroupError::Wal(WalError::io(
                "/d/wal",
                "fsync",
                std::io::Error::other("disk"),
            )),
            GroupError::Store(StoreError::Corrupt {
                what: "k".into(),
                reason: "crc".into(),
            }),
            GroupError::Closed,
            GroupError::raft("initialize", "no quorum"),
            GroupError::io(std::path::Path::new("/d/retired"), "read-only"),
        ];
        for e in all {
            let r: Result<u64, GroupError> = Err(e.clone());
            let back: Result<u64, GroupError> =
                serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
            assert_eq!(back, Err(e));
        }
    }
}
