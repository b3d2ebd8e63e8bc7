//! Cluster-level endpoints: topology and status, health, metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::ApiError;

pub async fn cluster(State(ctx): State<Arc<ApiContext>>) -> Response {
    let t = &ctx.topology;
    let group = ctx.group.status();
    let body = serde_json::json!({
        "cluster": t.cluster,
        "served_by": &*ctx.region,
        "replication": "none: each region runs its own single-voter log group",
        "regions": t.regions,
        "links": t.links,
        "collections": t.collections,
        "groups": [{
            "status": group,
            "replicas": [{
                "region": &*ctx.region,
                "role": "leader",
                "matched_index": group.durable_index,
                "applied_index": group.applied_index,
                "lag_entries": 0,
                "lag_ms": 0,
            }],
        }],
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

pub async fn healthz(State(ctx): State<Arc<ApiContext>>) -> Response {
    ctx.metrics
        .applied_index
        .set(ctx.group.applied_index() as i64);
    (StatusCode::OK, "ok\n").into_response()
}

pub async fn metrics(State(ctx): State<Arc<ApiContext>>) -> Response {
    ctx.metrics
        .applied_index
        .set(ctx.group.applied_index() as i64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ctx.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    ApiError::NotFound {
        message: "no such endpoint; see README.md for the API".into(),
    }
    .into_response()
}

pub async fn method_not_allowed() -> Response {
    let body = serde_json::json!({
        "error": {"code": "method_not_allowed", "message": "this endpoint does not take that method"}
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
