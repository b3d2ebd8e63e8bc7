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
    /// Messages refused because the peer's clock was beyond `max_clock_skew_ms` ahead.
    pub clock_skew_refusals: IntCounterVec,
    /// Measured peer wall clock minus ours.
    pub clock_offset_seconds: GaugeVec,
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
        let clock_skew_refusals = IntCounterVec::new(
            Opts::new(
                "georep_clock_skew_refusals_total",
                "Messages refused because the peer's clock was beyond node.max_clock_skew_ms ahead",
            ),
            &["peer"],
        )?;
        let clock_offset_seconds = GaugeVec::new(
            Opts::new(
                "georep_peer_clock_offset_seconds",
                "Measured wall-clock offset of a peer region (peer minus this node)",
            ),
            &["peer"],
        )?;
        registry.register(Box::new(clock_skew_refusals.clone()))?;
        registry.register(Box::new(clock_offset_seconds.clone()))?;
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
            clock_skew_refusals,
            clock_offset_seconds,
        })
    }
}
