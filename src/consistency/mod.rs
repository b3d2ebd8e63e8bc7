//! Per-request consistency: the levels, the table of where each read may be served, and read
//! admission with typed refusals.

mod admission;
mod level;
mod refusal;
mod route;

pub use admission::{Admitted, ReadReplica, ReadRequest, Served, Waits, admit};
pub use level::{Consistency, UnknownConsistency};
pub use refusal::ReadRefusal;
pub use route::{ReadPlan, ReplicaView, plan_read};
