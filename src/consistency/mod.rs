//! Per-request consistency: the levels, and (as replication lands) where each is served.

mod level;

pub use level::{Consistency, UnknownConsistency};
