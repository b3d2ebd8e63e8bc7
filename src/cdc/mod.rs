//! Change data capture (issue 17). The store records a change row for every applied write
//! in the write's own transaction (`store/changes.rs`); this module is everything above it:
//! - `pattern.rs`, `../predicate.rs`, `transform.rs`: a slot's filters (collection globs, a
//!   row predicate over JSON fields) and its field projection, compiled once;
//! - `slot.rs`, `slots.rs`: slots and their cursors, kept in the meta group's log;
//! - `position.rs`, `event.rs`, `reader.rs`: positions, the Debezium envelope, and a read:
//!   the initial snapshot, then the change rows of each group after the position, filtered
//!   and merged;
//! - `live.rs`: reading on a running node (the API and the sinks);
//! - `encoding.rs`: JSON, Protobuf, Avro;
//! - `retention.rs`: how long change rows are kept, and slots marked lost past the cap;
//! - `start.rs`: where a new slot starts;
//! - `sink/`: pushing a slot to NATS JetStream, an HTTP webhook or a filtered replica.

pub mod encoding;
pub mod event;
pub mod live;
pub mod pattern;
pub mod position;
pub mod reader;
pub mod retention;
pub mod sink;
pub mod slot;
pub mod slots;
pub mod start;
pub mod transform;

pub use event::Event;
pub use pattern::{PatternError, PatternSet};
pub use position::{Position, PositionError};
// a leaf below config/, which checks `[[replicas]]` filters at load
pub use crate::predicate::{Predicate, PredicateError};
pub use slot::{Op, SlotCursor, SlotError, SlotFilter, SlotRecord, SlotSpec};
pub use slots::{SLOTS_COLLECTION, SlotStore, SlotStoreError};
