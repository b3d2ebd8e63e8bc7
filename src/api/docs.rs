//! Document endpoints: PUT, GET, DELETE and list under `/v1/collections/{collection}/docs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use super::headers::{self, RequestOptions};
use super::multi_master;
use super::scope::Scope;
use crate::config::MAX_KEY_BYTES;
use crate::config::names::check_collection_name;
use crate::consistency::{self, Consistency, ReadRefusal, ReadRequest, Waits};
use crate::group::{Committed, LogGroup};
use crate::session::{GroupPosition, SessionToken};
use crate::store::{ApplyOutcome, Command};

type Ctx = State<Arc<ApiContext>>;

const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    prefix: Option<String>,
    limit: Option<usize>,
    start_after: Option<String>,
}

/// A listing's JSON page from up to `limit + 1` rows (the extra row says another page
/// follows): `{"collection", "keys": [{"key", "version"}], "next_start_after"}`.
pub fn listing_page(
    collection: &str,
    mut rows: Vec<(String, u64)>,
    limit: usize,
) -> serde_json::Value {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| rows.last().map(|(k, _)| k.clone())).flatten();
    serde_json::json!({
        "collection": collection,
        "keys": rows.iter().map(|(k, v)| serde_json::json!({"key": k, "version": v})).collect::<Vec<_>>(),
        "next_start_after": next,
    })
}

/// Runs a handler body and records its metrics under `op`.
async fn observed<F>(ctx: &ApiContext, op: &'static str, consistency: &str, f: F) -> Response
where
    F: Future<Output = Result<Response, ApiError>>,
{
    let started = Instant::now();
    let resp = f.await.unwrap_or_else(IntoResponse::into_response);
    ctx.metrics
        .requests
        .with_label_values(&[op, consistency, resp.status().as_str()])
        .inc();
    ctx.metrics
        .latency
        .with_label_values(&[op, consistency])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The metrics label of the level the request names: from its scope (the middleware parsed
/// the header), else parsed here.
fn consistency_label(scope: &Option<Extension<Scope>>, headers: &HeaderMap) -> &'static str {
    match scope {
        Some(Extension(s)) => s.label(),
        None => headers::consistency(headers)
            .ok()
            .flatten()
            .map_or("default", Consistency::as_str),
    }
}

fn doc_path(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    let Path((collection, key)) =
        path.map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad document path: {e}")))?;
    check_collection_name(&collection)
        .map_err(|r| ApiError::bad(ErrorCode::InvalidCollection, r))?;
    check_key(&key)?;
    Ok((collection, key))
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad(
            ErrorCode::InvalidKey,
            "the document key is empty",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::TooLarge {
            code: ErrorCode::KeyTooLarge,
            message: format!("key is {} bytes; the limit is {MAX_KEY_BYTES}", key.len()),
        });
    }
    if key.chars().any(char::is_control) {
        return Err(ApiError::bad(
            ErrorCode::InvalidKey,
            "keys may not contain control characters",
        ));
    }
    Ok(())
}

/// The request's consistency options and token. First waits until this region signs with
/// the cluster's keys, so every token in a 2xx answer verifies in every region.
async fn options(
    ctx: &ApiContext,
    headers: &HeaderMap,
    scope: &Scope,
) -> Result<RequestOptions, ApiError> {
    ctx.await_cluster_keys().await?;
    RequestOptions::parse(
        headers,
        scope.consistency.clone(),
        &ctx.session_keys(),
        ctx.now_ms(),
        ctx.settings().session_token_ttl_ms,
    )
}

pub(super) fn set_header(resp: &mut Response, name: header::HeaderName, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        resp.headers_mut().insert(name, v);
    }
}

/// Adds the headers every document response carries.
pub(super) fn finish(
    ctx: &ApiContext,
    mut resp: Response,
    token: SessionToken,
    version: Option<u64>,
    staleness: Option<u64>,
) -> Response {
    set_header(
        &mut resp,
        headers::SESSION_TOKEN,
        token.encode(&ctx.session_keys(), ctx.now_ms()),
    );
    set_header(&mut resp, headers::REGION, &*ctx.region);
    if let Some(v) = version {
        set_header(&mut resp, headers::VERSION, v);
    }
    if let Some(s) = staleness {
        set_header(&mut resp, headers::STALENESS, s);
    }
    resp
}

