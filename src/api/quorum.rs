//! Quorum reads of multi-master documents (`GET .../docs/{key}?quorum=N`) and the two
//! endpoints under them:
//! - `GET .../docs/{key}/heads`: what this region holds of the document, per origin log
//!   (version, stored bytes): what a quorum read gathers; also an operator's view of how far
//!   each origin has reached here;
//! - `POST .../docs/{key}/heads`: a read repair, from a peer region only (over the peer
//!   transport, mutual TLS; `proxy::PeerRequest`): installs the later heads it sends.
//!
//! A quorum read asks this region and the N-1 nearest others that answer, takes each
//! origin's newest head (`multimaster/quorum.rs`), answers the pick among them, and sends
//! each region that was behind the heads it lacked. `x-georep-quorum` names the regions
//! read, `x-georep-divergent` those that were behind (and repaired).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::context::ApiContext;
use super::docs::{finish, set_header};
use super::error::{ApiError, ErrorCode};
use super::headers;
use super::multi_master;
use super::proxy::{self, PeerRequest};
use super::scope::Scope;
use crate::merge::pick;
use crate::multimaster::Origins;
use crate::multimaster::quorum::{Held, plan};
use crate::session::SessionToken;
use crate::store::{Document, decode_head};

const PEER_TIMEOUT: Duration = Duration::from_secs(3);

pub fn is_repair(method: &Method, path: &str) -> bool {
    *method == Method::POST && path.starts_with("/v1/collections/") && path.ends_with("/heads")
}

/// The `quorum` query parameter, if given: 1 up to the placement's regions.
pub fn quorum_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let Some(q) = uri.query() else {
        return Ok(None);
    };
    Ok(q.split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .find(|(k, _)| *k == "quorum")
        .map(|(_, v)| v.to_string()))
}

