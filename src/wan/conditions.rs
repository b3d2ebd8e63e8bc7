use std::time::Duration;

/// What one direction of an emulated WAN link does to each packet.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkConditions {
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet (order is kept).
    pub jitter: Duration,
    /// Probability (0..=1) that a packet is dropped.
    pub loss: f64,
    /// Drop everything.
    pub partitioned: bool,
}

impl LinkConditions {
    /// Half of a round-trip time each way, as topology links specify it.
    pub fn from_rtt(rtt_ms: u64, jitter_ms: u64, loss_pct: f64) -> Self {
        Self {
            delay: Duration::from_micros(rtt_ms * 500),
            jitter: Duration::from_millis(jitter_ms),
            loss: (loss_pct / 100.0).clamp(0.0, 1.0),
            partitioned: false,
        }
    }
}
