//! The S3 cold tier: archived objects past a configured age are rewritten in place into a
//! colder storage class (CopyObject onto itself with a new `x-amz-storage-class`). This is an
//! S3-only feature, so it goes through aws-sdk-s3; object_store has no storage-class copy.
//! For GCS and Azure, colder classes are bucket lifecycle rules (see `terraform/`).
//!
//! Only classes that serve a GET at once are allowed (the node's config checks this): an
//! archive class such as GLACIER would need a thaw before every restore.

use aws_sdk_s3::types::{MetadataDirective, StorageClass};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColdError {
    #[error("cold tier needs an s3:// archive URL, not {0:?}")]
    NotS3(String),
    #[error("S3 {op} of {key} failed: {message}")]
    S3 {
        op: &'static str,
        key: String,
        message: String,
    },
}

/// Moves objects of one `s3://bucket/prefix` archive into a storage class.
#[derive(Clone)]
pub struct S3ColdTier {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    class: StorageClass,
}

impl std::fmt::Debug for S3ColdTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ColdTier")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

impl S3ColdTier {
    /// Credentials, region and endpoint come from the standard AWS environment (and the
    /// instance role on EC2). `AWS_ENDPOINT`, which object_store reads, is honoured too, so
    /// one setting points both clients at the same (emulated) endpoint.
    pub async fn from_url(url: &str, storage_class: &str) -> Result<S3ColdTier, ColdError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| ColdError::NotS3(url.to_string()))?;
        let (bucket, prefix) = rest
            .trim_end_matches('/')
            .split_once('/')
            .unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ColdError::NotS3(url.to_string()));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .ok();
        if let Some(ep) = &endpoint {
            loader = loader.endpoint_url(ep);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            // a custom endpoint (an emulator, MinIO) rarely resolves bucket subdomains
            .force_path_style(endpoint.is_some())
            .build();
        Ok(S3ColdTier {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            class: StorageClass::from(storage_class),
        })
    }

    pub fn storage_class(&self) -> &str {
        self.class.as_str()
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    /// Rewrites `name` (relative to the archive root) into the cold class; its bytes, and so
    /// its envelope and checksums, are unchanged.
    pub async fn transition(&self, name: &str) -> Result<(), ColdError> {
        let key = self.key(name);
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .key(&key)
            .copy_source(format!("{}/{key}", self.bucket))
            .storage_class(self.class.clone())
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await
            .map_err(|e| ColdError::S3 {
                op: "CopyObject",
                key: key.clone(),
                message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }

    /// The object's storage class as S3 reports it (`STANDARD` when the header is absent).
    pub async fn current_class(&self, name: &str) -> Result<String, ColdError> {
        let key = self.key(name);
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| ColdError::S3 {
                op: "HeadObject",
                key: key.clone(),
                message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(head
            .storage_class()
            .map_or("STANDARD", StorageClass::as_str)
            .to_string())
    }
}
