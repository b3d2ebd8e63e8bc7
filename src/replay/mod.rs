//! Read-only replay: serves one restored instant from a restored data dir, in one process,
//! without the rest of the cluster (`georep restore ... --serve-read-only --listen ADDR`).
//!
//! It opens the restored store (restore has already applied the log up to the instant) and
//! answers document reads and listings at any consistency level: the state is one fixed
//! instant, so every level is met by it, and `x-georep-staleness-ms` says how old that
//! instant is. Writes are 405 `read_only`. No Raft, no peers, no WAL is opened.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::{PhysicalClock, SystemClock};
use crate::consistency::Consistency;
use crate::group::GroupId;
use crate::restore::rfc3339;
use crate::store::Store;

pub struct Replay {
    pub store: Store,
    /// Placed collections and their groups; the rest live in the default group.
    pub placed: HashMap<String, GroupId>,
    /// The instant the data dir was restored to (Unix ms).
    pub instant_ms: u64,
    pub cluster: String,
}

type Ctx = State<Arc<Replay>>;

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message.into()}});
    (status, axum::Json(body)).into_response()
}

async fn read_only() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "read_only",
        "this is a read-only replay of a restored instant: writes are not taken",
    )
}

impl Replay {
    fn group(&self, collection: &str) -> u32 {
        self.placed
            .get(collection)
            .copied()
            .unwrap_or(GroupId::DEFAULT_DATA)
            .0
    }

    fn headers(&self, resp: &mut Response) {
        let age = SystemClock.now_ms().saturating_sub(self.instant_ms);
        let h = resp.headers_mut();
        h.insert(
            "x-georep-region",
            HeaderValue::from_static("read-only-replay"),
        );
        if let Ok(v) = HeaderValue::from_str(&age.to_string()) {
            h.insert("x-georep-staleness-ms", v);
        }
        if let Ok(v) = HeaderValue::from_str(&rfc3339(self.instant_ms)) {
            h.insert("x-georep-restored-to", v);
        }
    }
}

/// Any level is served; an unknown one is still a 400, as on a live node.
fn check_level(headers: &HeaderMap) -> Result<(), Response> {
    match headers.get("x-georep-consistency").map(|v| v.to_str()) {
        None => Ok(()),
        Some(Ok(v)) if v.parse::<Consistency>().is_ok() => Ok(()),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_consistency",
            "x-georep-consistency must be strong, bounded_staleness, session, consistent_prefix or eventual",
        )),
    }
}

async fn get_doc(
    State(r): Ctx,
    Path((collection, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_level(&headers) {
        return e;
    }
    let mut resp = match r.store.get(r.group(&collection), &collection, &key) {
        Ok(Some(doc)) => {
            let mut resp = (StatusCode::OK, doc.value).into_response();
            let ct = doc
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into());
            if let Ok(v) = HeaderValue::from_str(&ct) {
                resp.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            if let Ok(v) = HeaderValue::from_str(&doc.version.to_string()) {
                resp.headers_mut().insert("x-georep-version", v);
            }
            resp
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no document {key:?} in collection {collection:?} at the restored instant"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    r.headers(&mut resp);
    resp
}

#[derive(serde::Deserialize)]
struct ListQuery {
    prefix: Option<String>,
    limit: Option<usize>,
    start_after: Option<String>,
}

async fn list_docs(
    State(r): Ctx,
    Path(collection): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = check_level(&headers) {
        return e;
    }
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1..=1000, got {limit}"),
        );
    }
    let prefix = q.prefix.unwrap_or_default();
    let rows = r.store.list(
        r.group(&collection),
        &collection,
        &prefix,
        q.start_after.as_deref(),
        limit + 1,
    );
    let mut resp = match rows {
        Ok(rows) => {
            let body = crate::api::docs::listing_page(&collection, rows, limit);
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    };
    r.headers(&mut resp);
    resp
}

async fn cluster(State(r): Ctx) -> Response {
    let body = serde_json::json!({
        "cluster": r.cluster,
        "read_only": true,
        "restored_to": rfc3339(r.instant_ms),
        "restored_to_ms": r.instant_ms,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn ok() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

pub fn router(replay: Arc<Replay>) -> Router {
    Router::new()
        .route(
            "/v1/collections/{collection}/docs/{key}",
            get(get_doc)
                .put(read_only)
                .delete(read_only)
                .post(read_only),
        )
        .route(
            "/v1/collections/{collection}/docs",
            get(list_docs).post(read_only),
        )
        .route("/v1/cluster", get(cluster))
        .route("/healthz", get(ok))
        .route("/readyz", get(ok))
        .with_state(replay)
}
