//! The HTTP client API (CONTRACT.md): documents, cluster status, health and metrics.
//!
//! Every input is validated before it reaches a log group: bad paths, headers, tokens,
//! preconditions and bodies are 400/412/413 with a JSON reason, never a 500 or a panic.

mod admin;
mod authn;
pub mod cluster;
mod conflicts;
mod context;
pub mod docs;
mod error;
mod error_code;
mod header_names;
pub mod headers;
mod multi_master;
mod placement;
pub mod proxy;
mod quorum;
mod scope;
mod slot_changes;
mod slots;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use context::ApiContext;
pub use error::{ApiError, ErrorCode};

pub fn router(ctx: Arc<ApiContext>) -> Router {
    // Leave room above the value limit so an oversized body is answered with our own 413.
    let body_limit = ctx.settings().max_value_bytes as usize + 1;
    Router::new()
        .route(
            "/v1/collections/{collection}/docs/{key}",
            get(docs::get_doc)
                .put(docs::put_doc)
                .delete(docs::delete_doc),
        )
        .route("/v1/collections/{collection}/docs", get(docs::list_docs))
        .route(
            "/v1/collections/{collection}/docs/{key}/heads",
            get(quorum::get_heads).post(quorum::repair),
        )
        .route(
            "/v1/collections/{collection}/docs/{key}/ops",
            axum::routing::post(docs::post_op),
        )
        .route(
            "/v1/collections/{collection}/conflicts",
            get(conflicts::list),
        )
        .route("/v1/cluster", get(cluster::cluster))
        .route("/v1/admin/digest", get(cluster::digest))
        .route("/v1/admin/collections", get(admin::list_collections))
        .route(
            "/v1/admin/session-keys/rotate",
            axum::routing::post(admin::rotate_session_key),
        )
        .route(
            "/v1/admin/collections/{collection}",
            axum::routing::put(placement::put_placement),
        )
        .route(
            "/v1/admin/collections/{collection}/ack",
            axum::routing::put(admin::set_ack),
        )
        .route("/v1/slots", get(slots::list).post(slots::create))
        .route(
            "/v1/slots/{name}",
            get(slots::show).delete(slots::drop_slot),
        )
        .route("/v1/slots/{name}/pause", axum::routing::post(slots::pause))
        .route("/v1/slots/{name}/changes", get(slot_changes::changes))
        .route("/v1/slots/{name}/stream", get(slot_changes::stream))
        .route(
            "/v1/slots/{name}/ack",
            axum::routing::post(slot_changes::ack),
        )
        .route(
            "/v1/slots/{name}/resume",
            axum::routing::post(slots::resume),
        )
        .route("/metrics", get(cluster::metrics))
        .route("/healthz", get(cluster::healthz))
        .route("/readyz", get(cluster::readyz))
        .fallback(cluster::not_found)
        .method_not_allowed_fallback(cluster::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            proxy::forward_unplaced,
        ))
        // outside the proxy layer: the region a client called checks its credentials first
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            authn::check,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(ctx)
}
