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
