//! `PUT /v1/admin/collections/{collection}`: moves a collection to a new placement while it
//! serves.
//!
//! The body is a `[[collections]]` entry of the topology file without its name, validated
//! the same way (errors name the field). The request finds the group's leader (over the
//! peer transport if it is elsewhere), which runs the change (`placement/change.rs`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use super::proxy::{self, PROXIED_FROM};
use crate::catalog::into_group;
use crate::config::{AckMode, CollectionSpec, Placement, Tier};
use crate::consistency::Consistency;
use crate::group::LogGroup;
use crate::placement::change::{self, CATCH_UP, ChangeError};

/// A placement as the request states it: the topology file's fields, without the name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    tier: Tier,
    regions: Vec<String>,
    consistency: Option<Consistency>,
    max_staleness_ms: Option<u64>,
    ack_mode: Option<AckMode>,
    min_sync_replicas: Option<u32>,
    semi_sync_timeout_ms: Option<u64>,
    learners: Option<Vec<String>>,
}

pub async fn put_placement(
    State(ctx): State<Arc<ApiContext>>,
    path: Result<Path<String>, PathRejection>,
    request: axum::extract::Request,
) -> Response {
    match put_inner(&ctx, path, request).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn put_inner(
    ctx: &ApiContext,
    path: Result<Path<String>, PathRejection>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let Path(collection) = path
        .map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad collection path: {e}")))?;
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|e| {
        ApiError::bad(
            ErrorCode::InvalidBody,
            format!("could not read the body: {e}"),
        )
    })?;
    let target = validate(ctx, &collection, &body)?;
    let Some(records) = ctx.placements.records() else {
        return Err(ApiError::bad(
            ErrorCode::PlacementChangeUnsupported,
            "a single-region topology has no meta group to record a placement change in",
        ));
    };
    let current = ctx
        .placements
        .in_force(&collection)
        .expect("validated: placed");
    if current.tier == Tier::MultiMaster || target.tier == Tier::MultiMaster {
        return multi_master_change(records, &collection, current, target).await;
    }
    if current.tier == Tier::Standard || target.tier == Tier::Standard {
        return Err(ApiError::bad(
            ErrorCode::PlacementChangeUnsupported,
            "moving a collection into or out of the standard tier is not supported yet: its \
             failover is fenced by the catalog's epoch record, which this change does not \
             rewrite. Move between critical and archival placements, or change learners, ack \
             mode and consistency within a tier",
        ));
    }
    let gid = ctx.placements.group_of(&collection);
    let group = ctx
        .groups
        .get(gid)
        .expect("every region opens every placed group");
    if !group.is_leader() {
        return to_leader(ctx, group, &parts, &body).await;
    }
    let changed = change::run(records, group, &collection, current, &target)
        .await
        .map_err(change_error)?;
    let members = changed.members;
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "collection": collection,
            "group": gid.to_string(),
            "placement": target,
            "previous": changed.previous,
            "voters": members.voters,
            "learners": members.learners,
            "ack": members.ack,
            "took_ms": changed.took.as_millis() as u64,
        })),
    )
        .into_response())
}

/// A multi-master collection changes online only in what moves no data: its default
/// consistency and staleness bound (its regions, conflict rule and tier stay).
async fn multi_master_change(
    records: &crate::placement::PlacementRecords,
    collection: &str,
    current: Placement,
    mut target: Placement,
) -> Result<Response, ApiError> {
    let refuse = |why: &str| Err(ApiError::bad(ErrorCode::PlacementChangeUnsupported, why));
    if current.tier != target.tier {
        return refuse(
            "moving a collection into or out of the multi_master tier is refused: a \
             multi-master collection lives in one origin log per region, a single-leader one \
             in one log, and merging the origins into one log (or splitting one) online is not \
             built. Create a new collection and copy the documents",
        );
    }
    let mut now = current.regions.clone();
    let mut asked = target.regions.clone();
    now.sort();
    asked.sort();
    if now != asked {
        return refuse(
            "changing the regions of a multi-master collection online is not built: each \
             region writes an origin log that every other region opens at start. Change \
             consistency or max_staleness_ms here; regions in the topology file",
        );
    }
    // the regions' order and the conflict rule are the topology file's
    target.regions = current.regions.clone();
    target.conflict = current.conflict;
    target.crdt = current.crdt;
    target.resolver = current.resolver.clone();
    let changed = change::run_settings(records, collection, current, &target)
        .await
        .map_err(change_error)?;
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "collection": collection,
            "placement": target,
            "previous": changed.previous,
            "voters": changed.members.voters,
            "learners": changed.members.learners,
            "took_ms": changed.took.as_millis() as u64,
        })),
    )
        .into_response())
}

