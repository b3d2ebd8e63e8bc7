//! Per-request consistency: the levels, and where each read may be served.

mod level;
mod route;

pub use level::{Consistency, UnknownConsistency};
pub use route::{ForwardReason, ReadPlan, ReplicaView, plan_read};
