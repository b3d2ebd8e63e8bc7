//! Multi-master collections (issue 16) as a region serves them: each placed region writes
//! its own origin log (`placement::origin_specs`: that region its sole voter, the others
//! learners), so a write is acknowledged after the local fsync alone, and every region
//! applies every origin log into that origin's heads. A read picks among the heads
//! (`merge::pick`: the live versions, the last writer of them); the store records each
//! conflict as it applies the version that reveals it (`store/merge_apply.rs`).
//!
//! - `origins.rs`: a collection's origin logs as this region holds them;
//! - `write.rs`: the command a write proposes (what this region had seen of each origin);
//! - `read.rs`: a document and a listing merged from the heads;
//! - `crdt.rs`: a `conflict = "crdt"` collection's documents (typed states) and their ops;
//! - `feed.rs`: the conflict feed's JSON;
//! - `key_locks.rs`: one CRDT operation at a time per document in a region;
//! - `quorum.rs`: a quorum read's newest heads and the repairs it sends;
//! - `status.rs`: sync status per collection (lag and staleness per origin, conflicts in
//!   the last hour) for `/v1/cluster` and the metrics.

pub mod crdt;
pub mod feed;
pub mod key_locks;
pub mod origins;
pub mod quorum;
pub mod read;
pub mod status;
pub mod write;

pub use key_locks::KeyLocks;
pub use origins::{Origin, Origins, OriginsError};
