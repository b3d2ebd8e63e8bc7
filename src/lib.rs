//! georep: a geo-distributed replication service. See ARCHITECTURE.md for the map.

pub mod clock;
pub mod util;
pub mod wal;
pub mod store;
pub mod group;
