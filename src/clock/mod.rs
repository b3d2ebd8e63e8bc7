//! Time for georep: a hybrid logical clock whose readings order every write in the cluster.

mod hlc;
pub mod offset;
mod physical;
mod timestamp;

pub use hlc::{ClockSkewError, Hlc};
pub use physical::{ManualClock, PhysicalClock, SystemClock, WallClock};
pub use timestamp::{ParseTimestampError, Timestamp};

/// The HLC node id of a region: CRC32C of its name. Stable across restarts and topology
/// reorderings; the topology validator rejects the (unlikely) case of two names colliding.
pub fn node_id_for_region(region: &str) -> u32 {
    crc32c::crc32c(region.as_bytes())
}
