//! The NATS JetStream sink's target: each event one message on the sink's subject, in the
//! slot's format, with `Nats-Msg-Id` = the event's position, into a stream the sink creates
//! if it is missing. A batch counts as delivered once JetStream confirmed every message of
//! it; a message sent twice (a restart, a new runner) is dropped by the stream's duplicate
//! window. With a `token_file` the sink authenticates with the server's token.

use std::time::Duration;

use crate::cdc::encoding::Format;
use crate::cdc::reader::Batch;

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
}

pub struct JetStreamTarget {
    js: async_nats::jetstream::Context,
    subject: String,
}

impl JetStreamTarget {
    pub async fn connect(
        url: &str,
        subject: &str,
        stream: &str,
        token: Option<&crate::config::Secret>,
    ) -> Result<JetStreamTarget, NatsSinkError> {
        let options = match token {
            // text by construction (`config/sinks.rs`)
            Some(t) => {
                async_nats::ConnectOptions::with_token(String::from_utf8_lossy(&t.0).into_owned())
            }
            None => async_nats::ConnectOptions::new(),
        };
        let client = options
            .connect(url)
            .await
            .map_err(|e| NatsSinkError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_string(),
            subjects: vec![subject.to_string()],
            ..Default::default()
        })
        .await
        .map_err(|e| NatsSinkError::Stream {
            stream: stream.to_string(),
            reason: e.to_string(),
        })?;
        Ok(JetStreamTarget {
            js,
            subject: subject.to_string(),
        })
    }

    /// Publishes every event, then waits for every confirmation: (new, duplicates).
    pub async fn deliver(
        &self,
        batch: &Batch,
        format: Format,
    ) -> Result<(u64, u64), NatsSinkError> {
        let mut pending = Vec::with_capacity(batch.events.len());
        for e in &batch.events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", e.position.to_string().as_str());
            let ack = self
                .js
                .publish_with_headers(self.subject.clone(), headers, format.encode_one(e).into())
                .await
                .map_err(|e| NatsSinkError::Publish(e.to_string()))?;
            pending.push(ack);
        }
        tokio::time::timeout(CONFIRM, async {
            let (mut fresh, mut duplicate) = (0u64, 0u64);
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
            Ok((fresh, duplicate))
        })
        .await
        .map_err(|_| NatsSinkError::Unconfirmed(CONFIRM))?
    }
}
