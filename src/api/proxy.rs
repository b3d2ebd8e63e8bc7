//! Requests for a collection this region holds no replica of.
//!
//! They travel over QUIC (mutual TLS, like every byte between regions) to a region that
//! holds the collection, whose own API serves them exactly as if they had arrived there:
//! same validation, routing by consistency level, forwarding to the leader and errors. The
//! answer comes back unchanged, with `x-georep-proxied-by` naming this region (and
//! `x-georep-region` the region that served it). A proxied request is never proxied again.
//!
//! Writes and STRONG reads go to the group's voter first (the catalog's, for a `standard`
//! group), other reads to the nearest holder by configured RTT. A write is sent on to the
//! next holder only if the previous one could not be reached at all: once sent, its outcome
//! is unknown and retrying could apply it twice, so the client gets 503 and decides.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use super::error::ErrorCode;
use super::scope::Scope;
use super::{ApiContext, ApiError};
use crate::consistency::Consistency;
use crate::placement::Resolved;
use crate::transport::rpc::{self, CallError, RpcError, Service};
use crate::transport::{Handler, Inbound, TransportError};

/// Set on answers this region fetched from another.
pub const PROXIED_BY: HeaderName = HeaderName::from_static("x-georep-proxied-by");
/// Set by the serving region on a request that came through a proxy: it is not sent on.
pub const PROXIED_FROM: HeaderName = HeaderName::from_static("x-georep-proxied-from");

/// Marks a request that arrived over the peer transport from `region` (mutual TLS: the
/// region is its certificate's). A request extension, which no HTTP client can set, unlike
/// a header: the peer-only endpoints (a read repair) check it.
#[derive(Debug, Clone)]
pub struct PeerRequest {
    pub region: String,
}

/// Long enough for a write that waits for a quorum across the WAN and an ack policy.
const PROXY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct Head {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
}

/// The collection a document or admin path names, if any.
fn collection_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/v1/collections/")
        .or_else(|| path.strip_prefix("/v1/admin/collections/"))?;
    rest.split('/').next().filter(|c| !c.is_empty())
}

/// `/v1/admin/collections/{c}`: the path of a collection's placement.
fn is_placement_path(path: &str) -> bool {
    path.strip_prefix("/v1/admin/collections/")
        .is_some_and(|rest| !rest.trim_end_matches('/').contains('/'))
}