fn bad_quorum(message: String) -> ApiError {
    ApiError::bad(ErrorCode::InvalidQuery, message)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeadWire {
    group: u32,
    version: u64,
    raw: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeadsWire {
    region: String,
    heads: Vec<HeadWire>,
}

fn to_wire(region: &str, heads: &[(u32, Vec<u8>)]) -> Result<HeadsWire, ApiError> {
    let mut out = Vec::with_capacity(heads.len());
    for (g, raw) in heads {
        let version = Document::decode_version(raw).map_err(|e| ApiError::Internal {
            message: format!("stored version of group {g}: {e}"),
        })?;
        out.push(HeadWire {
            group: *g,
            version,
            raw: B64.encode(raw),
        });
    }
    Ok(HeadsWire {
        region: region.to_string(),
        heads: out,
    })
}

fn from_wire(w: HeadsWire, origins: &Origins) -> Result<Held, String> {
    let known = origins.group_ids();
    let mut heads = BTreeMap::new();
    for h in w.heads {
        if !known.contains(&h.group) {
            return Err(format!(
                "group {} is no origin of {}",
                h.group, origins.collection
            ));
        }
        let raw = B64
            .decode(&h.raw)
            .map_err(|e| format!("group {}: {e}", h.group))?;
        heads.insert(h.group, (h.version, raw));
    }
    Ok(Held {
        region: w.region,
        heads,
    })
}

fn mm_origins(ctx: &ApiContext, scope: &Scope) -> Result<Origins, ApiError> {
    multi_master::origins(ctx, scope)?.ok_or_else(|| {
        ApiError::bad(
            ErrorCode::InvalidCollection,
            format!(
                "collection {:?} is not multi-master: it has one version per document",
                scope.resolved.collection
            ),
        )
    })
}

fn local_heads(ctx: &ApiContext, origins: &Origins, key: &str) -> Result<Held, ApiError> {
    let store = origins.all[0].group.store();
    let raw = store.merge_heads_raw(&origins.group_ids(), &origins.collection, key)?;
    let w = to_wire(&ctx.region, &raw)?;
    from_wire(w, origins).map_err(|m| ApiError::Internal { message: m })
}

fn doc_and_key(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    let Path((collection, key)) =
        path.map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad document path: {e}")))?;
    Ok((collection, key))
}

/// `GET .../docs/{key}/heads`.
pub async fn get_heads(
    State(ctx): State<Arc<ApiContext>>,
    ext: Option<Extension<Scope>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let run = async {
        let (collection, key) = doc_and_key(path)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let origins = mm_origins(&ctx, &scope)?;
        let store = origins.all[0].group.store();
        let raw = store.merge_heads_raw(&origins.group_ids(), &collection, &key)?;
        let body = serde_json::to_value(to_wire(&ctx.region, &raw)?).expect("serializes");
        Ok::<_, ApiError>((StatusCode::OK, axum::Json(body)).into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// `POST .../docs/{key}/heads`: a peer's read repair.
pub async fn repair(
    State(ctx): State<Arc<ApiContext>>,
    ext: Option<Extension<Scope>>,
    peer: Option<Extension<PeerRequest>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let Some(Extension(peer)) = peer else {
            return Err(ApiError::Forbidden {
                message: "read repairs come from peer regions over the peer transport only".into(),
            });
        };
        let (collection, key) = doc_and_key(path)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let origins = mm_origins(&ctx, &scope)?;
        let body = body.map_err(|e| ApiError::bad(ErrorCode::InvalidBody, e.to_string()))?;
        let w: HeadsWire = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad(ErrorCode::InvalidBody, format!("repair: {e}")))?;
        let held = from_wire(w, &origins).map_err(|m| ApiError::bad(ErrorCode::InvalidBody, m))?;
        let store = origins.all[0].group.store();
        let mut installed = 0;
        for (g, (_, raw)) in &held.heads {
            if store.repair_head(*g, &collection, &key, raw)? {
                installed += 1;
            }
        }
        tracing::debug!(%collection, %key, from = %peer.region, installed, "read repair");
        Ok((
            StatusCode::OK,
            axum::Json(serde_json::json!({ "installed": installed })),
        )
            .into_response())
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// A quorum read of `key` from `n` regions (this one and the nearest others that answer).
pub(super) async fn read(
    ctx: &ApiContext,
    scope: &Scope,
    origins: Origins,
    token: SessionToken,
    key: &str,
    quorum: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let regions: Vec<String> = origins.all.iter().map(|o| o.region.clone()).collect();
    let n: usize = quorum
        .parse()
        .ok()
        .filter(|n| (1..=regions.len()).contains(n))
        .ok_or_else(|| {
            bad_quorum(format!(
                "quorum must be 1..={} (the regions of {:?}), got {quorum:?}",
                regions.len(),
                origins.collection
            ))
        })?;
    let mut held = vec![local_heads(ctx, &origins, key)?];
    let path = format!(
        "/v1/collections/{}/docs/{}/heads",
        origins.collection,
        crate::client::percent_encode(key)
    );
    let uri: Uri = path.parse().map_err(|e| ApiError::Internal {
        message: format!("{path}: {e}"),
    })?;
    let others = ctx.placements.by_rtt(
        regions
            .iter()
            .filter(|r| **r != *ctx.region)
            .cloned()
            .collect(),
        None,
    );
    let mut unreachable = Vec::new();
    // the client's credentials go along: the other region checks them as this one did
    let mut fwd = HeaderMap::new();
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        fwd.insert(header::AUTHORIZATION, a.clone());
    }
    for region in &others {
        if held.len() >= n {
            break;
        }
        let answer = proxy::call(ctx, region, &Method::GET, &uri, &fwd, &[], PEER_TIMEOUT).await;
        let parsed = match answer {
            Ok(r) if r.status() == StatusCode::OK => {
                let body = axum::body::to_bytes(r.into_body(), 64 << 20)
                    .await
                    .map_err(|e| e.to_string());
                body.and_then(|b| {
                    serde_json::from_slice::<HeadsWire>(&b).map_err(|e| e.to_string())
                })
                .and_then(|w| from_wire(w, &origins))
            }
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        match parsed {
            Ok(h) => held.push(h),
            Err(e) => unreachable.push(format!("{region}: {e}")),
        }
    }
    if held.len() < n {
        return Err(ApiError::Unavailable {
            code: ErrorCode::NoQuorum,
            message: format!(
                "a quorum of {n} regions of {:?} was asked for; {} answered ({})",
                origins.collection,
                held.len(),
                unreachable.join("; ")
            ),
            retry_after_s: 1,
        });
    }
    let p = plan(&held);
    let mut divergent = Vec::new();
    for (region, missing) in &p.behind {
        divergent.push(region.clone());
        send_repair(ctx, &origins, &uri, key, region, missing).await;
    }
    if !divergent.is_empty() {
        ctx.metrics
            .quorum_repairs
            .with_label_values(&[&origins.collection])
            .inc_by(divergent.len() as u64);
    }
    let read: Vec<String> = held.iter().map(|h| h.region.clone()).collect();
    let mut heads = Vec::with_capacity(p.newest.len());
    for (_, raw) in p.newest.values() {
        heads.push(decode_head(raw)?);
    }
    let picked = pick(&heads);
    let resolved = match (&picked, ctx.topology.resolvers.get(&origins.collection)) {
        (Some(m), Some(resolver)) if m.conflict() => {
            let live: Vec<&crate::store::MergeHead> = std::iter::once(m.winner)
                .chain(m.losers.iter().copied())
                .collect();
            match crate::store::resolve_custom(&resolver, &live) {
                crate::merge::Resolution::Resolved(v) => Some(v),
                crate::merge::Resolution::Unresolved { .. } => None,
            }
        }
        _ => None,
    };
    let mut resp = match picked.filter(|m| resolved.is_none() && m.winner.value.value.is_some()) {
        Some(m) => {
            let version = m.winner.value.version;
            let merged = crate::multimaster::read::Merged {
                winner: m.winner.clone(),
                losers: m.losers.len(),
                live: Vec::new(),
            };
            let mut resp = super::multi_master::lww_response(merged);
            set_header(&mut resp, headers::VERSION, version);
            resp
        }
        None if resolved.is_some() => {
            let mut resp = (StatusCode::OK, axum::Json(resolved.expect("checked"))).into_response();
            set_header(&mut resp, headers::ORIGIN, "resolver");
            resp
        }
        None => ApiError::NotFound {
            message: format!(
                "no document {key:?} in collection {:?} in any of {}",
                origins.collection,
                read.join(", ")
            ),
        }
        .into_response(),
    };
    set_header(&mut resp, headers::QUORUM, read.join(","));
    set_header(&mut resp, headers::DIVERGENT, divergent.join(","));
    let _ = scope;
    Ok(finish(ctx, resp, token, None, Some(0)))
}

/// Installs `missing` in `region` (here directly, elsewhere over the peer transport). A
/// repair that fails is only logged: the region's origin logs bring the same versions.
async fn send_repair(
    ctx: &ApiContext,
    origins: &Origins,
    uri: &Uri,
    key: &str,
    region: &str,
    missing: &[(u32, Vec<u8>)],
) {
    let store = origins.all[0].group.store();
    if region == &*ctx.region {
        for (g, raw) in missing {
            if let Err(e) = store.repair_head(*g, &origins.collection, key, raw) {
                tracing::warn!(collection = %origins.collection, %key, error = %e, "read repair here failed");
            }
        }
        return;
    }
    let body = match to_wire(&ctx.region, missing) {
        Ok(w) => serde_json::to_vec(&w).expect("serializes"),
        Err(e) => {
            tracing::warn!(error = %e, "read repair not sent");
            return;
        }
    };
    let r = proxy::call(
        ctx,
        region,
        &Method::POST,
        uri,
        &HeaderMap::new(),
        &body,
        PEER_TIMEOUT,
    )
    .await;
    match r {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(%region, status = %r.status(), "read repair refused"),
        Err(e) => tracing::warn!(%region, error = %e, "read repair not delivered"),
    }
}
