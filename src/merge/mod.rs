//! The merge algebra of multi-master collections (issue 16), pure and below every write
//! path: version vectors (`version_vector.rs`: what a version had seen, and whether two
//! versions were concurrent), last-writer-wins (`lww.rs`: HLC, then region name), the dot
//! kernel (`dots.rs`: observed-remove without tombstones), the typed CRDTs (`crdt.rs`:
//! G-Counter, PN-Counter, LWW-Register, OR-Set, MV-Register) and the `custom` rule's
//! sandboxed resolver scripts (`resolver.rs`, Rhai). Nothing here does I/O; the
//! origin logs that carry versions between regions, the conflict feed and the API are built
//! on it (not yet: see README, Known limits).

pub mod crdt;
pub mod dots;
pub mod lww;
pub mod resolver;
pub mod version_vector;

pub use crdt::{Crdt, CrdtError, GCounter, LwwRegister, MvRegister, OrSet, PnCounter};
pub use lww::{Outcome, Stamp, Versioned, resolve};
pub use resolver::{Limits, Resolution, Resolver, ResolverError};
pub use version_vector::{Causality, VersionVector};
