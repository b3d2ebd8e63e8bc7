//! Change data capture (issue 17). The store records a change row for every applied write
//! in the write's own transaction (`store/changes.rs`); this module is everything above it:
//! - `pattern.rs`, `predicate.rs`: a slot's filters (collection globs, a row predicate over
//!   JSON fields), compiled once, evaluated per change without allocation;
//! - `slot.rs`, `slots.rs`: slots and their cursors, kept in the meta group's log;
//! - `position.rs`, `event.rs`, `reader.rs`: positions, the Debezium envelope, and a read:
//!   the initial snapshot, then the change rows of each group after the position, filtered
//!   and merged;
//! - `live.rs`: reading on a running node (the API and the sinks);
//! - `encoding.rs`: JSON, Protobuf, Avro;
//! - `retention.rs`: how long change rows are kept, and slots marked lost past the cap;
//! - `sink/`: pushing a slot to NATS JetStream or an HTTP webhook.
//!
//! Not built: the transform hook, filtered replicas.

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
