use std::path::PathBuf;

/// Everything the WAL can report. Errors are `Clone` so one failed fsync can be handed to
/// every append that was waiting on it.
/// Serializable: a leader's error crosses the wire to the replica that forwarded to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum WalError {
    #[error("WAL I/O error during {op} on {path}: {message}")]
    Io {
        path: PathBuf,
        op: std::borrow::Cow<'static, str>,
        message: String,
    },
    #[error("WAL corruption in segment {segment} at byte offset {offset}: {reason}")]
    Corrupt {
        segment: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "WAL is missing entries {missing_from}..={missing_to} (segment {next_segment} follows)"
    )]
    Gap {
        missing_from: u64,
        missing_to: u64,
        next_segment: PathBuf,
    },
    #[error("append of index {got} does not follow the log's last index (expected {expected})")]
    NonContiguous { expected: u64, got: u64 },
    #[error("index {index} is outside the log (first {first:?}, last {last:?})")]
    OutOfRange {
        index: u64,
        first: Option<u64>,
        last: Option<u64>,
    },
    #[error("WAL stopped accepting writes after an earlier failure: {reason}")]
    Poisoned { reason: String },
    #[error("WAL is shut down")]
    Closed,
}

impl WalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, err: std::io::Error) -> Self {
        WalError::Io {
            path: path.into(),
            op: op.into(),
            message: err.to_string(),
        }
    }
}
