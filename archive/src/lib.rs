//! georep-archive: how sealed WAL segments and snapshots are described and named in an
//! object store.
//!
//! This crate knows segments only as byte ranges of a log with metadata; it has no
//! dependency on the node. Today it holds the metadata types and the object layout; the
//! sealing envelope (zstd, then AES-256-GCM in chunks), the backends and the manifest
//! arrive with the archiver.

mod layout;
mod segment;

pub use layout::{ObjectKind, ObjectName, ParseNameError};
pub use segment::{IndexRange, SegmentMeta};