/// Admits a read here (`consistency::admit` on the collection's group) and counts it;
/// returns the staleness it is served at.
async fn admit_read(
    ctx: &ApiContext,
    opts: &RequestOptions,
    scope: &Scope,
) -> Result<u64, ReadAdmission> {
    let r = &scope.resolved;
    let group = ctx.group_for(r).map_err(ReadAdmission::Api)?;
    let req = ReadRequest {
        level: opts.consistency.unwrap_or(r.default_level),
        bound_ms: opts.max_staleness_ms.unwrap_or(r.default_bound_ms),
        session: opts.token.as_ref().and_then(|t| t.position(group.id())),
    };
    let waits = Waits {
        barrier: Duration::from_millis(ctx.settings().session_wait_ms.max(1000)),
        session: Duration::from_millis(ctx.settings().session_wait_ms),
    };
    let admitted = consistency::admit(req, group.as_ref(), || ctx.now_ms(), waits)
        .await
        .map_err(ReadAdmission::Refused)?;
    count_read(ctx, scope, admitted.served.as_str());
    Ok(admitted.staleness_ms)
}

/// Why [`admit_read`] did not admit: the request itself is wrong here, or the replica
/// cannot meet its level (which another replica might).
pub(super) enum ReadAdmission {
    Api(ApiError),
    Refused(ReadRefusal),
}

pub(super) fn count_read(ctx: &ApiContext, scope: &Scope, served: &str) {
    ctx.metrics
        .reads
        .with_label_values(&[scope.level().as_str(), served])
        .inc();
}

/// A read this replica cannot serve at its level goes to another replica of the group that
/// can (see `proxy::read_elsewhere`) when the refusal says one might; if none can, the
/// refusal stands, naming this region.
pub(super) async fn read_elsewhere_or(
    ctx: &ApiContext,
    scope: &Scope,
    uri: &Uri,
    headers: &HeaderMap,
    refusal: ReadAdmission,
) -> Result<Response, ApiError> {
    let refusal = match refusal {
        ReadAdmission::Api(e) => {
            count_read(ctx, scope, "rejected");
            return Err(e);
        }
        ReadAdmission::Refused(r) => r,
    };
    if refusal.forwardable()
        && let Ok(group) = ctx.group_for(&scope.resolved)
        && let Some(resp) = super::proxy::read_elsewhere(ctx, group, uri, headers).await
    {
        count_read(ctx, scope, "forwarded");
        return Ok(resp);
    }
    count_read(ctx, scope, "rejected");
    Err(ApiError::read_refused(&ctx.region, refusal))
}

fn position(group: &LogGroup, index: u64) -> GroupPosition {
    GroupPosition {
        group: group.id(),
        epoch: group.epoch(),
        index,
    }
}

pub async fn get_doc(
    State(ctx): Ctx,
    ext: Option<Extension<Scope>>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let label = consistency_label(&ext, &headers);
    observed(&ctx, "get", label, async {
        let (collection, key) = doc_path(path)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let opts = options(&ctx, &headers, &scope).await?;
        if let Some(origins) = multi_master::origins(&ctx, &scope)? {
            return multi_master::get(&ctx, &scope, origins, opts, &key, &uri, &headers).await;
        }
        if super::quorum::quorum_param(&uri)?.is_some() {
            return Err(ApiError::bad(
                ErrorCode::InvalidQuery,
                format!(
                    "quorum reads are for multi-master collections; {collection:?} has one \
                     leader: read it at consistency strong for the latest value"
                ),
            ));
        }
        let staleness = match admit_read(&ctx, &opts, &scope).await {
            Ok(s) => s,
            Err(e) => {
                return read_elsewhere_or(&ctx, &scope, &uri, &headers, e).await;
            }
        };
        // The applied index is read before the document, so the token never claims more
        // than the state this read observed.
        let group = ctx.group_for(&scope.resolved)?;
        let seen = group.applied_index();
        let mut token = opts.token.unwrap_or_default();
        token.observe(position(group, seen));
        let doc = group.get(&collection, &key)?;
        let Some(doc) = doc else {
            let err = ApiError::NotFound {
                message: format!("no document {key:?} in collection {collection:?}"),
            };
            return Ok(finish(
                &ctx,
                err.into_response(),
                token,
                None,
                Some(staleness),
            ));
        };
        let mut resp = (StatusCode::OK, doc.value).into_response();
        let ct = doc
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        set_header(&mut resp, header::CONTENT_TYPE, ct);
        set_header(&mut resp, header::ETAG, format!("\"{}\"", doc.version));
        Ok(finish(
            &ctx,
            resp,
            token,
            Some(doc.version),
            Some(staleness),
        ))
    })
    .await
}

