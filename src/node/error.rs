use std::path::PathBuf;

use super::identity::IdentityError;
use crate::config::ConfigError;
use crate::group::GroupError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("region {0:?} is not in the topology (regions: {1})")]
    UnknownRegion(String, String),
    /// The data directory: another cluster's or region's, locked by another process, or
    /// unreadable.
    #[error(transparent)]
    DataDir(#[from] IdentityError),
    #[error("invalid configuration: {field}: {reason}")]
    Archive { field: &'static str, reason: String },
    #[error("--clock-offset-file {path}: {reason}")]
    ClockOffset { path: PathBuf, reason: String },
    #[error("session key {path}: {reason}")]
    SessionKey { path: PathBuf, reason: String },
    #[error("cannot listen on {addr} (api of region {region}): {source}")]
    Bind {
        addr: std::net::SocketAddr,
        region: String,
        source: std::io::Error,
    },
    #[error("cannot open the log: {0}")]
    Group(#[from] GroupError),
    #[error("invalid configuration: {field}: {reason}")]
    Tls { field: &'static str, reason: String },
    #[error("invalid configuration: {0}")]
    Https(#[from] crate::https::HttpsError),
    #[error("cannot start the peer transport: {0}")]
    Transport(#[from] crate::transport::TransportError),
    #[error("reading the catalog's placements: {0}")]
    Catalog(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl NodeError {
    /// Errors in what the operator asked for (exit code 2) rather than failures while running.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            NodeError::Config(_)
                | NodeError::UnknownRegion(..)
                | NodeError::DataDir(IdentityError::Foreign { .. })
                | NodeError::SessionKey { .. }
                | NodeError::Archive { .. }
                | NodeError::Tls { .. }
                | NodeError::Https(_)
        )
    }
}
