//! Sinks push a slot's changes to an external system (`[[sinks]]`). One region runs each
//! sink at a time: the leader of the group that keeps the slots (the meta group), where the
//! slot's position lives. A sink delivers a batch, waits for the system to confirm all of
//! it, then acknowledges the batch's frontier on the slot; after a crash or a leadership
//! change the next runner starts from the confirmed position, so what it sends again is
//! only what was not confirmed: JetStream drops it by `Nats-Msg-Id`, a webhook receiver by
//! the events' positions (at-least-once).
//!
//! A filtered replica (`replica.rs`) is a sink too, into a collection of this cluster. It
//! is run by the leader of its source's group, which holds what the slot follows, and it
//! creates its slot (`replica.<name>`, with an initial snapshot) the first time.

pub mod nats;
pub mod replica;
pub mod signature;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use super::encoding::Format;
use super::reader::Batch;
use super::{SlotRecord, SlotSpec, SlotStore, SlotStoreError, live};
use crate::clock::Hlc;
use crate::config::{Sink, SinkKind};
use crate::group::{Groups, LogGroup};

/// Events one batch delivers at most.
const BATCH: usize = 500;
/// How long a batch read waits for a first change.
const WAIT: Duration = Duration::from_millis(500);
/// Between failed sessions, growing to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct SinkMetrics {
    /// Events the system confirmed, by sink; `duplicate` says whether it dropped them as
    /// already stored (JetStream tells; a webhook never does).
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
                "Failed deliveries and sessions of a sink (connection, publish, confirmation, a \
                 non-2xx answer); each is retried",
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

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Nats(#[from] nats::NatsSinkError),
    #[error(transparent)]
    Webhook(#[from] webhook::WebhookError),
    #[error("slot: {0}")]
    Slot(#[from] SlotStoreError),
    #[error("reading the slot: {0}")]
    Read(#[from] super::reader::ReadError),
    #[error("applying to the replica: {0}")]
    Replica(#[from] crate::group::GroupError),
    #[error("creating the slot: {0}")]
    Start(#[from] super::start::StartError),
    #[error("the replica's collection {0:?} has no group in this node")]
    NoReplicaGroup(String),
}

/// Where a session delivers.
enum Target {
    Nats(nats::JetStreamTarget),
    Webhook(webhook::WebhookTarget),
    Replica(replica::ReplicaTarget),
}

impl Target {
    async fn connect(kind: &SinkKind, runner: &SinkRunner) -> Result<Target, SinkError> {
        Ok(match kind {
            SinkKind::Nats {
                url,
                subject,
                stream,
                token,
            } => Target::Nats(
                nats::JetStreamTarget::connect(url, subject, stream, token.as_ref()).await?,
            ),
            SinkKind::Webhook {
                endpoint,
                path,
                secret,
            } => Target::Webhook(webhook::WebhookTarget::new(endpoint, path, secret.clone())?),
            SinkKind::Replica { collection, filter } => {
                let group = runner
                    .groups
                    .get(crate::placement::group_id_for(collection))
                    .ok_or_else(|| SinkError::NoReplicaGroup(collection.clone()))?;
                // checked at load (`config/replicas.rs`)
                let predicate = match filter {
                    Some(f) => Some(crate::predicate::Predicate::parse(f).map_err(|e| {
                        SinkError::Slot(SlotStoreError::Corrupt {
                            name: runner.sink.slot.clone(),
                            reason: e.to_string(),
                        })
                    })?),
                    None => None,
                };
                Target::Replica(replica::ReplicaTarget {
                    group: group.clone(),
                    collection: collection.clone(),
                    predicate,
                })
            }
        })
    }

    /// Delivers the batch; (events confirmed as new, as duplicates).
    async fn deliver(
        &self,
        slot: &str,
        batch: &Batch,
        format: Format,
    ) -> Result<(u64, u64), SinkError> {
        Ok(match self {
            Target::Nats(t) => t.deliver(batch, format).await?,
            Target::Webhook(t) => t.deliver(slot, batch, format).await?,
            Target::Replica(t) => t.deliver(batch).await?,
        })
    }
}

pub struct SinkRunner {
    pub sink: Sink,
    pub slots: SlotStore,
    pub groups: Arc<Groups>,
    /// Its leader runs the sink: the group that keeps the slots, or a replica's source's.
    pub lead: Arc<LogGroup>,
    /// The slot to create if it does not exist (a replica's own); None: wait for it.
    pub ensure: Option<SlotSpec>,
    pub region: String,
    pub clock: Arc<Hlc>,
    pub metrics: SinkMetrics,
}

impl SinkRunner {
    /// Runs sessions while this region leads the slots' group, until the node stops.
    pub async fn run(self) {
        let name = self.sink.name();
        let mut backoff = BACKOFF_MIN;
        loop {
            if !self.lead.is_leader() {
                self.metrics.running.with_label_values(&[&name]).set(0);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            self.metrics.running.with_label_values(&[&name]).set(1);
            match self.session(&name).await {
                Ok(()) => backoff = BACKOFF_MIN,
                Err(e) => {
                    tracing::warn!(sink = %name, slot = %self.sink.slot, error = %e, "sink delivery failed; retrying");
                    self.metrics.errors.with_label_values(&[&name]).inc();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// One connection: delivers batches until leadership moves or something fails.
    async fn session(&self, name: &str) -> Result<(), SinkError> {
        let target = Target::connect(&self.sink.kind, self).await?;
        tracing::info!(sink = %name, slot = %self.sink.slot, "sink connected");
        let slot = &self.sink.slot;
        while self.lead.is_leader() {
            let (record, cursor) = match self.slots.get_with_cursor(slot).await {
                Ok(r) => r,
                Err(SlotStoreError::NotFound(_)) => {
                    match &self.ensure {
                        Some(spec) => self.create(spec).await?,
                        None => tokio::time::sleep(Duration::from_secs(1)).await,
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if record.paused || cursor.lost.is_some() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let corrupt = |reason: String| {
                SinkError::Slot(SlotStoreError::Corrupt {
                    name: slot.clone(),
                    reason,
                })
            };
            let filter = record.spec.compile().map_err(|e| corrupt(e.to_string()))?;
            let format = Format::parse(&record.spec.format).map_err(|e| corrupt(e.to_string()))?;
            let groups = live::held_groups(&self.groups, &record.start)?;
            let batch = live::next_batch(&groups, &filter, &cursor.confirmed, BATCH, WAIT).await?;
            if batch.frontier == cursor.confirmed {
                continue;
            }
            if !batch.events.is_empty() {
                let (fresh, duplicate) = target.deliver(slot, &batch, format).await?;
                let m = &self.metrics.published;
                m.with_label_values(&[name, "false"]).inc_by(fresh);
                m.with_label_values(&[name, "true"]).inc_by(duplicate);
            }
            self.slots
                .ack(slot, &batch.frontier, self.clock.wall_ms())
                .await?;
        }
        Ok(())
    }

    /// Creates the sink's own slot, starting here and now with an initial snapshot.
    async fn create(&self, spec: &SlotSpec) -> Result<(), SinkError> {
        let corrupt = |reason: String| {
            SinkError::Slot(SlotStoreError::Corrupt {
                name: spec.name.clone(),
                reason,
            })
        };
        let filter = spec.compile().map_err(|e| corrupt(e.to_string()))?;
        let mut start = super::start::start_here(&self.groups, &self.region, &filter).await?;
        if spec.initial_snapshot {
            start.begin_snapshot();
        }
        let record = SlotRecord {
            spec: spec.clone(),
            paused: false,
            created_at_ms: self.clock.wall_ms(),
            created_in: self.region.clone(),
            start,
        };
        match self.slots.create(&record).await {
            // another runner (a previous leader) made it: use that one
            Ok(()) | Err(SlotStoreError::Exists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(slot = %spec.name, "slot created for its sink");
        Ok(())
    }
}
