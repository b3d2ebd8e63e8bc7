//! The NATS JetStream sink: each event one message on the sink's subject, in the slot's
//! format, with `Nats-Msg-Id` = the event's position, into a stream the sink creates if it
//! is missing. A batch is acknowledged on the slot only after JetStream confirmed every
//! message of it; a message sent twice (a restart, a new runner) is dropped by the stream's
//! duplicate window.

use std::sync::Arc;
use std::time::Duration;

use super::SinkMetrics;
use crate::cdc::encoding::Format;
use crate::cdc::{SlotStore, SlotStoreError, live};
use crate::clock::Hlc;
use crate::config::{Sink, SinkKind};
use crate::group::{Groups, LogGroup};

/// Events one batch publishes at most.
const BATCH: usize = 500;
/// How long a batch read waits for a first change.
const WAIT: Duration = Duration::from_millis(500);
/// Between failed sessions, growing to the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long JetStream may take to confirm a batch.
const CONFIRM: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NatsSinkError {
    #[error("connecting to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("publishing: {0}")]
    Publish(String),
    #[error("JetStream did not confirm a batch within {0:?}")]
    Unconfirmed(Duration),
    #[error("slot: {0}")]
    Slot(#[from] SlotStoreError),
    #[error("reading the slot: {0}")]
    Read(#[from] crate::cdc::reader::ReadError),
}

pub struct NatsSink {
    pub sink: Sink,
    pub slots: SlotStore,
    pub groups: Arc<Groups>,
    /// The group that keeps the slots: its leader runs the sink.
    pub lead: Arc<LogGroup>,
    pub clock: Arc<Hlc>,
    pub metrics: SinkMetrics,
}

impl NatsSink {
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
                    tracing::warn!(sink = %name, slot = %self.sink.slot, error = %e, "sink session failed; retrying");
                    self.metrics.errors.with_label_values(&[&name]).inc();
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    /// One connection: publishes batches until leadership moves or something fails.
    async fn session(&self, name: &str) -> Result<(), NatsSinkError> {
        let SinkKind::Nats {
            url,
            subject,
            stream,
        } = &self.sink.kind;
        let client =
            async_nats::connect(url.as_str())
                .await
                .map_err(|e| NatsSinkError::Connect {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .map_err(|e| NatsSinkError::Stream {
            stream: stream.clone(),
            reason: e.to_string(),
        })?;
        tracing::info!(sink = %name, slot = %self.sink.slot, "sink connected");
        let slot = &self.sink.slot;
        while self.lead.is_leader() {
            let (record, cursor) = match self.slots.get(slot).await {
                Ok((record, _)) => (record, self.slots.cursor(slot).await?.0),
                Err(SlotStoreError::NotFound(_)) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if record.paused || cursor.lost.is_some() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let filter = record.spec.compile().map_err(|e| {
                NatsSinkError::Slot(SlotStoreError::Corrupt {
                    name: slot.clone(),
                    reason: e.to_string(),
                })
            })?;
            let format = Format::parse(&record.spec.format).map_err(|e| {
                NatsSinkError::Slot(SlotStoreError::Corrupt {
                    name: slot.clone(),
                    reason: e.to_string(),
                })
            })?;
            let groups = live::held_groups(&self.groups, &record.start)?;
            let batch = live::next_batch(&groups, &filter, &cursor.confirmed, BATCH, WAIT).await?;
            if batch.frontier == cursor.confirmed {
                continue;
            }
            let mut pending = Vec::with_capacity(batch.events.len());
            for e in &batch.events {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", e.position.to_string().as_str());
                let payload = format.encode_one(e);
                let ack = js
                    .publish_with_headers(subject.clone(), headers, payload.into())
                    .await
                    .map_err(|e| NatsSinkError::Publish(e.to_string()))?;
                pending.push(ack);
            }
            let confirmed = tokio::time::timeout(CONFIRM, async {
                let mut fresh = 0u64;
                let mut duplicate = 0u64;
                for ack in pending {
                    let a = ack
                        .await
                        .map_err(|e| NatsSinkError::Publish(e.to_string()))?;
                    if a.duplicate {
                        duplicate += 1;
                    } else {
                        fresh += 1;
                    }
                }
                Ok::<_, NatsSinkError>((fresh, duplicate))
            })
            .await
            .map_err(|_| NatsSinkError::Unconfirmed(CONFIRM))??;
            self.metrics
                .published
                .with_label_values(&[name, "false"])
                .inc_by(confirmed.0);
            self.metrics
                .published
                .with_label_values(&[name, "true"])
                .inc_by(confirmed.1);
            self.slots
                .ack(slot, &batch.frontier, self.clock.wall_ms())
                .await?;
        }
        Ok(())
    }
}
