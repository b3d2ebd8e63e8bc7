//! The merge algebra of multi-master collections (issue 16), pure and below every write
//! path: version vectors (`version_vector.rs`: what a version had seen, and whether two
//! versions were concurrent), last-writer-wins (`lww.rs`: HLC, then region name), the dot
//! kernel (`dots.rs`: observed-remove without tombstones), the typed CRDTs (`crdt.rs`:
//! G-Counter, PN-Counter, LWW-Register, OR-Set, MV-Register) and the `custom` rule's
//! sandboxed resolver scripts (`resolver.rs`, Rhai), a version as the store keeps it
//! (`envelope.rs`: region, vector, value or tombstone) and the pick among the origins' heads
//! (`heads.rs`: live versions, the last writer, the conflict's id). Nothing here does I/O;
//! the store applies origin logs with it and `multimaster/` serves reads and the feed.

pub mod crdt;
pub mod dots;
pub mod envelope;
pub mod heads;
pub mod lww;
pub mod resolver;
pub mod version_vector;

pub use crdt::{Crdt, CrdtError, GCounter, LwwRegister, MvRegister, OrSet, PnCounter};
pub use envelope::Envelope;
pub use heads::{Pick, pick};
pub use lww::{Outcome, Stamp, Versioned, resolve};
pub use resolver::{Limits, Resolution, Resolver, ResolverError};
pub use version_vector::{Causality, VersionVector};
