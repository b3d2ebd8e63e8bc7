//! The HTTP webhook sink's target: each batch one `POST` in the slot's format (NDJSON,
//! delimited Protobuf, an Avro container), with `georep-slot` and `georep-slot-position`
//! (the batch's frontier, the same on every retry of it: a receiver can drop a batch it
//! already took) headers. A batch counts as delivered once answered 2xx; anything else
//! (a refusal, a timeout, no connection) is retried with backoff by the runner, never
//! skipped. Every request is signed (`georep-signature`, `signature.rs`) with the sink's
//! secret.

use std::time::Duration;

use bytes::Bytes;

use super::signature;
use crate::cdc::encoding::Format;
use crate::cdc::reader::Batch;
use crate::client::Client;
use crate::config::Secret;

/// How long the receiver may take to answer one batch.
const ANSWER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook endpoint {0}: {1}")]
    Endpoint(String, String),
    #[error("POST {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("POST {url} answered {status}: {body}")]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

pub struct WebhookTarget {
    client: Client,
    url: String,
    path: String,
    secret: Secret,
}

impl WebhookTarget {
    pub fn new(endpoint: &str, path: &str, secret: Secret) -> Result<WebhookTarget, WebhookError> {
        let client = Client::new(endpoint)
            .map_err(|e| WebhookError::Endpoint(endpoint.to_string(), e.to_string()))?
            .with_timeout(ANSWER);
        Ok(WebhookTarget {
            client,
            url: format!("{endpoint}{path}"),
            path: path.to_string(),
            secret,
        })
    }

    pub async fn deliver(
        &self,
        slot: &str,
        batch: &Batch,
        format: Format,
    ) -> Result<(u64, u64), WebhookError> {
        let position = batch.frontier.to_string();
        let body = Bytes::from(format.encode(&batch.events));
        let signed = signature::sign(&self.secret.0, now_ms(), &body);
        let headers = [
            ("content-type", format.content_type()),
            ("georep-slot", slot),
            ("georep-slot-position", position.as_str()),
            (signature::HEADER, signed.as_str()),
        ];
        let r = self
            .client
            .request(hyper::Method::POST, &self.path, &headers, body)
            .await
            .map_err(|e| WebhookError::Unreachable {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        if !r.status.is_success() {
            let mut body = String::from_utf8_lossy(&r.body).into_owned();
            body.truncate(200);
            return Err(WebhookError::Refused {
                url: self.url.clone(),
                status: r.status.as_u16(),
                body,
            });
        }
        Ok((batch.events.len() as u64, 0))
    }
}

/// The signing time: the wall clock the receiver compares with (not the HLC, which may run
/// ahead of it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
