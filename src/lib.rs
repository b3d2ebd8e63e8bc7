//! georep: a geo-distributed replication service. See ARCHITECTURE.md for the map.

pub mod clock;
pub mod util;
pub mod wal;
pub mod store;
pub mod group;
pub mod consistency;
pub mod session;
pub mod config;
pub mod api;
pub mod metrics;
pub mod node;
pub mod client;
