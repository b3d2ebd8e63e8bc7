//! API errors by meaning. Each knows its HTTP status and renders as
//! `{"error": {"code": "...", "message": "..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use super::error_code::ErrorCode;
use crate::consistency::ReadRefusal;
use crate::group::GroupError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("{message}")]
    NotFound { message: String },
    #[error("precondition failed: {}", match current {
        Some(v) => format!("the document is at version {v}"),
        None => "the document does not exist".to_string(),
    })]
    PreconditionFailed { current: Option<u64> },
    #[error("{message}")]
    TooLarge { code: ErrorCode, message: String },
    /// The requested consistency cannot be met right now; retrying later may succeed.
    #[error("{message}")]
    Unavailable {
        code: ErrorCode,
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
    /// The request conflicts with the state it would change (a slot that exists).
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("{message}")]
    Internal { message: String },
}

impl ApiError {
    pub fn bad(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind().0
    }

    pub fn code(&self) -> ErrorCode {
        self.kind().1
    }

    /// Each error's HTTP status and wire code, in one table.
    fn kind(&self) -> (StatusCode, ErrorCode) {
        use ErrorCode as C;
        use StatusCode as S;
        match self {
            ApiError::BadRequest { code, .. } => (S::BAD_REQUEST, *code),
            ApiError::TooLarge { code, .. } => (S::PAYLOAD_TOO_LARGE, *code),
            ApiError::Unavailable { code, .. } => (S::SERVICE_UNAVAILABLE, *code),
            ApiError::NotFound { .. } => (S::NOT_FOUND, C::NotFound),
            ApiError::PreconditionFailed { .. } => (S::PRECONDITION_FAILED, C::PreconditionFailed),
            ApiError::Misdirected { .. } => (S::MISDIRECTED_REQUEST, C::NotPlacedHere),
            ApiError::Unauthenticated { .. } => (S::UNAUTHORIZED, C::Unauthenticated),
            ApiError::Forbidden { .. } => (S::FORBIDDEN, C::Forbidden),
            ApiError::AuthBackoff { .. } => (S::TOO_MANY_REQUESTS, C::AuthBackoff),
            ApiError::Conflict { code, .. } => (S::CONFLICT, *code),
            ApiError::Internal { .. } => (S::INTERNAL_SERVER_ERROR, C::Internal),
        }
    }
}

impl ApiError {
    /// A read `region` could not admit at its level, as its 503 with the refusal's code.
    pub fn read_refused(region: &str, r: ReadRefusal) -> Self {
        // the refusal names its own wire code (consistency/refusal.rs); this only types it
        ApiError::Unavailable {
            code: ErrorCode::parse(r.code()).unwrap_or(ErrorCode::ConsistencyUnavailable),
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
                code: ErrorCode::ShuttingDown,
                message: "this node is shutting down".into(),
                retry_after_s: 1,
            },
            GroupError::NoLeader { .. }
            | GroupError::Forward { .. }
            | GroupError::CommitTimeout { .. } => ApiError::Unavailable {
                code: ErrorCode::NoQuorum,
                message: e.to_string(),
                retry_after_s: 1,
            },
            GroupError::ArchiveBacklog { .. } => ApiError::Unavailable {
                code: ErrorCode::ArchiveBacklog,
                message: e.to_string(),
                retry_after_s: 10,
            },
            GroupError::Fenced { .. } => ApiError::Unavailable {
                code: ErrorCode::Fenced,
                message: e.to_string(),
                retry_after_s: 1,
            },
            GroupError::Catalog(_) => ApiError::Unavailable {
                code: ErrorCode::CatalogUnavailable,
                message: e.to_string(),
                retry_after_s: 2,
            },
            GroupError::Membership { .. } => ApiError::Unavailable {
                code: ErrorCode::MembershipChangeFailed,
                message: e.to_string(),
                retry_after_s: 5,
            },
            GroupError::SyncReplicasUnavailable { .. } => ApiError::Unavailable {
                code: ErrorCode::SyncReplicasUnavailable,
                message: e.to_string(),
                retry_after_s: 2,
            },
            other => {
                tracing::error!(error = %other, "write failed");
                ApiError::Unavailable {
                    code: ErrorCode::WriteUnavailable,
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
            headers.insert(super::header_names::VERSION, HeaderValue::from(*v));
        }
        resp
    }
}
