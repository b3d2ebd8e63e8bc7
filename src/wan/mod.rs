//! WAN emulation for local runs and tests: a user-space UDP relay per region pair with
//! one-way delay, jitter, loss and a partition switch per direction, changeable at run time.
//! Every WAN figure measured on one machine goes through it.

mod conditions;
mod mesh;
mod relay;

pub use conditions::LinkConditions;
pub use mesh::Mesh;
pub use relay::{Counters, Direction, Relay};
