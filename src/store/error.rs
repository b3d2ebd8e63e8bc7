#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("store {op} failed: {message}")]
    Db { op: &'static str, message: String },
    #[error("log entry {index} cannot be applied: {reason}")]
    BadEntry { index: u64, reason: String },
    #[error("stored record for {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
}

pub(crate) fn db<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Db {
        op,
        message: e.to_string(),
    }
}
