//! Change data capture (issue 17). Built so far:
//! - `pattern.rs`, `predicate.rs`: the filters a slot is created with (collection globs, a
//!   row predicate over JSON fields), compiled once, evaluated per change without
//!   allocation;
//! - `slot.rs`: a slot's definition, validated (errors name the field);
//! - `slots.rs`: slots kept in the meta group's log (`/v1/slots`: create, list, show, pause,
//!   resume, drop).
//!
//! Event production, reading and acknowledging changes, encodings, sinks and filtered
//! replicas are still to come (see the issue); nothing on the write path uses this module.

pub mod encoding;
pub mod event;
pub mod live;
pub mod pattern;
pub mod position;
pub mod predicate;
pub mod reader;
pub mod retention;
pub mod sink;
pub mod slot;
pub mod slots;

pub use event::Event;
pub use pattern::{PatternError, PatternSet};
pub use position::{Position, PositionError};
pub use predicate::{Predicate, PredicateError};
pub use slot::{Op, SlotCursor, SlotError, SlotFilter, SlotRecord, SlotSpec};
pub use slots::{SLOTS_COLLECTION, SlotStore, SlotStoreError};
