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
    #[error("log group stopped after an earlier failure: {0}")]
    Failed(String),
    #[error("log group is shutting down")]
    Closed,
}
