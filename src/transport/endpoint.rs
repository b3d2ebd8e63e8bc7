//! One QUIC endpoint per node: it accepts peers and calls them. Each RPC is one
//! bidirectional stream (request frame, then response frame), and one connection per peer is
//! kept and re-established on demand. After a failed dial, calls to that peer fail fast
//! until a jittered exponential backoff (100 ms doubling to 5 s) expires.
//!
//! Flow control: quinn's defaults suit about 100 Mbit/s x 100 ms. Cross-region log shipping
//! needs the bandwidth-delay product in flight: 1 Gbit/s x 250 ms RTT is ~31 MB. So a stream
//! may have 64 MiB and a connection 256 MiB outstanding (memory is only committed as data
//! actually arrives).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, IdleTimeout, TransportConfig, VarInt};
use rustls_pki_types::CertificateDer;

use super::certs::{NodeIdentity, regions_of};
use super::error::TransportError;
use super::frame::{self, Kind, MAX_FRAME};
use super::metrics::TransportMetrics;
use super::peer_clock::PeerClocks;
use super::rpc::RpcError;
use super::tls;

/// Who sent a request: the region its verified certificate names (the only identity a
/// handler may trust: claims inside the message are checked against it), and the
/// connection's smoothed round trip (a bound on how long the message was in flight).
#[derive(Debug, Clone)]
pub struct Inbound {
    pub peer: String,
    pub rtt: Duration,
    /// When the request's frame had arrived (before any handling, which may wait on disk).
    pub received: std::time::Instant,
    /// The physical part (ms) of the sender's HLC when it sent the frame.
    pub sent_hlc_ms: u64,
}

/// Handles one request from a peer region; returns the response or why it was not served.
pub type Handler = Arc<
    dyn Fn(Inbound, Bytes) -> Pin<Box<dyn Future<Output = Result<Bytes, RpcError>> + Send>>
        + Send
        + Sync,
>;

/// Application close codes.
const REFUSED: u32 = 1;

pub struct Transport {
    region: String,
    endpoint: Endpoint,
    client: quinn::ClientConfig,
    connections: Mutex<HashMap<String, Connection>>,
    /// Peers whose last dial failed: consecutive failures and when to dial again.
    backoff: Mutex<HashMap<String, (u32, std::time::Instant)>>,
    metrics: TransportMetrics,
    clocks: Arc<PeerClocks>,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Exponential backoff with "equal jitter": half fixed, half random, so peers that lost the
/// same node do not redial it in lockstep.
pub(super) fn backoff_after(failures: u32) -> Duration {
    let full = BACKOFF_FIRST
        .saturating_mul(1 << failures.min(16))
        .min(BACKOFF_MAX);
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    full / 2 + (full / 2).mul_f64(f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX))
}

fn transport_config() -> Result<Arc<TransportConfig>, TransportError> {
    let mut t = TransportConfig::default();
    t.stream_receive_window(VarInt::from_u32(64 << 20));
    t.receive_window(VarInt::from_u32(256 << 20));
    t.send_window(256 << 20);
    t.max_concurrent_bidi_streams(VarInt::from_u32(4096));
    // A dead peer is noticed within the idle timeout; keep-alives keep live idle links
    // open. 4 s is above any inter-region RTT by an order of magnitude.
    t.keep_alive_interval(Some(Duration::from_secs(1)));
    t.max_idle_timeout(Some(
        IdleTimeout::try_from(Duration::from_secs(4))
            .map_err(|e| TransportError::Tls(e.to_string()))?,
    ));
    Ok(Arc::new(t))
}

impl Transport {
    /// Binds `addr` and starts accepting peers among `regions` (the topology's region names).
    /// `clocks` stamps every frame sent and judges every frame received.
    pub fn bind(
        addr: SocketAddr,
        identity: &NodeIdentity,
        regions: Vec<String>,
        metrics: TransportMetrics,
        clocks: Arc<PeerClocks>,
        handler: Handler,
    ) -> Result<Arc<Transport>, TransportError> {
        let config = transport_config()?;
        let server_tls = QuicServerConfig::try_from(tls::server_config(identity)?)
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(config.clone());
        let client_tls = QuicClientConfig::try_from(tls::client_config(identity)?)
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
        client.transport_config(config);
        let endpoint = Endpoint::server(server, addr).map_err(|e| TransportError::Bind {
            addr,
            reason: e.to_string(),
        })?;
        let transport = Arc::new(Transport {
            region: identity.region.clone(),
            endpoint,
            client,
            connections: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
            metrics,
            clocks,
        });
        tokio::spawn(accept_loop(transport.clone(), regions, handler));
        Ok(transport)
    }

    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.endpoint
            .local_addr()
            .map_err(|e| TransportError::Tls(e.to_string()))
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// What is known of each peer's clock.
    pub fn clocks(&self) -> &Arc<PeerClocks> {
        &self.clocks
    }

