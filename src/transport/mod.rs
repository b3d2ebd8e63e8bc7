//! Transport between region nodes: QUIC (quinn) with mutual TLS 1.3 against the cluster CA.
//!
//! Guarantees: every peer connection is encrypted and mutually authenticated, and there is
//! no plaintext path. A peer is known by the region its certificate is valid for, and a
//! connection is refused (and counted) if that region is not another region of this topology.
//! A connection to a peer succeeds only if the peer's certificate is valid for the region
//! being dialled, and a certificate from another CA fails the handshake either way.
//!
//! Replication (openraft) will run over [`Transport::call`]; today the module stands alone
//! and is exercised by its tests.

mod certs;
mod endpoint;
mod error;
mod frame;
mod metrics;
mod tls;

pub use certs::{
    ClusterCa, NodeIdentity, ca_cert_path, generate_ca, init as init_certs, load as load_identity,
    regions_of,
};
pub use endpoint::{Handler, Transport};
pub use error::TransportError;
pub use metrics::TransportMetrics;
pub use tls::ALPN;

#[cfg(test)]
mod tests;
