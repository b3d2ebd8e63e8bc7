//! API errors by meaning. Each knows its HTTP status and renders as
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::group::GroupError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("precondition failed: {}", match current {
        Some(v) => format!("the document is at version {v}"),
        None => "the document does not exist".to_string(),
    })]
    PreconditionFailed { current: Option<u64> },
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    /// The requested consistency cannot be met right now; retrying later may succeed.
    #[error("{message}")]
    Unavailable {
        code: &'static str,
        message: String,
        retry_after_s: u32,
    },
    /// No or bad credentials (auth on).
    #[error("{message}")]
    Unauthenticated { message: String },
    /// The credentials' role does not allow the request.
    #[error("{message}")]
    Forbidden { message: String },
    /// Too many failed authentications from this address.
    #[error("{message}")]
    AuthBackoff { message: String, retry_after_s: u32 },
    /// The collection has no replica in this region.
    #[error("{message}")]
    Misdirected { message: String },
    #[error("{message}")]
    Internal { message: String },
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Misdirected { .. } => StatusCode::MISDIRECTED_REQUEST,
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::AuthBackoff { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unavailable { code, .. }
            | ApiError::TooLarge { code, .. } => code,
            ApiError::NotFound { .. } => "not_found",
            ApiError::PreconditionFailed { .. } => "precondition_failed",
            ApiError::Misdirected { .. } => "not_placed_here",
            ApiError::Unauthenticated { .. } => "unauthenticated",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::AuthBackoff { .. } => "auth_backoff",
            ApiError::Internal { .. } => "internal",
        }
    }
}

impl ApiError {
    /// A read `region` could not admit at its level, as its 503 with the refusal's code.
    pub fn read_refused(region: &str, r: crate::consistency::ReadRefusal) -> Self {
        ApiError::Unavailable {
            code: r.code(),
            message: format!("region {region}: {r}"),
            retry_after_s: r.retry_after_s(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error while serving a request");
        ApiError::Internal {
            message: e.to_string(),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Closed => ApiError::Unavailable {
                code: "shutting_down",
                message: "this node is shutting down".into(),
                retry_after_s: 1,
            },
            GroupError::NoLeader { .. }
            | GroupError::Forward { .. }
            | GroupError::CommitTimeout { .. } => ApiError::Unavailable {
                code: "no_quorum",
                message: e.to_string(),
                retry_after_s: 1,
            },
            GroupError::ArchiveBacklog { .. } => ApiError::Unavailable {
                code: "archive_backlog",
                message: e.to_string(),
                retry_after_s: 10,
            },
            GroupError::Fenced { .. } => ApiError::Unavailable {
                code: "fenced",
                message: e.to_string(),
                retry_after_s: 1,
            },
            GroupError::Catalog(_) => ApiError::Unavailable {
                code: "catalog_unavailable",
                message: e.to_string(),
                retry_after_s: 2,
            },
            GroupError::Membership { .. } => ApiError::Unavailable {
                code: "membership_change_failed",
                message: e.to_string(),
                retry_after_s: 5,
            },
            GroupError::SyncReplicasUnavailable { .. } => ApiError::Unavailable {
                code: "sync_replicas_unavailable",
                message: e.to_string(),
                retry_after_s: 2,
            },
            other => {
                tracing::error!(error = %other, "write failed");
                ApiError::Unavailable {
                    code: "write_unavailable",
                    message: format!("the write was not committed: {other}"),
                    retry_after_s: 5,
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        if let ApiError::Unavailable { retry_after_s, .. }
        | ApiError::AuthBackoff { retry_after_s, .. } = &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
        }
        if let ApiError::Unauthenticated { .. } = &self {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"georep\""),
            );
        }
        if let ApiError::PreconditionFailed {
            current: Some(v), ..
        } = &self
        {
            headers.insert(super::headers::VERSION, HeaderValue::from(*v));
        }
        resp
    }
}
