//! Services over the peer transport: every request names the service it is for in its first
//! byte, one table ([`Dispatch`]) hands it to that service's handler, and failures come back
//! as typed [`RpcError`]s. Callers reach a region by name through [`PeerCaller`].
//!
//! The transport below (`endpoint.rs`) moves opaque request/response frames; what a
//! service's bytes mean is the service's business (`group/rpc.rs`, `api/proxy.rs`).

mod caller;
mod dispatch;
mod error;
mod head;

pub use caller::{CallError, PeerBook, PeerCaller};
pub use dispatch::{Dispatch, Service, request};
pub use error::{RpcError, once_ready};
pub use head::{json, json_head, put_json_head};