fn check_body(
    ctx: &ApiContext,
    body: Result<Bytes, BytesRejection>,
    headers: &HeaderMap,
) -> Result<(Bytes, Option<String>), ApiError> {
    let limit = ctx.settings().max_value_bytes;
    let too_large = || ApiError::TooLarge {
        code: ErrorCode::ValueTooLarge,
        message: format!(
            "the document value exceeds the {limit}-byte limit (node.max_value_bytes)"
        ),
    };
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad(
                ErrorCode::InvalidBody,
                format!("could not read the request body: {e}"),
            )
        }
    })?;
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    let content_type = match headers.get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|s| s.len() <= 255)
                .ok_or_else(|| {
                    ApiError::bad(
                        ErrorCode::InvalidHeader,
                        "Content-Type is not short visible ASCII",
                    )
                })?
                .to_string(),
        ),
    };
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    });
    if is_json {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map_err(|e| {
            ApiError::bad(
                ErrorCode::InvalidJson,
                format!("the body is declared JSON but does not parse: {e}"),
            )
        })?;
    }
    Ok((body, content_type))
}

pub(super) fn write_response(
    ctx: &ApiContext,
    group: &LogGroup,
    c: &Committed,
    mut token: SessionToken,
    version: u64,
    status: StatusCode,
) -> Response {
    token.observe(position(group, c.index));
    let body = serde_json::json!({
        "version": version,
        "hlc": c.hlc.to_string(),
        "group": group.id().to_string(),
        "index": c.index,
        "leader": c.leader,
    });
    let mut resp = (status, axum::Json(body)).into_response();
    set_header(&mut resp, headers::LEADER, &c.leader);
    finish(ctx, resp, token, Some(version), None)
}

fn refused(
    ctx: &ApiContext,
    group: &LogGroup,
    c: &Committed,
    mut token: SessionToken,
    err: ApiError,
) -> Response {
    // The refused command still occupies a log index that the session has now seen.
    token.observe(position(group, c.index));
    finish(ctx, err.into_response(), token, None, None)
}

/// Refuses a client's write to a filtered replica: its slot alone writes it
/// (`cdc/sink/replica.rs`), and a client's write would be lost at the next change.
fn writable(ctx: &ApiContext, collection: &str) -> Result<(), ApiError> {
    match ctx.topology.replica(collection) {
        Some(r) => Err(ApiError::Conflict {
            code: ErrorCode::ReadOnlyCollection,
            message: format!(
                "collection {collection:?} is a read-only filtered replica of {:?} \
                 ([[replicas]]): write to {:?}",
                r.source, r.source
            ),
        }),
        None => Ok(()),
    }
}

pub async fn put_doc(
    State(ctx): Ctx,
    ext: Option<Extension<Scope>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let label = consistency_label(&ext, &headers);
    observed(&ctx, "put", label, async {
        let (collection, key) = doc_path(path)?;
        writable(&ctx, &collection)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let opts = options(&ctx, &headers, &scope).await?;
        if let Some(origins) = multi_master::origins(&ctx, &scope)? {
            let body = check_body(&ctx, body, &headers)?;
            return multi_master::put(&ctx, &scope, origins, opts, &headers, &key, body).await;
        }
        let precondition = headers::precondition(&headers)?;
        let (value, content_type) = check_body(&ctx, body, &headers)?;
        let size = value.len() as u64;
        let token = opts.token.unwrap_or_default();
        let group = ctx.group_for(&scope.resolved)?;
        let started = Instant::now();
        let c = group
            .propose(Command::Put {
                collection: collection.clone(),
                key,
                value,
                content_type,
                precondition,
            })
            .await?;
        observe_write(&ctx, &scope, started);
        Ok(match c.outcome {
            ApplyOutcome::Written { version } => {
                ctx.metrics
                    .write_bytes
                    .with_label_values(&[&collection])
                    .inc_by(size);
                write_response(&ctx, group, &c, token, version, StatusCode::OK)
            }
            ApplyOutcome::PreconditionFailed { current } => refused(
                &ctx,
                group,
                &c,
                token,
                ApiError::PreconditionFailed { current },
            ),
            other => return Err(unexpected(other)),
        })
    })
    .await
}

/// `POST /v1/collections/{c}/docs/{key}/ops`: an operation on a CRDT document.
pub async fn post_op(
    State(ctx): Ctx,
    ext: Option<Extension<Scope>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let label = consistency_label(&ext, &headers);
    observed(&ctx, "op", label, async {
        let (collection, key) = doc_path(path)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let opts = options(&ctx, &headers, &scope).await?;
        let (body, _) = check_body(&ctx, body, &headers)?;
        multi_master::op(&ctx, &scope, opts, &key, &body).await
    })
    .await
}

