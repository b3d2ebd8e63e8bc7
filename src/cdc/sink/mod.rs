//! Sinks push a slot's changes to an external system (`[[sinks]]`). One region runs each
//! sink at a time: the leader of the group that keeps the slots (the meta group), where the
//! slot's position lives. A sink publishes a batch, waits for the system to confirm every
//! event of it, then acknowledges the batch's frontier on the slot; after a crash or a
//! leadership change the next runner starts from the confirmed position, so what it sends
//! again is only what was not confirmed, and the system's own dedupe (JetStream's
//! `Nats-Msg-Id`) drops it.

pub mod nats;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct SinkMetrics {
    /// Events the system confirmed, by sink; `duplicate` says whether it dropped them as
    /// already stored.
    pub published: IntCounterVec,
    pub errors: IntCounterVec,
    /// 1 while this region runs the sink.
    pub running: IntGaugeVec,
}

impl SinkMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<SinkMetrics> {
        let published = IntCounterVec::new(
            Opts::new(
                "georep_cdc_sink_events_total",
                "Change events a sink's system confirmed (duplicate=true: dropped by its dedupe)",
            ),
            &["sink", "duplicate"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "georep_cdc_sink_errors_total",
                "Sink sessions that failed (connection, publish or confirmation); each is retried",
            ),
            &["sink"],
        )?;
        let running = IntGaugeVec::new(
            Opts::new(
                "georep_cdc_sink_running",
                "1 while this region runs the sink (it leads the group that keeps the slots)",
            ),
            &["sink"],
        )?;
        registry.register(Box::new(published.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(running.clone()))?;
        Ok(SinkMetrics {
            published,
            errors,
            running,
        })
    }
}
