//! Client authentication and authorization for the HTTP API (`[auth]` in the topology).
//!
//! A request carries `Authorization: Bearer <token>`: a static token (compared by SHA-256,
//! in constant time, against every configured hash) or an HS256 JWT with a `role` claim. The
//! role must allow what the request needs (`policy.rs`); otherwise 401 `unauthenticated` or
//! 403 `forbidden`. An address that keeps failing is backed off (`backoff.rs`, 429). Failures
//! are counted by reason in `georep_auth_failures_total`. No token, hash or key is ever
//! logged, put in a metric or echoed in an error.

mod backoff;
pub mod jwt;
pub mod policy;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::http::Method;
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, Role};
pub use backoff::{Backoff, FREE_FAILURES};
pub use policy::Access;

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name in `[[auth.tokens]]`, or the JWT's `sub` (`jwt` without one).
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this endpoint needs credentials: send Authorization: Bearer <token>")]
    Missing,
    #[error("the Authorization header is not `Bearer <token>`")]
    Malformed,
    #[error("the bearer token is not known to this cluster")]
    UnknownToken,
    #[error("{0}")]
    Jwt(#[from] jwt::JwtError),
    #[error("role {role} may not do this; it needs {needed}")]
    Forbidden { role: Role, needed: Role },
    #[error("too many failed authentications from this address; retry in {} s", retry_after.as_secs().max(1))]
    Backoff { retry_after: Duration },
}

impl AuthError {
    /// The `reason` label of `georep_auth_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::UnknownToken => "unknown_token",
            AuthError::Jwt(jwt::JwtError::Expired { .. }) => "expired",
            AuthError::Jwt(jwt::JwtError::BadSignature) => "bad_signature",
            AuthError::Jwt(_) => "invalid_jwt",
            AuthError::Forbidden { .. } => "forbidden",
            AuthError::Backoff { .. } => "backoff",
        }
    }
}

pub struct Authenticator {
    config: AuthConfig,
    backoff: Backoff,
    failures: Option<prometheus::IntCounterVec>,
}

