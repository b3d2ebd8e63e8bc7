//! Configuration: the topology file (TOML), validated at load with errors that name the field.

mod api;
mod auth;
mod error;
pub mod names;
mod placement;
mod replicas;
mod resolvers;
mod settings;
mod sinks;
mod topology;

pub use api::ApiTls;
pub use auth::{AuthConfig, AuthMode, MIN_JWT_KEY_BYTES, Role, Secret, StaticToken, parse_sha256};
pub use error::ConfigError;
pub use placement::{AckMode, CollectionSpec, ConflictRule, CrdtKind, Placement, Tier};
pub use replicas::{MAX_HOPS, Replica, SLOT_PREFIX as REPLICA_SLOT_PREFIX};
pub use resolvers::Resolvers;
pub use settings::{DEFAULT_MAX_VALUE_BYTES, MAX_KEY_BYTES, NodeSettings};
pub use sinks::{Sink, SinkKind};
pub use topology::{Archive, ArchiveKey, COLD_STORAGE_CLASSES, ColdTier, Link, Region, Topology};

/// The embedded default topology (`regions/local.toml`), used by `georep demo`.
pub const LOCAL_TOPOLOGY: &str = include_str!("../../regions/local.toml");
