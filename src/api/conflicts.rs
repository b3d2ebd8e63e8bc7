//! `GET /v1/collections/{c}/conflicts?limit=N&start_after=ID`: the conflict feed of a
//! multi-master collection as this region recorded it, oldest first (`store/conflicts.rs`;
//! JSON in `multimaster/feed.rs`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use super::multi_master;
use super::scope::Scope;
use crate::config::names::check_collection_name;
use crate::multimaster::feed;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    limit: Option<usize>,
    start_after: Option<String>,
}

pub async fn list(
    State(ctx): State<Arc<ApiContext>>,
    ext: Option<Extension<Scope>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<FeedQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    inner(&ctx, ext, path, query, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn inner(
    ctx: &ApiContext,
    ext: Option<Extension<Scope>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<FeedQuery>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let Path(collection) = path
        .map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad collection path: {e}")))?;
    check_collection_name(&collection)
        .map_err(|r| ApiError::bad(ErrorCode::InvalidCollection, r))?;
    let Query(q) = query.map_err(|e| {
        ApiError::bad(
            ErrorCode::InvalidQuery,
            format!("{e} (parameters: limit, start_after)"),
        )
    })?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad(
            ErrorCode::InvalidQuery,
            format!("limit must be 1..={MAX_LIMIT}, got {limit}"),
        ));
    }
    let start_after = match q.start_after.as_deref() {
        None => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::bad(
                ErrorCode::InvalidQuery,
                format!("start_after must be a conflict id (a decimal number), got {s:?}"),
            )
        })?,
    };
    let scope = Scope::of(ext, ctx, &collection, headers);
    let Some(origins) = multi_master::origins(ctx, &scope)? else {
        return Err(ApiError::bad(
            ErrorCode::InvalidCollection,
            format!(
                "collection {collection:?} is not multi-master: it has one writer, so no \
                 conflicts (tier = \"multi_master\" collections have a feed)"
            ),
        ));
    };
    let store = origins.all[0].group.store();
    // one extra row tells whether another page follows
    let mut rows = store.conflicts(&collection, start_after, limit + 1)?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let body = serde_json::json!({
        "collection": collection,
        "region": &*ctx.region,
        "conflicts": rows.iter().map(feed::entry).collect::<Vec<_>>(),
        "next_start_after": next,
    });
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