    /// Sends `request` to region `peer` at `addr` and waits for its response.
    pub async fn call(
        &self,
        peer: &str,
        addr: SocketAddr,
        request: &[u8],
    ) -> Result<Bytes, TransportError> {
        let result = self.call_inner(peer, addr, request).await;
        if let Err(e) = &result {
            self.metrics.rpc_errors.with_label_values(&[peer]).inc();
            if !matches!(
                e,
                TransportError::Remote { .. } | TransportError::ClockSkew { .. }
            ) {
                // a broken connection is replaced on the next call
                self.connections.lock().expect("connections").remove(peer);
            }
        }
        result
    }

    async fn call_inner(
        &self,
        peer: &str,
        addr: SocketAddr,
        request: &[u8],
    ) -> Result<Bytes, TransportError> {
        let conn = self.connection(peer, addr).await?;
        let rpc = |e: &dyn std::fmt::Display| TransportError::Rpc {
            peer: peer.to_string(),
            reason: e.to_string(),
        };
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| rpc(&e))?;
        let sent_ms = self.clocks.wall_ms();
        let out = frame::encode(Kind::Request, self.clocks.stamp(), request);
        send.write_all(&out.bytes).await.map_err(|e| rpc(&e))?;
        send.finish().map_err(|e| rpc(&e))?;
        self.metrics
            .bytes_out
            .with_label_values(&[peer, "plain"])
            .inc_by(out.plain_len as u64);
        self.metrics
            .bytes_out
            .with_label_values(&[peer, "wire"])
            .inc_by(out.bytes.len() as u64);
        let raw = recv
            .read_to_end(MAX_FRAME + frame::HEADER_LEN)
            .await
            .map_err(|e| rpc(&e))?;
        let (kind, stamp, payload) = frame::decode(&raw)?;
        self.clocks
            .on_answer(peer, stamp, sent_ms)
            .map_err(|e| TransportError::ClockSkew {
                peer: peer.to_string(),
                reason: e.to_string(),
            })?;
        self.metrics
            .bytes_in
            .with_label_values(&[peer, "wire"])
            .inc_by(raw.len() as u64);
        self.metrics
            .bytes_in
            .with_label_values(&[peer, "plain"])
            .inc_by(payload.len() as u64);
        self.metrics
            .rtt_seconds
            .with_label_values(&[peer])
            .set(conn.rtt().as_secs_f64());
        match kind {
            Kind::Response => Ok(payload),
            Kind::Error => Err(TransportError::Remote {
                peer: peer.to_string(),
                error: RpcError::decode(&payload),
            }),
            Kind::Request => Err(TransportError::Frame("peer answered with a request".into())),
        }
    }

    async fn connection(&self, peer: &str, addr: SocketAddr) -> Result<Connection, TransportError> {
        if let Some(c) = self.connections.lock().expect("connections").get(peer)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let err = |e: &dyn std::fmt::Display| TransportError::Connect {
            peer: peer.to_string(),
            reason: e.to_string(),
        };
        if let Some((failures, retry_at)) = self.backoff.lock().expect("backoff").get(peer).copied()
        {
            let now = std::time::Instant::now();
            if now < retry_at {
                return Err(err(&format!(
                    "{failures} failed attempt(s); next attempt in {} ms",
                    (retry_at - now).as_millis()
                )));
            }
        }
        // The server's certificate must be valid for the region we mean to reach.
        let dialled = match self.endpoint.connect_with(self.client.clone(), addr, peer) {
            Ok(connecting) => connecting.await.map_err(|e| err(&e)),
            Err(e) => Err(err(&e)),
        };
        match dialled {
            Ok(conn) => {
                self.backoff.lock().expect("backoff").remove(peer);
                self.connections
                    .lock()
                    .expect("connections")
                    .insert(peer.to_string(), conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let mut backoff = self.backoff.lock().expect("backoff");
                let failures = backoff.get(peer).map_or(0, |b| b.0) + 1;
                let retry_at = std::time::Instant::now() + backoff_after(failures - 1);
                backoff.insert(peer.to_string(), (failures, retry_at));
                Err(e)
            }
        }
    }

    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.endpoint.close(VarInt::from_u32(0), b"shutting down");
    }
}

