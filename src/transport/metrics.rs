use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

/// Per-peer transport instruments.
#[derive(Clone)]
pub struct TransportMetrics {
    /// Bytes sent, by peer and stage (`plain` before compression, `wire` after).
    pub bytes_out: IntCounterVec,
    pub bytes_in: IntCounterVec,
    pub rpc_errors: IntCounterVec,
    /// Connections refused, by reason (`tls`, `unknown_region`, `own_region`).
    pub refused: IntCounterVec,
    pub rtt_seconds: GaugeVec,
}

impl TransportMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let bytes_out = IntCounterVec::new(
            Opts::new(
                "georep_peer_bytes_sent_total",
                "RPC bytes sent to a peer region",
            ),
            &["peer", "stage"],
        )?;
        let bytes_in = IntCounterVec::new(
            Opts::new(
                "georep_peer_bytes_received_total",
                "RPC bytes received from a peer region",
            ),
            &["peer", "stage"],
        )?;
        let rpc_errors = IntCounterVec::new(
            Opts::new(
                "georep_peer_rpc_errors_total",
                "Failed RPCs to a peer region",
            ),
            &["peer"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "georep_peer_connections_refused_total",
                "Inbound peer connections refused",
            ),
            &["reason"],
        )?;
        let rtt_seconds = GaugeVec::new(
            Opts::new(
                "georep_peer_rtt_seconds",
                "QUIC's smoothed round-trip time to a peer region",
            ),
            &["peer"],
        )?;
        registry.register(Box::new(bytes_out.clone()))?;
        registry.register(Box::new(bytes_in.clone()))?;
        registry.register(Box::new(rpc_errors.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(rtt_seconds.clone()))?;
        Ok(Self {
            bytes_out,
            bytes_in,
            rpc_errors,
            refused,
            rtt_seconds,
        })
    }
}
