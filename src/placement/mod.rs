//! Placement: which log group a collection lives in, which regions hold it, and how that
//! changes while it serves.
//!
//! - `plan.rs`: the groups a topology defines (meta, default, one per placed collection);
//! - `records.rs`: placements changed at run time, as records in the meta group's catalog;
//! - `resolve.rs`: one [`Resolved`] per request (group, placement in force, defaults,
//!   holders by RTT);
//! - `change.rs`: the online change saga, run by the group's leader;
//! - `follower.rs`: every region adopting the placement in force.
//!
//! It sits above `group/` and `catalog/` (it plans their groups and writes catalog records)
//! and below `api/` and `node/`.

pub mod change;
pub mod follower;
mod plan;
mod records;
mod resolve;

pub use plan::{
    collection_groups, default_spec, group_id_for, is_origin_log, meta_spec, origin_group_id,
    origin_group_name, origin_groups, origin_specs, placement_spec, plan,
};
pub use records::{PlacementRecord, PlacementRecords};
pub use resolve::{Resolved, Resolver};