/// `a == b` in time that depends only on the length.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Authenticator {
    pub fn new(
        config: AuthConfig,
        registry: Option<&prometheus::Registry>,
    ) -> prometheus::Result<Self> {
        let failures = match registry {
            Some(r) => {
                let c = prometheus::IntCounterVec::new(
                    prometheus::Opts::new(
                        "georep_auth_failures_total",
                        "Client API requests refused by authentication or authorization, by reason",
                    ),
                    &["reason"],
                )?;
                r.register(Box::new(c.clone()))?;
                Some(c)
            }
            None => None,
        };
        Ok(Authenticator {
            config,
            backoff: Backoff::default(),
            failures,
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled()
    }

    /// Who `authorization` (the header's value) is, at Unix time `now_s`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now_s: u64,
    ) -> Result<Identity, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Malformed)?;
        if let Some(key) = &self.config.jwt_hs256_key
            && token.bytes().filter(|&b| b == b'.').count() == 2
        {
            let c = jwt::verify(token, &key.0, now_s)?;
            return Ok(Identity {
                name: c.sub.unwrap_or_else(|| "jwt".into()),
                role: c.role,
            });
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // every configured hash is compared, so timing says nothing about which matched
        let mut found = None;
        for t in &self.config.tokens {
            if ct_eq(&t.sha256, &hash) {
                found = Some(t);
            }
        }
        found
            .map(|t| Identity {
                name: t.name.clone(),
                role: t.role,
            })
            .ok_or(AuthError::UnknownToken)
    }

    /// Decides one request: `Ok(None)` for an open endpoint (or auth off), the identity when
    /// its role allows the request, an error (counted) otherwise. `client` is the caller's
    /// address when known (direct connections; proxied requests were checked by the region
    /// that received them, and are checked again here without the backoff).
    pub fn authorize(
        &self,
        method: &Method,
        path: &str,
        authorization: Option<&str>,
        client: Option<IpAddr>,
        now: Instant,
        now_s: u64,
    ) -> Result<Option<Identity>, AuthError> {
        if !self.enabled() {
            return Ok(None);
        }
        let needed = match policy::required(method, path) {
            Access::Open => return Ok(None),
            Access::Needs(r) => r,
        };
        let result = self.decide(needed, authorization, client, now, now_s);
        if let Err(e) = &result
            && let Some(f) = &self.failures
        {
            f.with_label_values(&[e.reason()]).inc();
        }
        result.map(Some)
    }

    fn decide(
        &self,
        needed: Role,
        authorization: Option<&str>,
        client: Option<IpAddr>,
        now: Instant,
        now_s: u64,
    ) -> Result<Identity, AuthError> {
        if let Some(ip) = client {
            self.backoff
                .check(ip, now)
                .map_err(|retry_after| AuthError::Backoff { retry_after })?;
        }
        match self.authenticate(authorization, now_s) {
            Ok(id) => {
                if let Some(ip) = client {
                    self.backoff.succeeded(ip);
                }
                if id.role.allows(needed) {
                    Ok(id)
                } else {
                    Err(AuthError::Forbidden {
                        role: id.role,
                        needed,
                    })
                }
            }
            Err(e) => {
                if let Some(ip) = client
                    && let Some(block) = self.backoff.failed(ip, now)
                {
                    tracing::warn!(client = %ip, block_s = block.as_secs(), reason = e.reason(), "repeated authentication failures: backing off this address");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthMode, Secret, StaticToken};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn auth() -> Authenticator {
        let hash = |t: &str| -> [u8; 32] { Sha256::digest(t.as_bytes()).into() };
        let config = AuthConfig {
            mode: AuthMode::Token,
            tokens: vec![
                StaticToken {
                    name: "app".into(),
                    role: Role::Writer,
                    sha256: hash("w-token"),
                },
                StaticToken {
                    name: "ro".into(),
                    role: Role::Reader,
                    sha256: hash("r-token"),
                },
            ],
            jwt_hs256_key: Some(Secret(KEY.to_vec())),
        };
        Authenticator::new(config, None).unwrap()
    }

    #[test]
    fn credentials_by_kind_and_role() {
        let a = auth();
        let now = Instant::now();
        let put = |h: Option<&str>| {
            a.authorize(
                &Method::PUT,
                "/v1/collections/c/docs/k",
                h,
                None,
                now,
                1_000,
            )
        };
        assert_eq!(put(None).unwrap_err(), AuthError::Missing);
        assert_eq!(put(Some("Basic abc")).unwrap_err(), AuthError::Malformed);
        assert_eq!(
            put(Some("Bearer nope")).unwrap_err(),
            AuthError::UnknownToken
        );
        assert_eq!(put(Some("Bearer w-token")).unwrap().unwrap().name, "app");
        assert!(matches!(
            put(Some("Bearer r-token")),
            Err(AuthError::Forbidden {
                role: Role::Reader,
                needed: Role::Writer
            })
        ));
        let jwt = jwt::sign(KEY, Role::Admin, Some("ops"), 2_000);
        assert_eq!(
            put(Some(&format!("Bearer {jwt}"))).unwrap().unwrap().name,
            "ops"
        );
        let old = jwt::sign(KEY, Role::Admin, None, 500);
        assert_eq!(
            put(Some(&format!("Bearer {old}"))).unwrap_err().reason(),
            "expired"
        );
        assert_eq!(
            a.authorize(&Method::GET, "/healthz", None, None, now, 1_000),
            Ok(None)
        );
    }

    #[test]
    fn a_failing_address_is_backed_off_even_with_good_credentials() {
        let a = auth();
        let ip: IpAddr = "127.0.0.7".parse().unwrap();
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            let _ = a.authorize(
                &Method::GET,
                "/metrics",
                Some("Bearer bad"),
                Some(ip),
                now,
                1,
            );
        }
        let e = a.authorize(
            &Method::GET,
            "/metrics",
            Some("Bearer r-token"),
            Some(ip),
            now,
            1,
        );
        assert!(matches!(e, Err(AuthError::Backoff { .. })), "{e:?}");
        let later = now + Duration::from_secs(2);
        assert!(
            a.authorize(
                &Method::GET,
                "/metrics",
                Some("Bearer r-token"),
                Some(ip),
                later,
                1
            )
            .is_ok()
        );
    }

    #[test]
    fn errors_never_echo_the_token() {
        let a = auth();
        let e = a.authenticate(Some("Bearer s3cr3t-value"), 1).unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"));
    }
}