pub async fn delete_doc(
    State(ctx): Ctx,
    ext: Option<Extension<Scope>>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let label = consistency_label(&ext, &headers);
    observed(&ctx, "delete", label, async {
        let (collection, key) = doc_path(path)?;
        writable(&ctx, &collection)?;
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let opts = options(&ctx, &headers, &scope).await?;
        if let Some(origins) = multi_master::origins(&ctx, &scope)? {
            return multi_master::delete(&ctx, &scope, origins, opts, &headers, &key).await;
        }
        let precondition = headers::precondition(&headers)?;
        let token = opts.token.unwrap_or_default();
        let group = ctx.group_for(&scope.resolved)?;
        let started = Instant::now();
        let c = group
            .propose(Command::Delete {
                collection: collection.clone(),
                key: key.clone(),
                precondition,
            })
            .await?;
        observe_write(&ctx, &scope, started);
        Ok(match c.outcome {
            ApplyOutcome::Deleted { version } => {
                write_response(&ctx, group, &c, token, version, StatusCode::OK)
            }
            ApplyOutcome::NotFound => refused(
                &ctx,
                group,
                &c,
                token,
                ApiError::NotFound {
                    message: format!("no document {key:?} in collection {collection:?}"),
                },
            ),
            ApplyOutcome::PreconditionFailed { current } => refused(
                &ctx,
                group,
                &c,
                token,
                ApiError::PreconditionFailed { current },
            ),
            other => return Err(unexpected(other)),
        })
    })
    .await
}

/// Records an acknowledged write's latency under its collection's tier as placed now (a
/// tier changed online counts under the new tier from the change on).
pub(super) fn observe_write(ctx: &ApiContext, scope: &Scope, started: Instant) {
    let tier = match scope.resolved.tier() {
        Some(crate::config::Tier::Critical) => "critical",
        Some(crate::config::Tier::Standard) => "standard",
        Some(crate::config::Tier::Archival) => "archival",
        Some(crate::config::Tier::MultiMaster) => "multi_master",
        None => "default",
    };
    ctx.metrics
        .write_latency
        .with_label_values(&[tier])
        .observe(started.elapsed().as_secs_f64());
}

pub(super) fn unexpected(outcome: ApplyOutcome) -> ApiError {
    ApiError::Internal {
        message: format!("unexpected apply outcome {outcome:?}"),
    }
}

pub async fn list_docs(
    State(ctx): Ctx,
    ext: Option<Extension<Scope>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let label = consistency_label(&ext, &headers);
    observed(&ctx, "list", label, async {
        let Path(collection) = path.map_err(|e| {
            ApiError::bad(ErrorCode::InvalidPath, format!("bad collection path: {e}"))
        })?;
        check_collection_name(&collection)
            .map_err(|r| ApiError::bad(ErrorCode::InvalidCollection, r))?;
        let Query(q) = query.map_err(|e| {
            ApiError::bad(
                ErrorCode::InvalidQuery,
                format!("{e} (parameters: prefix, limit, start_after)"),
            )
        })?;
        let limit = q.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(ApiError::bad(
                ErrorCode::InvalidQuery,
                format!("limit must be 1..={MAX_LIST_LIMIT}, got {limit}"),
            ));
        }
        let scope = Scope::of(ext, &ctx, &collection, &headers);
        let opts = options(&ctx, &headers, &scope).await?;
        let prefix = q.prefix.unwrap_or_default();
        if let Some(origins) = multi_master::origins(&ctx, &scope)? {
            let args = multi_master::ListArgs {
                prefix: &prefix,
                start_after: q.start_after.as_deref(),
                limit,
            };
            return multi_master::list(&ctx, &scope, origins, opts, args, &uri, &headers).await;
        }
        let staleness = match admit_read(&ctx, &opts, &scope).await {
            Ok(s) => s,
            Err(e) => {
                return read_elsewhere_or(&ctx, &scope, &uri, &headers, e).await;
            }
        };
        let group = ctx.group_for(&scope.resolved)?;
        let seen = group.applied_index();
        let mut token = opts.token.unwrap_or_default();
        token.observe(position(group, seen));
        // one extra row tells whether another page follows
        let rows = group.list(&collection, &prefix, q.start_after.as_deref(), limit + 1)?;
        let body = listing_page(&collection, rows, limit);
        Ok(finish(
            &ctx,
            (StatusCode::OK, axum::Json(body)).into_response(),
            token,
            None,
            Some(staleness),
        ))
    })
    .await
}