/// Sends a request to `region`'s API over the peer transport and returns its answer (with
/// `x-georep-proxied-by`); the error says why no answer came.
pub async fn send(
    ctx: &ApiContext,
    region: &str,
    parts: &axum::http::request::Parts,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, CallError> {
    call(
        ctx,
        region,
        &parts.method,
        &parts.uri,
        &parts.headers,
        body,
        timeout,
    )
    .await
}

/// As [`send`], for a request this region makes itself (a quorum read's, a repair).
pub async fn call(
    ctx: &ApiContext,
    region: &str,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, CallError> {
    let request = encode_request(method, uri, headers, body);
    let answer = ctx.caller.call_raw(region, &request, timeout).await?;
    decode_answer(&ctx.region, &answer).map_err(|reason| CallError::BadAnswer {
        region: region.to_string(),
        reason,
    })
}

fn text_headers(h: &axum::http::HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .filter(|(n, _)| *n != axum::http::header::HOST && *n != axum::http::header::CONTENT_LENGTH)
        .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// Middleware: serves the request here unless its collection lives only elsewhere.
pub async fn forward_unplaced(
    State(ctx): State<Arc<ApiContext>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(collection) = collection_of(req.uri().path()).map(str::to_string) else {
        return next.run(req).await;
    };
    let mut req = req;
    // resolved once for the whole request: the handler reads the same scope
    let scope = Scope::new(&ctx, &collection, req.headers());
    req.extensions_mut().insert(scope.clone());
    if is_placement_path(req.uri().path()) {
        // a placement change finds the group's leader itself (api/placement.rs)
        return next.run(req).await;
    }
    let r = &scope.resolved;
    // unplaced collections live in the default group, which every region holds
    if r.placement.is_none() || r.here || req.headers().contains_key(&PROXIED_FROM) {
        return next.run(req).await;
    }
    let write = !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let strong = matches!(scope.consistency, Ok(Some(Consistency::Strong)));
    let targets = targets(&ctx, r, write || strong);
    if targets.is_empty() {
        // the placement in force names this region after all (its replica is catching up
        // with the catalog): serve here
        return next.run(req).await;
    }
    if !write {
        ctx.metrics
            .reads
            .with_label_values(&[scope.level().as_str(), "proxied"])
            .inc();
    }
    let (parts, body) = req.into_parts();
    let limit = ctx.settings().max_value_bytes as usize + 1;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::bad(
                ErrorCode::InvalidBody,
                format!("could not read the request body: {e}"),
            )
            .into_response();
        }
    };
    let request = encode_request(&parts.method, &parts.uri, &parts.headers, &body);
    send_to_holders(&ctx, &collection, &targets, &request, write)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Tries `targets` in turn; a write goes on to the next only if the previous one was never
/// reached (once sent, its outcome is unknown and retrying could apply it twice).
async fn send_to_holders(
    ctx: &ApiContext,
    collection: &str,
    targets: &[String],
    request: &[u8],
    write: bool,
) -> Result<Response, ApiError> {
    let mut failures = Vec::new();
    for region in targets {
        match ctx.caller.call_raw(region, request, PROXY_TIMEOUT).await {
            Ok(answer) => match decode_answer(&ctx.region, &answer) {
                Ok(resp) => return Ok(resp),
                Err(e) => failures.push(format!("{region}: {e}")),
            },
            // never reached: the next holder may take it
            Err(e @ CallError::Transport(TransportError::Connect { .. })) => {
                failures.push(e.to_string())
            }
            Err(e) if !write => failures.push(e.to_string()),
            Err(e) => {
                return Err(ApiError::Unavailable {
                    code: ErrorCode::ProxyFailed,
                    message: format!(
                        "collection {collection:?} is held in {}; the write was sent to {region} \
                         and its outcome is unknown: {e}",
                        targets.join(", ")
                    ),
                    retry_after_s: 1,
                });
            }
        }
    }
    Err(ApiError::Unavailable {
        code: ErrorCode::ProxyFailed,
        message: format!(
            "collection {collection:?} is not replicated to region {} and no region holding it \
             answered: {}",
            ctx.region,
            failures.join("; ")
        ),
        retry_after_s: 1,
    })
}

/// The regions holding the collection, in the order to try them: the group's voter first
/// (the catalog's, for a `standard` group) when `to_voter`, then by configured RTT.
fn targets(ctx: &ApiContext, r: &Resolved, to_voter: bool) -> Vec<String> {
    let Some(replicas) = &r.replicas else {
        return Vec::new();
    };
    let voter = ctx
        .catalog
        .as_ref()
        .filter(|_| replicas.promotes_learner)
        .and_then(|c| c.record(r.group).ok())
        .map(|(rec, _)| rec.voter)
        .or_else(|| replicas.voters.first().cloned());
    let first = voter.as_deref().filter(|_| to_voter);
    ctx.placements.holders(r, first)
}

fn encode_request(
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Vec<u8> {
    let head = Head {
        method: method.to_string(),
        uri: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
        headers: text_headers(headers),
    };
    let mut request = rpc::request(Service::Proxy, body.len() + 256);
    rpc::put_json_head(&mut request, &head);
    request.extend_from_slice(body);
    request
}

/// A read this region could not serve at its level (its replica is behind the session, or
/// too stale and without a leader to confirm): the other replicas of the group are asked in
/// turn, leader first, and the first that can serve it answers. Reads change nothing, so
/// trying several is safe. None if no region could.
pub async fn read_elsewhere(
    ctx: &ApiContext,
    group: &crate::group::LogGroup,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> Option<Response> {
    if headers.contains_key(&PROXIED_FROM) {
        return None;
    }
    let spec = group.spec();
    // the leader first, unless this replica has stopped hearing from it
    let leader = group
        .leader()
        .filter(|_| group.leader_silence() < Duration::from_secs(2));
    // a replica that cannot serve answers within its session wait; one that does not
    // answer by then plus a margin is cut off, and the next is asked
    let timeout = Duration::from_millis(ctx.settings().session_wait_ms) + Duration::from_secs(2);
    let others = ctx
        .placements
        .by_rtt(spec.others(&ctx.region), leader.as_deref());
    let request = encode_request(&axum::http::Method::GET, uri, headers, &[]);
    for region in &others {
        let Ok(answer) = ctx.caller.call_raw(region, &request, timeout).await else {
            continue;
        };
        match decode_answer(&ctx.region, &answer) {
            Ok(resp) if !resp.status().is_server_error() => return Some(resp),
            _ => continue,
        }
    }
    None
}

fn decode_answer(this_region: &str, answer: &[u8]) -> Result<Response, String> {
    let (head, body): (Answer, &[u8]) =
        rpc::json_head(answer, "proxied answer").map_err(|e| e.to_string())?;
    let mut resp = Response::new(Body::from(Bytes::copy_from_slice(body)));
    *resp.status_mut() = StatusCode::from_u16(head.status).map_err(|e| e.to_string())?;
    for (n, v) in head.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(n), HeaderValue::from_str(&v)) {
            resp.headers_mut().append(n, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(this_region) {
        resp.headers_mut().insert(PROXIED_BY, v);
    }
    Ok(resp)
}

/// The transport handler of `Service::Proxy`: serves proxied requests with the API once it
/// runs (peers that call earlier are told it is starting, and try the next holder).
pub fn handler(router: Arc<OnceLock<Router>>) -> Handler {
    Arc::new(move |from: Inbound, request: Bytes| {
        let router = router.clone();
        Box::pin(async move { serve(&router, &from.peer, &request).await })
    })
}

async fn serve(router: &OnceLock<Router>, peer: &str, request: &[u8]) -> Result<Bytes, RpcError> {
    let router = rpc::once_ready(router, "the client API")?.clone();
    let (head, body): (Head, &[u8]) = rpc::json_head(request, "proxied request")?;
    let mut req = Request::builder()
        .method(head.method.as_str())
        .uri(head.uri.as_str());
    for (n, v) in &head.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let req = req
        .header(PROXIED_FROM, peer)
        .extension(PeerRequest {
            region: peer.to_string(),
        })
        .body(Body::from(Bytes::copy_from_slice(body)))
        .map_err(|e| RpcError::malformed("proxied request", e))?;
    let failed = |what: &str, e: &dyn std::fmt::Display| RpcError::Failed {
        reason: format!("{what}: {e}"),
    };
    let resp = router
        .oneshot(req)
        .await
        .map_err(|e| failed("serving a proxied request", &e))?;
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| failed("reading a proxied answer", &e))?;
    let mut out = Vec::with_capacity(body.len() + 256);
    rpc::put_json_head(
        &mut out,
        &Answer {
            status: parts.status.as_u16(),
            headers: text_headers(&parts.headers),
        },
    );
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}
