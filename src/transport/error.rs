use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("certificate files: {path}: {reason}")]
    Certs { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("cannot bind the QUIC endpoint on {addr}: {reason}")]
    Bind {
        addr: std::net::SocketAddr,
        reason: String,
    },
    #[error("connecting to {peer}: {reason}")]
    Connect { peer: String, reason: String },
    #[error("RPC to {peer} failed: {reason}")]
    Rpc { peer: String, reason: String },
    #[error("{peer} answered with an error: {error}")]
    Remote {
        peer: String,
        error: super::rpc::RpcError,
    },
    #[error("refused {peer}'s answer: {reason}")]
    ClockSkew { peer: String, reason: String },
    #[error("bad frame: {0}")]
    Frame(String),
}
