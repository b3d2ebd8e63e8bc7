//! Change data capture (issue 17). Built so far: the filters a slot is created with, compiled
//! once and evaluated per change without allocation:
//! - `pattern.rs`: which collections a slot follows (include and exclude globs);
//! - `predicate.rs`: a row predicate over a document's JSON fields (`tenant == 'acme'`).
//!
//! Slots, event production, reading, encodings, sinks and filtered replicas are still to
//! come (see the issue); nothing on the write path uses this module yet.

pub mod pattern;
pub mod predicate;

pub use pattern::{PatternError, PatternSet};
pub use predicate::{Predicate, PredicateError};
