//! Operator endpoints: placements in force with their live ack policies, and changing a collection's
//! ack policy at run time (written through its group's log, so it holds on every replica
//! and across restarts and failovers).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use crate::config::AckMode;
use crate::group::AckPolicy;

/// `GET /v1/admin/collections`: every placement and the ack policy its group runs now.
pub async fn list_collections(State(ctx): State<Arc<ApiContext>>) -> Response {
    let mut out = Vec::new();
    for planned in &ctx.topology.collections {
        let p = ctx
            .placement(&planned.name)
            .unwrap_or_else(|| planned.clone());
        let record = ctx
            .placements
            .records()
            .and_then(|r| r.get(&p.name).ok().flatten())
            .map(|(r, _)| r);
        let live = Some(ctx.placements.group_of(&p.name))
            .filter(|_| ctx.placements.is_placed(&p.name))
            .and_then(|id| ctx.groups.get(id))
            .map(|g| (g.id().to_string(), g.spec()));
        out.push(serde_json::json!({
            "name": p.name,
            "tier": p.tier,
            "regions": p.regions,
            "extra_learners": p.learners,
            "consistency": p.consistency,
            "max_staleness_ms": p.max_staleness_ms,
            "changes": record.as_ref().map_or(0, |r| r.changes),
            "changing_to": record.and_then(|r| r.changing_to),
            "group": live.as_ref().map(|(id, _)| id.clone()),
            "voters": live.as_ref().map(|(_, s)| s.voters.clone()),
            "learners": live.as_ref().map(|(_, s)| s.learners.clone()),
            "ack": live.as_ref().map(|(_, s)| s.ack),
        }));
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({ "collections": out })),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    ack_mode: AckMode,
    min_sync_replicas: Option<u32>,
    semi_sync_timeout_ms: Option<u64>,
}

/// `PUT /v1/admin/collections/{collection}/ack` with
/// `{"ack_mode": "sync"|"semi_sync"|"async", "min_sync_replicas": N, "semi_sync_timeout_ms": T}`.
pub async fn set_ack(
    State(ctx): State<Arc<ApiContext>>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    match set_ack_inner(&ctx, path, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn set_ack_inner(
    ctx: &ApiContext,
    path: Result<Path<String>, PathRejection>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Path(collection) = path
        .map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad collection path: {e}")))?;
    if ctx.topology.collection(&collection).is_none() {
        return Err(ApiError::NotFound {
            message: format!(
                "collection {collection:?} has no placement in the topology (unplaced \
                 collections share the default group, whose policy is fixed)"
            ),
        });
    }
    let req: AckBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            ErrorCode::InvalidBody,
            format!(
                "expected {{\"ack_mode\": \"sync\"|\"semi_sync\"|\"async\", \"min_sync_replicas\": N, \
                 \"semi_sync_timeout_ms\": T}}: {e}"
            ),
        )
    })?;
    let group = ctx.group_for(&ctx.resolve(&collection))?;
    let spec = group.spec();
    let others = |learners: bool| {
        (spec.voters.len() - 1 + if learners { spec.learners.len() } else { 0 }) as u32
    };
    let ack = AckPolicy {
        mode: req.ack_mode,
        min_sync_replicas: req.min_sync_replicas.unwrap_or(match req.ack_mode {
            AckMode::Sync => others(false),
            AckMode::SemiSync => others(true).min(1),
            AckMode::Async => 0,
        }),
        semi_sync_timeout: Duration::from_millis(
            req.semi_sync_timeout_ms
                .unwrap_or(spec.ack.semi_sync_timeout.as_millis() as u64),
        ),
    };
    spec.check_ack(&ack).map_err(|(field, reason)| {
        ApiError::bad(ErrorCode::InvalidAckPolicy, format!("{field}: {reason}"))
    })?;
    if ack.mode == AckMode::SemiSync && ack.min_sync_replicas == 0 {
        tracing::warn!(%collection, "semi_sync with min_sync_replicas = 0 acknowledges on the leader alone");
    }
    let c = group.set_ack_policy(ack).await?;
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "collection": collection,
            "group": group.id().to_string(),
            "ack": ack,
            "index": c.index,
            "leader": c.leader,
        })),
    )
        .into_response())
}

/// `POST /v1/admin/session-keys/rotate`: a new random signing key for session tokens, made
/// in the meta group so every region adopts it (within half a second); tokens signed with
/// the two previous keys keep verifying. The answer names key ids, never key material.
pub async fn rotate_session_key(State(ctx): State<Arc<ApiContext>>) -> Response {
    let Some(catalog) = &ctx.catalog else {
        return ApiError::bad(
            ErrorCode::RotationUnsupported,
            "a single-region node has no meta group: rotate by replacing its session key file \
             and restarting",
        )
        .into_response();
    };
    match catalog.rotate_session_key().await {
        Ok(ring) => {
            let body = serde_json::json!({
                "current_key_id": ring.current_id(),
                "verifying_key_ids": ring.ids(),
            });
            *ctx.keys.write().expect("session keys") = ring;
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