async fn accept_loop(transport: Arc<Transport>, regions: Vec<String>, handler: Handler) {
    while let Some(incoming) = transport.endpoint.accept().await {
        let (transport, regions, handler) = (transport.clone(), regions.clone(), handler.clone());
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                // a peer that gave up dialling (its call timed out, both sides dialled at
                // once, it restarted): expected while regions start, not an attack
                Err(e) if handshake_abandoned(&e) => {
                    tracing::debug!(error = %e, "a peer abandoned its connection attempt");
                    return;
                }
                Err(e) => {
                    transport.metrics.refused.with_label_values(&["tls"]).inc();
                    tracing::warn!(error = %e, "refused a peer connection during the TLS handshake");
                    return;
                }
            };
            let Some(peer) = identify(&transport, &conn, &regions) else {
                return;
            };
            serve(conn, peer, handler, transport.clone()).await;
        });
    }
}

/// Whether a failed handshake is the peer giving up (timeout, reset, close), rather than
/// this node refusing it (a TLS failure: unknown CA, bad certificate, wrong ALPN).
fn handshake_abandoned(e: &quinn::ConnectionError) -> bool {
    use quinn::ConnectionError as E;
    match e {
        E::TimedOut | E::Reset | E::LocallyClosed | E::ApplicationClosed(_) => true,
        E::ConnectionClosed(c) => !c.error_code.to_string().contains("cryptographic"),
        E::TransportError(_) | E::VersionMismatch | E::CidsExhausted => false,
    }
}

/// The region a verified peer certificate names, if it is another region of this topology.
fn identify(transport: &Transport, conn: &Connection, regions: &[String]) -> Option<String> {
    let certs = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok());
    let names = certs
        .as_ref()
        .and_then(|c| c.first())
        .map(|ee| regions_of(ee, regions))
        .unwrap_or_default();
    let refuse = |reason: &'static str, detail: String| {
        transport.metrics.refused.with_label_values(&[reason]).inc();
        tracing::warn!(remote = %conn.remote_address(), %detail, "refused a peer connection");
        conn.close(VarInt::from_u32(REFUSED), detail.as_bytes());
        None
    };
    match names.as_slice() {
        [one] if *one == transport.region => refuse(
            "own_region",
            format!("peer presents this node's own region {one}"),
        ),
        [one] => Some(one.clone()),
        [] => refuse(
            "unknown_region",
            "peer certificate names no region of this topology".into(),
        ),
        many => refuse(
            "unknown_region",
            format!("peer certificate names several regions: {many:?}"),
        ),
    }
}

async fn serve(conn: Connection, peer: String, handler: Handler, transport: Arc<Transport>) {
    loop {
        let (mut send, mut recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => return, // closed by the peer or timed out; it reconnects when it needs to
        };
        let (peer, handler, transport) = (peer.clone(), handler.clone(), transport.clone());
        let rtt = conn.rtt();
        tokio::spawn(async move {
            let metrics = &transport.metrics;
            let clocks = &transport.clocks;
            let raw = match recv.read_to_end(MAX_FRAME + frame::HEADER_LEN).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "request stream failed");
                    return;
                }
            };
            let received = std::time::Instant::now();
            metrics
                .bytes_in
                .with_label_values(&[&peer, "wire"])
                .inc_by(raw.len() as u64);
            let error = |e: RpcError| frame::encode(Kind::Error, clocks.stamp(), &e.encode());
            let reply = match frame::decode(&raw) {
                Ok((Kind::Request, stamp, payload)) => {
                    metrics
                        .bytes_in
                        .with_label_values(&[&peer, "plain"])
                        .inc_by(payload.len() as u64);
                    match clocks.on_request(&peer, stamp) {
                        Err(e) => error(RpcError::ClockSkew {
                            reason: e.to_string(),
                        }),
                        Ok(_) => {
                            let from = Inbound {
                                peer: peer.clone(),
                                rtt,
                                received,
                                sent_hlc_ms: stamp.hlc >> 16,
                            };
                            match handler(from, payload).await {
                                // stamped after handling: the answer follows what it answers
                                Ok(resp) => frame::encode(Kind::Response, clocks.stamp(), &resp),
                                Err(e) => error(e),
                            }
                        }
                    }
                }
                Ok(_) => error(RpcError::malformed("frame", "expected a request frame")),
                Err(e) => error(RpcError::malformed("frame", e)),
            };
            metrics
                .bytes_out
                .with_label_values(&[&peer, "plain"])
                .inc_by(reply.plain_len as u64);
            metrics
                .bytes_out
                .with_label_values(&[&peer, "wire"])
                .inc_by(reply.bytes.len() as u64);
            if send.write_all(&reply.bytes).await.is_ok() {
                let _ = send.finish();
            }
        });
    }
}
