//! The `x-georep-*` header names: a leaf, so errors can set a header without depending on
//! the request parser in `headers.rs`.

use axum::http::header::HeaderName;

pub const CONSISTENCY: HeaderName = HeaderName::from_static("x-georep-consistency");
pub const SESSION_TOKEN: HeaderName = HeaderName::from_static("x-georep-session-token");
pub const MAX_STALENESS: HeaderName = HeaderName::from_static("x-georep-max-staleness-ms");
pub const REGION: HeaderName = HeaderName::from_static("x-georep-region");
/// On writes: the region that led the group when the write committed.
pub const LEADER: HeaderName = HeaderName::from_static("x-georep-leader");
pub const VERSION: HeaderName = HeaderName::from_static("x-georep-version");
pub const STALENESS: HeaderName = HeaderName::from_static("x-georep-staleness-ms");
/// On multi-master reads: the region whose version the answer is.
pub const ORIGIN: HeaderName = HeaderName::from_static("x-georep-origin");
/// On multi-master reads: how many concurrent versions the answer beat (in the feed).
pub const CONFLICTS: HeaderName = HeaderName::from_static("x-georep-conflicts");
/// On multi-master writes: the version vector the write was given (`region=n,...`).
pub const VERSION_VECTOR: HeaderName = HeaderName::from_static("x-georep-version-vector");
/// On quorum reads: the regions read.
pub const QUORUM: HeaderName = HeaderName::from_static("x-georep-quorum");
/// On quorum reads: the regions found behind (and sent a read repair).
pub const DIVERGENT: HeaderName = HeaderName::from_static("x-georep-divergent");
/// On `custom` multi-master reads whose resolver gave no answer: why (the last writer's
/// version is served).
pub const UNRESOLVED: HeaderName = HeaderName::from_static("x-georep-unresolved");