/// Checks the body as the topology file's loader would; errors name the field.
fn validate(ctx: &ApiContext, collection: &str, body: &[u8]) -> Result<Placement, ApiError> {
    if !ctx.placements.is_placed(collection) {
        return Err(ApiError::NotFound {
            message: format!(
                "collection {collection:?} has no placement in the topology file; a placement \
                 can change at run time, but a new one starts in the topology file"
            ),
        });
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad(
            ErrorCode::InvalidBody,
            format!(
                "expected {{\"tier\": \"critical\"|\"standard\"|\"archival\", \"regions\": [..], \
                 and optionally consistency, max_staleness_ms, ack_mode, min_sync_replicas, \
                 semi_sync_timeout_ms, learners}}: {e}"
            ),
        )
    })?;
    let spec = CollectionSpec {
        name: collection.to_string(),
        tier: b.tier,
        regions: b.regions,
        consistency: b.consistency,
        max_staleness_ms: b.max_staleness_ms,
        ack_mode: b.ack_mode,
        min_sync_replicas: b.min_sync_replicas,
        semi_sync_timeout_ms: b.semi_sync_timeout_ms,
        learners: b.learners,
        conflict: None,
        crdt: None,
        resolver: None,
    };
    let node = ctx.settings();
    let mut warnings = Vec::new();
    let placement = spec
        .validate(
            "body",
            &ctx.topology.region_names(),
            node.default_consistency,
            node.default_max_staleness_ms,
            &mut warnings,
        )
        .map_err(|e| ApiError::bad(ErrorCode::InvalidPlacement, e.to_string()))?;
    for w in warnings {
        tracing::warn!(%collection, "{w}");
    }
    Ok(placement)
}

/// Sends the request to the region leading the group (or, not knowing it, to the voters
/// in turn). A request that already came from another region is not sent on again.
async fn to_leader(
    ctx: &ApiContext,
    group: &LogGroup,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<Response, ApiError> {
    if parts.headers.contains_key(&PROXIED_FROM) {
        return Err(ApiError::Unavailable {
            code: ErrorCode::NotLeader,
            message: format!(
                "region {} does not lead group {} (leader: {}); retry",
                ctx.region,
                group.id(),
                group.leader().unwrap_or_else(|| "unknown".into())
            ),
            retry_after_s: 1,
        });
    }
    let candidates = match group.leader() {
        Some(l) if l != *ctx.region => vec![l],
        _ => group
            .spec()
            .voters
            .into_iter()
            .filter(|r| **r != *ctx.region)
            .collect(),
    };
    let mut failures = Vec::new();
    for region in candidates {
        match proxy::send(ctx, &region, parts, body, CATCH_UP * 2).await {
            Ok(resp) => return Ok(resp),
            Err(e) => failures.push(format!("{region}: {e}")),
        }
    }
    Err(ApiError::Unavailable {
        code: ErrorCode::NoQuorum,
        message: format!(
            "no leader of group {} could be reached: {}",
            group.id(),
            failures.join("; ")
        ),
        retry_after_s: 2,
    })
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::Conflict(_) => ApiError::Unavailable {
            code: ErrorCode::PlacementConflict,
            message: e.to_string(),
            retry_after_s: 1,
        },
        ChangeError::Catalog(c) => into_group(c).into(),
        ChangeError::Group(g) => g.into(),
    }
}
