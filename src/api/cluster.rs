//! Cluster-level endpoints: topology and status, health, metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};

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
        "clock": clock_status(&ctx),
        "groups": groups,
        "multi_master": multi_master_status(&ctx, now),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Each multi-master collection's sync status here; the metrics follow it.
fn multi_master_status(ctx: &ApiContext, now: u64) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for p in &ctx.topology.collections {
        let r = ctx.resolve(&p.name);
        let Ok(Some(origins)) = crate::multimaster::Origins::of(&ctx.groups, &r, &ctx.region)
        else {
            continue;
        };
        let rule = p.conflict.as_str();
        match crate::multimaster::status::status(&origins, rule, p.max_staleness_ms, now) {
            Ok(s) => {
                for o in &s.origins {
                    ctx.metrics
                        .origin_staleness_seconds
                        .with_label_values(&[&p.name, &o.region])
                        .set(o.staleness_ms as f64 / 1000.0);
                }
                ctx.metrics
                    .conflicts
                    .with_label_values(&[&p.name, rule])
                    .set(s.conflicts_recorded as i64);
                out.push(serde_json::to_value(s).expect("status serializes"));
            }
            Err(e) => out.push(serde_json::json!({"collection": p.name, "error": e.to_string()})),
        }
    }
    out
}

/// This node's HLC and, per peer, its measured wall-clock offset (`clock_offset_ms`, peer
/// minus this node, known to within half of `rtt_ms`) and the messages refused for skew.
fn clock_status(ctx: &ApiContext) -> serde_json::Value {
    let peers: serde_json::Map<String, serde_json::Value> = ctx
        .transport
        .iter()
        .flat_map(|t| t.clocks().snapshot())
        .map(|(peer, c)| {
            let v = serde_json::json!({
                "clock_offset_ms": c.offset_ms,
                "rtt_ms": c.rtt_ms,
                "measured_ms_ago": c.age().map(|a| a.as_millis() as u64),
                "skew_refusals": c.refusals,
                "refused": c.offset_ms > ctx.settings().max_clock_skew_ms as i64,
            });
            (peer, v)
        })
        .collect();
    serde_json::json!({
        "hlc": ctx.clock.last().to_string(),
        "wall_ms": ctx.now_ms(),
        "max_clock_skew_ms": ctx.settings().max_clock_skew_ms,
        "peers": peers,
    })
}

/// Logs why this region is not ready, so an operator who booted it (a restored region
/// alone, a region cut off from its quorum) reads in its log what it waits for: first after
/// a grace period, then whenever the reasons change, and every 30 s while they last.
pub async fn report_readiness(ctx: Arc<ApiContext>) {
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let mut last: Vec<String> = Vec::new();
    let mut said = std::time::Instant::now();
    loop {
        let reasons = not_ready_reasons(&ctx);
        if reasons.is_empty() {
            if !last.is_empty() {
                tracing::info!(
                    "ready: every group this region holds has a leader and the session keys are known"
                );
            }
        } else if reasons != last || said.elapsed() >= std::time::Duration::from_secs(30) {
            said = std::time::Instant::now();
            tracing::warn!(
                "not ready (GET /readyz answers 503): {}; a group needs a majority of its voters \
                 running and connected to elect a leader",
                reasons.join("; ")
            );
        }
        last = reasons;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
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

/// Liveness: the process serves HTTP.
pub async fn healthz(State(_ctx): State<Arc<ApiContext>>) -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// Readiness (CONTRACT.md): 200 only when this region can serve its collections at their
/// default levels: it signs tokens with the cluster's session keys (so they verify in every
/// region) and knows a leader for every group it holds a replica of. Otherwise 503 with the
/// reasons.
pub async fn readyz(State(ctx): State<Arc<ApiContext>>) -> Response {
    let reasons = not_ready_reasons(&ctx);
    if reasons.is_empty() {
        return (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "ready": true })),
        )
            .into_response();
    }
    let body = serde_json::json!({
        "ready": false,
        "reasons": reasons,
        "error": { "code": ErrorCode::NotReady, "message": reasons.join("; ") },
    });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        axum::Json(body),
    )
        .into_response()
}

pub fn not_ready_reasons(ctx: &ApiContext) -> Vec<String> {
    let mut reasons = Vec::new();
    if !ctx.cluster_keys_known() {
        reasons.push(
            "the cluster's session-token keys are not learned from the meta group yet".into(),
        );
    }
    for g in ctx.groups.iter().filter(|g| g.is_member()) {
        let spec = g.spec();
        // Another region's origin log of a multi-master collection: its region being down
        // stops nothing here (this region writes its own log and serves what has arrived;
        // the staleness behind that origin shows in /v1/cluster and bounds its reads).
        if crate::placement::is_origin_log(&spec.name)
            && !spec.voters.contains(&ctx.region.to_string())
        {
            continue;
        }
        if g.leader().is_none() {
            reasons.push(format!(
                "group {} ({}) has no known leader (voters: {})",
                g.id(),
                g.spec().name,
                g.spec().voters.join(", ")
            ));
        }
    }
    reasons
}

pub async fn metrics(State(ctx): State<Arc<ApiContext>>) -> Response {
    let now = ctx.now_ms();
    for g in ctx.groups.iter() {
        let id = g.id().to_string();
        if !g.is_member() {
            // an idle slot: no staleness to speak of (and none left from before a removal)
            let _ = ctx.metrics.applied_index.remove_label_values(&[&id]);
            let _ = ctx.metrics.staleness_seconds.remove_label_values(&[&id]);
            continue;
        }
        ctx.metrics
            .applied_index
            .with_label_values(&[&id])
            .set(g.applied_index() as i64);
        ctx.metrics
            .staleness_seconds
            .with_label_values(&[&id])
            .set(g.staleness_ms(now) as f64 / 1000.0);
    }
    multi_master_status(&ctx, now);
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
        "error": {"code": ErrorCode::MethodNotAllowed, "message": "this endpoint does not take that method"}
    });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
