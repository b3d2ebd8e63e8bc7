//! georep: a geo-distributed replication service. See ARCHITECTURE.md for the map.

pub mod api;
pub mod archiver;
pub mod auth;
pub mod catalog;
pub mod cdc;
pub mod client;
pub mod clock;
pub mod config;
pub mod consistency;
pub mod group;
pub mod https;
pub mod ids;
pub mod merge;
pub mod metrics;
pub mod multimaster;
pub mod node;
pub mod placement;
pub mod predicate;
pub mod replay;
pub mod restore;
pub mod session;
pub mod store;
pub mod transport;
pub mod util;
pub mod wal;
pub mod wan;
