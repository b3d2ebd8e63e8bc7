//! The authentication layer in front of every route (`auth/` decides; this adapts it to
//! HTTP). It runs before proxying, so the region a client called checks its credentials
//! first; a proxied or forwarded request carries the caller's `Authorization` header to the
//! serving region, whose own check then applies the same role.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::ApiError;
use crate::auth::AuthError;

pub async fn check(State(ctx): State<Arc<ApiContext>>, req: Request, next: Next) -> Response {
    // A read repair is sent by a region, not a client: its peer certificate is the
    // credential (mutual TLS), and the endpoint refuses anything else (`api/quorum.rs`).
    if req
        .extensions()
        .get::<super::proxy::PeerRequest>()
        .is_some()
        && super::quorum::is_repair(req.method(), req.uri().path())
    {
        return next.run(req).await;
    }
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let decision = ctx.auth.authorize(
        req.method(),
        req.uri().path(),
        authorization,
        client,
        Instant::now(),
        ctx.now_ms() / 1000,
    );
    match decision {
        Ok(_) => next.run(req).await,
        Err(e) => to_api_error(e).into_response(),
    }
}

fn to_api_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Forbidden { .. } => ApiError::Forbidden {
            message: e.to_string(),
        },
        AuthError::Backoff { retry_after } => ApiError::AuthBackoff {
            message: e.to_string(),
            retry_after_s: retry_after.as_secs().max(1) as u32,
        },
        other => ApiError::Unauthenticated {
            message: other.to_string(),
        },
    }
}
