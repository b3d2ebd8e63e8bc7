//! Transport between region nodes: QUIC (quinn) with mutual TLS 1.3 against the cluster CA.
//!
//! Guarantees: every peer connection is encrypted and mutually authenticated, and there is
//! no plaintext path. A peer is known by the region its certificate is valid for, and a
//! connection is refused (and counted) if that region is not another region of this topology.
//! A connection to a peer succeeds only if the peer's certificate is valid for the region
//! being dialled, and a certificate from another CA fails the handshake either way.
//!
//! Every frame carries the sender's clock; `peer_clock.rs` merges it into the HLC and
//! refuses peers whose clock is too far ahead, whatever the message kind.

mod certs;
mod endpoint;
mod error;
mod frame;
mod metrics;
mod peer_clock;
pub mod rpc;
mod tls;

pub use certs::{
    API_DEFAULT_HOSTS, ClusterCa, NodeIdentity, api_cert_path, api_key_path, ca_cert_path,
    generate_ca, init as init_certs, load as load_identity, node_cert_path, node_key_path,
    regions_of,
};
pub use endpoint::{Handler, Inbound, Transport};
pub use error::TransportError;
pub use metrics::TransportMetrics;
pub use peer_clock::{PeerClock, PeerClocks, estimate_offset};
pub use tls::ALPN;

#[cfg(test)]
mod tests;
