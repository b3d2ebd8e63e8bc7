//! Reaching a peer region by name: its address (a relay's, when the WAN is emulated), a
//! deadline, and the answer decoded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::transport::{Transport, TransportError};

/// Where each region's replicas are reached (the topology's peer address, or a relay in
/// front of it when the WAN is emulated).
#[derive(Debug, Clone, Default)]
pub struct PeerBook {
    by_region: HashMap<String, SocketAddr>,
}

impl PeerBook {
    pub fn new(by_region: HashMap<String, SocketAddr>) -> Self {
        PeerBook { by_region }
    }

    pub fn addr(&self, region: &str) -> Option<SocketAddr> {
        self.by_region.get(region).copied()
    }
}

/// Calls a peer region; shared by Raft replication, forwarded writes and read-index.
#[derive(Clone)]
pub struct PeerCaller {
    /// None in a single-region topology: there is no peer to call.
    pub transport: Option<Arc<Transport>>,
    pub peers: Arc<PeerBook>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("region {0} is not in the topology")]
    UnknownRegion(String),
    #[error("a single-region node has no peer transport (asked to reach {0})")]
    NoTransport(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("no answer from {region} within {timeout:?}")]
    Timeout { region: String, timeout: Duration },
    #[error("{region} stopped leading while the request was in flight")]
    LeaderChanged { region: String },
    #[error(
        "{region} has sent nothing for {silent_ms} ms (it is probably down; an election follows)"
    )]
    LeaderSilent { region: String, silent_ms: u64 },
    #[error("undecodable answer from {region}: {reason}")]
    BadAnswer { region: String, reason: String },
}

impl PeerCaller {
    /// Sends `request` to `region` and returns its answer as it came.
    pub async fn call_raw(
        &self,
        region: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<bytes::Bytes, CallError> {
        let addr = self
            .peers
            .addr(region)
            .ok_or_else(|| CallError::UnknownRegion(region.to_string()))?;
        let transport = self
            .transport
            .as_ref()
            .ok_or_else(|| CallError::NoTransport(region.to_string()))?;
        Ok(
            tokio::time::timeout(timeout, transport.call(region, addr, request))
                .await
                .map_err(|_| CallError::Timeout {
                    region: region.to_string(),
                    timeout,
                })??,
        )
    }

    /// Sends `request` to `region` and decodes its JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        region: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<T, CallError> {
        let answer = self.call_raw(region, request, timeout).await?;
        serde_json::from_slice(&answer).map_err(|e| CallError::BadAnswer {
            region: region.to_string(),
            reason: e.to_string(),
        })
    }
}
