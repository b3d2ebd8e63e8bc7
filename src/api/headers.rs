//! The `x-georep-*` request headers, parsed and validated before anything else runs.

use axum::http::HeaderMap;
use axum::http::header::HeaderName;

use super::error::{ApiError, ErrorCode};
use crate::consistency::Consistency;
use crate::session::{SessionKeys, SessionToken, TokenError};
use crate::store::Precondition;

pub use super::header_names::*;

/// What a request asked for, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// `None` when the header is absent (the collection's default applies).
    pub consistency: Option<Consistency>,
    pub max_staleness_ms: Option<u64>,
    pub token: Option<SessionToken>,
}

fn text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(Some).map_err(|_| {
            ApiError::bad(
                ErrorCode::InvalidHeader,
                format!("header {name} is not visible ASCII"),
            )
        }),
    }
}

/// `x-georep-consistency`, None when absent. Parsed once per request (`api/scope.rs`).
pub fn consistency(headers: &HeaderMap) -> Result<Option<Consistency>, ApiError> {
    text(headers, &CONSISTENCY)?
        .map(|v| {
            v.parse::<Consistency>()
                .map_err(|e| ApiError::bad(ErrorCode::InvalidConsistency, e.to_string()))
        })
        .transpose()
}

impl RequestOptions {
    /// The request's options; `consistency` is the header as [`consistency`] parsed it.
    pub fn parse(
        headers: &HeaderMap,
        consistency: Result<Option<Consistency>, ApiError>,
        keys: &SessionKeys,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<Self, ApiError> {
        let consistency = consistency?;
        let max_staleness_ms = text(headers, &MAX_STALENESS)?
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad(
                        ErrorCode::InvalidMaxStaleness,
                        format!(
                            "{MAX_STALENESS} must be a whole number of milliseconds, got {v:?}"
                        ),
                    )
                })
            })
            .transpose()?;
        if max_staleness_ms.is_some()
            && consistency.is_some_and(|c| c != Consistency::BoundedStaleness)
        {
            return Err(ApiError::bad(
                ErrorCode::InvalidMaxStaleness,
                format!("{MAX_STALENESS} only applies to consistency bounded_staleness"),
            ));
        }
        let token = text(headers, &SESSION_TOKEN)?
            .filter(|t| !t.trim().is_empty())
            .map(|t| {
                SessionToken::decode(t, keys, now_ms, ttl_ms).map_err(|e| match e {
                    TokenError::UnknownKey(id) if keys.may_learn(id) => ApiError::Unavailable {
                        code: ErrorCode::SessionKeyNotYetKnown,
                        message: format!(
                            "this region has not learned session key {id} yet (a rotation is \
                             reaching it); retry"
                        ),
                        retry_after_s: 1,
                    },
                    e => ApiError::bad(ErrorCode::InvalidSessionToken, e.to_string()),
                })
            })
            .transpose()?;
        Ok(Self {
            consistency,
            max_staleness_ms,
            token,
        })
    }
}

/// `If-Match: <version>` (quotes allowed, as for an ETag) or `If-None-Match: *`.
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    let if_match = text(headers, &axum::http::header::IF_MATCH)?;
    let if_none = text(headers, &axum::http::header::IF_NONE_MATCH)?;
    match (if_match, if_none) {
        (Some(_), Some(_)) => Err(ApiError::bad(
            ErrorCode::InvalidPrecondition,
            "send If-Match or If-None-Match, not both",
        )),
        (Some(v), None) => {
            let raw = v.trim().trim_matches('"');
            raw.parse::<u64>().map(Precondition::Version).map_err(|_| {
                ApiError::bad(
                    ErrorCode::InvalidPrecondition,
                    format!("If-Match must be a document version (a number), got {v:?}"),
                )
            })
        }
        (None, Some(v)) if v.trim() == "*" => Ok(Precondition::Absent),
        (None, Some(v)) => Err(ApiError::bad(
            ErrorCode::InvalidPrecondition,
            format!("If-None-Match supports only \"*\" (create if absent), got {v:?}"),
        )),
        (None, None) => Ok(Precondition::None),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(1, [3; 32])
    }

    fn opts(pairs: &[(&HeaderName, &str)]) -> Result<RequestOptions, ApiError> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert((*k).clone(), HeaderValue::from_str(v).unwrap());
        }
        RequestOptions::parse(&h, consistency(&h), &keys(), 1_000, 60_000)
    }

    #[test]
    fn validates_every_header() {
        assert_eq!(opts(&[]).unwrap().consistency, None);
        assert_eq!(
            opts(&[(&CONSISTENCY, "Eventual")]).unwrap().consistency,
            Some(Consistency::Eventual)
        );
        assert_eq!(
            opts(&[(&CONSISTENCY, "fast")]).unwrap_err().code().as_str(),
            "invalid_consistency"
        );
        assert_eq!(
            opts(&[(&MAX_STALENESS, "-1")]).unwrap_err().code().as_str(),
            "invalid_max_staleness"
        );
        assert_eq!(
            opts(&[(&CONSISTENCY, "strong"), (&MAX_STALENESS, "5")])
                .unwrap_err()
                .code()
                .as_str(),
            "invalid_max_staleness"
        );
        assert_eq!(
            opts(&[(&SESSION_TOKEN, "abc")])
                .unwrap_err()
                .code()
                .as_str(),
            "invalid_session_token"
        );
        let good = SessionToken::default().encode(&keys(), 1_000);
        assert!(opts(&[(&SESSION_TOKEN, &good)]).unwrap().token.is_some());
    }

    #[test]
    fn preconditions() {
        let mut h = HeaderMap::new();
        assert_eq!(precondition(&h).unwrap(), Precondition::None);
        h.insert("if-match", HeaderValue::from_static("\"12\""));
        assert_eq!(precondition(&h).unwrap(), Precondition::Version(12));
        h.insert("if-none-match", HeaderValue::from_static("*"));
        assert!(precondition(&h).is_err());
        h.remove("if-match");
        assert_eq!(precondition(&h).unwrap(), Precondition::Absent);
        h.insert("if-none-match", HeaderValue::from_static("\"7\""));
        assert!(precondition(&h).is_err());
    }
}
