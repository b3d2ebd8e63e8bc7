//! Prometheus instruments of one node. Each node has its own registry (the demo runs
//! several nodes in one process), exposed at `GET /metrics`.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::wal::WalMetrics;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Requests by operation, consistency level and HTTP status.
    pub requests: IntCounterVec,
    /// Request latency by operation and consistency level.
    pub latency: HistogramVec,
    /// Document bytes accepted in writes.
    pub write_bytes: IntCounterVec,
    pub applied_index: IntGaugeVec,
    /// This replica's staleness per group (seconds since the newest leader watermark it
    /// applied; Prometheus wants base units).
    pub staleness_seconds: GaugeVec,
    /// Reads by the level they asked for and how they were served: `local`, `waited` (for
    /// a session's index), `read_index` (confirmed through the leader), `proxied` (to a
    /// region holding the collection), `forwarded` (this replica could not serve it at its
    /// level, another could), `rejected` (503).
    pub reads: IntCounterVec,
    /// Write latency (commit and ack policy) by the collection's tier (`default` if unplaced).
    pub write_latency: HistogramVec,
    pub wal: WalMetrics,
    /// Peer messages refused because a claim in them (vote candidate, leader, write origin)
    /// did not name the region of the sender's certificate; by peer and kind.
    pub peer_claim_mismatches: IntCounterVec,
    /// Multi-master: how far behind each origin's log this region is, per collection.
    pub origin_staleness_seconds: GaugeVec,
    /// Multi-master: conflicts this region has recorded, per collection and rule.
    pub conflicts: IntGaugeVec,
    /// Multi-master: regions a quorum read found behind and repaired, per collection.
    pub quorum_repairs: IntCounterVec,
}

impl Metrics {
    pub fn new(region: &str) -> prometheus::Result<Self> {
        let registry = Registry::new_custom(
            None,
            Some([("region".to_string(), region.to_string())].into()),
        )?;
        let requests = IntCounterVec::new(
            Opts::new("georep_requests_total", "HTTP document requests"),
            &["op", "consistency", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "georep_request_duration_seconds",
                "HTTP document request latency",
            )
            .buckets(prometheus::exponential_buckets(0.000_05, 2.0, 18)?),
            &["op", "consistency"],
        )?;
        let write_bytes = IntCounterVec::new(
            Opts::new("georep_write_bytes_total", "Document bytes written"),
            &["collection"],
        )?;
        let applied_index = IntGaugeVec::new(
            Opts::new(
                "georep_applied_index",
                "Applied log index per group on this replica",
            ),
            &["group"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(write_bytes.clone()))?;
        registry.register(Box::new(applied_index.clone()))?;
        let staleness_seconds = GaugeVec::new(
            Opts::new(
                "georep_staleness_seconds",
                "Staleness of this replica per group: seconds since the newest commit watermark \
                 of the leader that it has applied",
            ),
            &["group"],
        )?;
        registry.register(Box::new(staleness_seconds.clone()))?;
        let peer_claim_mismatches = IntCounterVec::new(
            Opts::new(
                "georep_peer_claim_mismatches_total",
                "Peer messages refused because a claim in them did not name the region of the \
                 sender's certificate",
            ),
            &["peer", "kind"],
        )?;
        registry.register(Box::new(peer_claim_mismatches.clone()))?;
        let reads = IntCounterVec::new(
            Opts::new(
                "georep_reads_total",
                "Reads by consistency level and how they were served",
            ),
            &["consistency", "served"],
        )?;
        let write_latency = HistogramVec::new(
            HistogramOpts::new(
                "georep_write_duration_seconds",
                "Write latency by tier, from proposal to the ack policy's answer",
            )
            .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 18)?),
            &["tier"],
        )?;
        registry.register(Box::new(reads.clone()))?;
        registry.register(Box::new(write_latency.clone()))?;
        let wal = WalMetrics::register(&registry)?;
        let origin_staleness_seconds = GaugeVec::new(
            Opts::new(
                "georep_origin_staleness_seconds",
                "Multi-master collections: staleness of this region behind each origin's log",
            ),
            &["collection", "origin"],
        )?;
        let conflicts = IntGaugeVec::new(
            Opts::new(
                "georep_conflicts",
                "Multi-master collections: conflicts recorded in this region's feed",
            ),
            &["collection", "rule"],
        )?;
        registry.register(Box::new(origin_staleness_seconds.clone()))?;
        registry.register(Box::new(conflicts.clone()))?;
        let quorum_repairs = IntCounterVec::new(
            Opts::new(
                "georep_quorum_repairs_total",
                "Multi-master quorum reads: regions found behind and sent a read repair",
            ),
            &["collection"],
        )?;
        registry.register(Box::new(quorum_repairs.clone()))?;
        Ok(Self {
            quorum_repairs,
            origin_staleness_seconds,
            conflicts,
            registry,
            requests,
            latency,
            write_bytes,
            applied_index,
            staleness_seconds,
            reads,
            write_latency,
            wal,
            peer_claim_mismatches,
        })
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
