//! Cluster-level endpoints: topology and status, health, metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::ApiError;

pub async fn cluster(State(ctx): State<Arc<ApiContext>>) -> Response {
    let t = &ctx.topology;
    let now = ctx.now_ms();
    let groups: Vec<_> = ctx
        .groups
        .iter()
        .map(|g| {
            let mut v = serde_json::to_value(g.status(now)).expect("status serializes");
            if let Some(catalog) = ctx.catalog.as_ref().filter(|_| g.promotes_learner()) {
                // this region's copy of the catalog record: epoch, voter, learners, in sync
                v["catalog"] = match catalog.record(g.id()) {
                    Ok((record, _)) => serde_json::to_value(record).expect("record serializes"),
                    Err(e) => serde_json::json!({ "error": e.to_string() }),
                };
            }
            v
        })
        .collect();
    let body = serde_json::json!({
        "cluster": t.cluster,
        "served_by": &*ctx.region,
        "regions": t.regions,
        "links": t.links,
        // the placements in force (the catalog's, once changed at run time)
        "collections": t
            .collections
            .iter()
            .map(|p| ctx.placement(&p.name).unwrap_or_else(|| p.clone()))
            .collect::<Vec<_>>(),
        "groups": groups,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// SHA-256 of every group's state on this replica, with the applied index it covers: equal
/// digests at equal indexes mean bit-identical replicas. Reads the whole store.
pub async fn digest(State(ctx): State<Arc<ApiContext>>) -> Response {
    let groups = ctx.groups.clone();
    let r = tokio::task::spawn_blocking(move || {
        groups
            .iter()
            .map(|g| {
                // index before and after: equal means no apply ran in between
                let before = g.applied_index();
                let d = g.digest()?;
                let after = g.applied_index();
                Ok(serde_json::json!({
                    "id": g.id().to_string(),
                    "name": g.spec().name,
                    "applied_index": after,
                    "stable": before == after,
                    "member": g.is_member(),
                    "digest": d.iter().map(|b| format!("{b:02x}")).collect::<String>(),
                }))
            })
            .collect::<Result<Vec<_>, crate::store::StoreError>>()
    })
    .await;
    match r {
        Ok(Ok(groups)) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "groups": groups })),
        )
            .into_response(),
        Ok(Err(e)) => ApiError::from(e).into_response(),
        Err(e) => ApiError::Internal {
            message: e.to_string(),
        }
        .into_response(),
    }
}

pub async fn healthz(State(_ctx): State<Arc<ApiContext>>) -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

pub async fn metrics(State(ctx): State<Arc<ApiContext>>) -> Response {
    let now = ctx.now_ms();
    for g in ctx.groups.iter() {
        let id = g.id().to_string();
        if !g.is_member() {
            // an idle slot: no staleness to speak of (and none left from before a removal)
            let _ = ctx.metrics.applied_index.remove_label_values(&[&id]);
            let _ = ctx.metrics.staleness_ms.remove_label_values(&[&id]);
            continue;
        }
        ctx.metrics
            .applied_index
            .with_label_values(&[&id])
            .set(g.applied_index() as i64);
        ctx.metrics
            .staleness_ms
            .with_label_values(&[&id])
            .set(g.staleness_ms(now) as i64);
    }
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
