//! georep-archive: how sealed WAL segments and snapshots are described, named and sealed in
//! an object store.
//!
//! This crate knows segments only as bytes with metadata; it has no dependency on the node.
//! It holds the metadata types, the object layout, the key ring and the sealing envelope
//! (zstd, then chunked AES-256-GCM with per-object data keys). The backends (S3, GCS,
//! Azure, file) and the manifest arrive with the archiver.

mod backend;
mod cold;
pub mod envelope;
mod keyring;
mod layout;
mod manifest;
mod segment;

pub use backend::{ArchiveBackend, BackendError, MULTIPART_ABOVE, ObjectInfo, ObjectVersion};
pub use cold::{ColdError, S3ColdTier};
pub use envelope::{EnvelopeError, EnvelopeInfo, inspect, open, seal};
pub use keyring::{KeyRing, KeyringError};
pub use layout::{ObjectKind, ObjectName, ParseNameError};
pub use manifest::{
    ArchivedSegment, ArchivedSnapshot, Coverage, FORMAT as MANIFEST_FORMAT, Manifest,
    ManifestError, PlanError, RestorePlan, manifest_name,
};
pub use segment::{IndexRange, SegmentMeta};
