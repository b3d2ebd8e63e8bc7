/// Serializable: a leader's error crosses the wire to the replica that forwarded to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StoreError {
    #[error("store {op} failed: {message}")]
    Db {
        op: std::borrow::Cow<'static, str>,
        message: String,
    },
    #[error("log entry {index} cannot be applied: {reason}")]
    BadEntry { index: u64, reason: String },
    #[error("stored record for {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
}

pub(crate) fn db<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Db {
        op: op.into(),
        message: e.to_string(),
    }
}
