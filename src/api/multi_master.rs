//! Document requests on a multi-master collection (`multimaster/`): writes go to this
//! region's own origin log and are acknowledged after its fsync; reads merge every origin's
//! head after admitting the read on each origin log (SESSION waits for each origin the
//! token names, BOUNDED_STALENESS bounds the lag behind every origin); STRONG is refused.
//! `docs.rs` hands a request here once its path, options and body are checked.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::docs::{
    ReadAdmission, count_read, finish, observe_write, read_elsewhere_or, set_header, unexpected,
    write_response,
};
use super::error::{ApiError, ErrorCode};
use super::headers::{self, RequestOptions};
use super::scope::Scope;
use crate::config::CrdtKind;
use crate::consistency::{self, Consistency, ReadRequest, Waits};
use crate::merge::{Resolution, Stamp};
use crate::multimaster::crdt::{self, State};
use crate::multimaster::{Origin, Origins, read, write};
use crate::store::{ApplyOutcome, Precondition};

/// The CRDT kind of the collection, when it is a `conflict = "crdt"` one.
fn crdt_kind(scope: &Scope) -> Option<CrdtKind> {
    scope.resolved.placement.as_ref().and_then(|p| p.crdt)
}

fn ops_only(collection: &str, kind: CrdtKind) -> ApiError {
    ApiError::bad(
        ErrorCode::CrdtOpsOnly,
        format!(
            "collection {collection:?} holds {} CRDTs: change a document with POST \
             /v1/collections/{collection}/docs/{{key}}/ops (e.g. {})",
            kind.as_str(),
            match kind {
                CrdtKind::GCounter | CrdtKind::PnCounter => r#"{"op":"increment","by":1}"#,
                CrdtKind::OrSet => r#"{"op":"add","elements":["x"]}"#,
                CrdtKind::LwwRegister | CrdtKind::MvRegister => r#"{"op":"set","value":1}"#,
            }
        ),
    )
}

/// The collection's origin logs if it is multi-master, None otherwise.
pub(super) fn origins(ctx: &ApiContext, scope: &Scope) -> Result<Option<Origins>, ApiError> {
    Origins::of(&ctx.groups, &scope.resolved, &ctx.region).map_err(|e| ApiError::Internal {
        message: e.to_string(),
    })
}

fn own<'a>(ctx: &ApiContext, origins: &'a Origins) -> Result<&'a Origin, ApiError> {
    origins
        .own(&ctx.region)
        .ok_or_else(|| ApiError::Misdirected {
            message: format!(
                "region {} writes no origin log of multi-master collection {:?}",
                ctx.region, origins.collection
            ),
        })
}

fn not_found(collection: &str, key: &str) -> ApiError {
    ApiError::NotFound {
        message: format!("no document {key:?} in collection {collection:?}"),
    }
}

/// Waits until this region has applied every origin as far as the session's token says,
/// so a write that depends on what the session saw (a delete's existence check) sees it.
async fn caught_up_with_session(
    ctx: &ApiContext,
    opts: &RequestOptions,
    origins: &Origins,
) -> Result<(), ApiError> {
    let Some(token) = &opts.token else {
        return Ok(());
    };
    let waits = Waits {
        barrier: Duration::from_millis(ctx.settings().session_wait_ms.max(1000)),
        session: Duration::from_millis(ctx.settings().session_wait_ms),
    };
    for o in &origins.all {
        let req = ReadRequest {
            level: Consistency::Session,
            bound_ms: 0,
            session: token.position(o.group.id()),
        };
        consistency::admit(req, o.group.as_ref(), || ctx.now_ms(), waits)
            .await
            .map_err(|r| ApiError::read_refused(&ctx.region, r))?;
    }
    Ok(())
}

fn strong_refused(collection: &str) -> ApiError {
    ApiError::bad(
        ErrorCode::StrongUnsupported,
        format!(
            "collection {collection:?} is multi-master: every region acknowledges its own \
             writes, so no read can be linearizable; ask for session (read-your-writes), \
             bounded_staleness, consistent_prefix or eventual"
        ),
    )
}

/// Admits the read on every origin log; the staleness served is the largest.
async fn admit(
    ctx: &ApiContext,
    opts: &RequestOptions,
    scope: &Scope,
    origins: &Origins,
) -> Result<u64, ReadAdmission> {
    let r = &scope.resolved;
    let level = opts.consistency.unwrap_or(r.default_level);
    if level == Consistency::Strong {
        return Err(ReadAdmission::Api(strong_refused(&r.collection)));
    }
    let waits = Waits {
        barrier: Duration::from_millis(ctx.settings().session_wait_ms.max(1000)),
        session: Duration::from_millis(ctx.settings().session_wait_ms),
    };
    let mut staleness = 0;
    let mut served = "local";
    for o in &origins.all {
        let req = ReadRequest {
            level,
            bound_ms: opts.max_staleness_ms.unwrap_or(r.default_bound_ms),
            session: opts.token.as_ref().and_then(|t| t.position(o.group.id())),
        };
        let admitted = consistency::admit(req, o.group.as_ref(), || ctx.now_ms(), waits)
            .await
            .map_err(ReadAdmission::Refused)?;
        staleness = staleness.max(admitted.staleness_ms);
        if admitted.served.as_str() != "local" {
            served = admitted.served.as_str();
        }
    }
    count_read(ctx, scope, served);
    Ok(staleness)
}

fn no_preconditions(headers: &HeaderMap, collection: &str) -> Result<(), ApiError> {
    if headers::precondition(headers)? != Precondition::None {
        return Err(ApiError::bad(
            ErrorCode::PreconditionUnsupported,
            format!(
                "collection {collection:?} is multi-master: If-Match / If-None-Match cannot \
                 hold across regions that accept writes independently"
            ),
        ));
    }
    Ok(())
}

pub(super) async fn get(
    ctx: &ApiContext,
    scope: &Scope,
    origins: Origins,
    opts: RequestOptions,
    key: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(q) = super::quorum::quorum_param(uri)? {
        if opts.consistency == Some(Consistency::Strong) {
            return Err(strong_refused(&origins.collection));
        }
        if let Some(kind) = crdt_kind(scope) {
            return Err(ApiError::bad(
                ErrorCode::InvalidQuery,
                format!(
                    "quorum reads are for last-writer-wins collections; {:?} holds {} CRDTs, \
                     whose every region's value converges without repair",
                    origins.collection,
                    kind.as_str()
                ),
            ));
        }
        let mut token = opts.token.unwrap_or_default();
        origins.observe(&mut token);
        return super::quorum::read(ctx, scope, origins, token, key, &q, headers).await;
    }
    let staleness = match admit(ctx, &opts, scope, &origins).await {
        Ok(s) => s,
        Err(e) => return read_elsewhere_or(ctx, scope, uri, headers, e).await,
    };
    let mut token = opts.token.unwrap_or_default();
    origins.observe(&mut token);
    let store = origins.all[0].group.store();
    if let Some(kind) = crdt_kind(scope) {
        let state = merged_state(&origins, kind, key)?;
        let Some(state) = state else {
            let err = not_found(&origins.collection, key);
            return Ok(finish(
                ctx,
                err.into_response(),
                token,
                None,
                Some(staleness),
            ));
        };
        let resp = (StatusCode::OK, axum::Json(state.to_json())).into_response();
        return Ok(finish(ctx, resp, token, None, Some(staleness)));
    }
    let merged = read::get(store, &origins.group_ids(), &origins.collection, key)?;
    if let Some(m) = merged.as_ref().filter(|m| m.losers > 0)
        && let Some(resolver) = ctx.topology.resolvers.get(&origins.collection)
    {
        let live: Vec<&crate::store::MergeHead> = m.live.iter().collect();
        match crate::store::resolve_custom(&resolver, &live) {
            Resolution::Resolved(v) => {
                let mut resp = (StatusCode::OK, axum::Json(v)).into_response();
                set_header(&mut resp, headers::ORIGIN, "resolver");
                set_header(&mut resp, headers::CONFLICTS, m.losers);
                return Ok(finish(ctx, resp, token, None, Some(staleness)));
            }
            Resolution::Unresolved { reason } => {
                // the last writer's version stands; both sides are in the feed
                let mut resp = lww_response(m.clone());
                let reason: String = reason
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                set_header(&mut resp, headers::UNRESOLVED, reason);
                let version = m.winner.value.version;
                return Ok(finish(ctx, resp, token, Some(version), Some(staleness)));
            }
        }
    }
    let Some(m) = merged.filter(|m| m.exists()) else {
        let err = not_found(&origins.collection, key);
        return Ok(finish(
            ctx,
            err.into_response(),
            token,
            None,
            Some(staleness),
        ));
    };
    let version = m.winner.value.version;
    let resp = lww_response(m);
    Ok(finish(ctx, resp, token, Some(version), Some(staleness)))
}

/// The answer of a read whose last writer's version stands (a delete: 404).
pub(super) fn lww_response(m: read::Merged) -> Response {
    let losers = m.losers;
    let region = m.winner.stamp.region.clone();
    let w = m.winner.value;
    let Some(value) = w.value else {
        return ApiError::NotFound {
            message: "the document's standing version is a delete".into(),
        }
        .into_response();
    };
    let mut resp = (StatusCode::OK, value).into_response();
    let ct = w
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    set_header(&mut resp, header::CONTENT_TYPE, ct);
    set_header(&mut resp, header::ETAG, format!("\"{}\"", w.version));
    set_header(&mut resp, headers::ORIGIN, &region);
    set_header(&mut resp, headers::CONFLICTS, losers);
    resp
}

pub(super) async fn put(
    ctx: &ApiContext,
    scope: &Scope,
    origins: Origins,
    opts: RequestOptions,
    headers: &HeaderMap,
    key: &str,
    body: (Bytes, Option<String>),
) -> Result<Response, ApiError> {
    no_preconditions(headers, &origins.collection)?;
    if let Some(kind) = crdt_kind(scope) {
        return Err(ops_only(&origins.collection, kind));
    }
    let own = own(ctx, &origins)?;
    let (value, content_type) = body;
    let size = value.len() as u64;
    let cmd = write::command(&origins, &ctx.region, key, Some(value), content_type);
    let started = Instant::now();
    let c = own.group.propose(cmd).await?;
    observe_write(ctx, scope, started);
    let token = opts.token.unwrap_or_default();
    match &c.outcome {
        ApplyOutcome::Merged {
            version,
            deleted: false,
            vv,
        } => {
            ctx.metrics
                .write_bytes
                .with_label_values(&[&origins.collection])
                .inc_by(size);
            let resp = write_response(ctx, &own.group, &c, token, *version, StatusCode::OK);
            Ok(with_vector(resp, vv))
        }
        other => Err(unexpected(other.clone())),
    }
}

pub(super) async fn delete(
    ctx: &ApiContext,
    scope: &Scope,
    origins: Origins,
    opts: RequestOptions,
    headers: &HeaderMap,
    key: &str,
) -> Result<Response, ApiError> {
    no_preconditions(headers, &origins.collection)?;
    if let Some(kind) = crdt_kind(scope) {
        return Err(ops_only(&origins.collection, kind));
    }
    let own = own(ctx, &origins)?;
    let store = own.group.store();
    // A delete removes what this region sees (with a token, at least what the session saw);
    // one of a document it never saw is a 404, not a tombstone that would beat a concurrent
    // write it knows nothing of.
    caught_up_with_session(ctx, &opts, &origins).await?;
    let live = read::get(store, &origins.group_ids(), &origins.collection, key)?
        .is_some_and(|m| m.exists());
    let token = opts.token.unwrap_or_default();
    if !live {
        let err = not_found(&origins.collection, key);
        return Ok(finish(ctx, err.into_response(), token, None, None));
    }
    let cmd = write::command(&origins, &ctx.region, key, None, None);
    let started = Instant::now();
    let c = own.group.propose(cmd).await?;
    observe_write(ctx, scope, started);
    match &c.outcome {
        ApplyOutcome::Merged {
            version,
            deleted: true,
            vv,
        } => {
            let resp = write_response(ctx, &own.group, &c, token, *version, StatusCode::OK);
            Ok(with_vector(resp, vv))
        }
        other => Err(unexpected(other.clone())),
    }
}

/// The merge of every origin's state of `key` as this region holds them; None if no origin
/// has written it.
fn merged_state(origins: &Origins, kind: CrdtKind, key: &str) -> Result<Option<State>, ApiError> {
    let store = origins.all[0].group.store();
    let heads = store.merge_heads(&origins.group_ids(), &origins.collection, key)?;
    let mut out: Option<State> = None;
    for h in heads {
        let Some(bytes) = &h.value.value else {
            continue;
        };
        let s = State::decode(kind, bytes).map_err(|e| ApiError::Internal {
            message: format!("{}/{key} from {}: {e}", origins.collection, h.stamp.region),
        })?;
        match &mut out {
            None => out = Some(s),
            Some(m) => m.merge(&s),
        }
    }
    Ok(out)
}

/// `POST /v1/collections/{c}/docs/{key}/ops` on a CRDT collection: the operation is applied
/// as this region to its merged view and the result proposed as this origin's new head,
/// one at a time per document (`multimaster/key_locks.rs`).
pub(super) async fn op(
    ctx: &ApiContext,
    scope: &Scope,
    opts: RequestOptions,
    key: &str,
    body: &[u8],
) -> Result<Response, ApiError> {
    let origins = origins(ctx, scope)?;
    let (Some(origins), Some(kind)) = (origins, crdt_kind(scope)) else {
        return Err(ApiError::bad(
            ErrorCode::NotCrdt,
            format!(
                "collection {:?} is not a CRDT collection (tier = \"multi_master\", conflict = \
                 \"crdt\"); write its documents with PUT",
                scope.resolved.collection
            ),
        ));
    };
    let op = crdt::parse_op(kind, body)
        .map_err(|e| ApiError::bad(ErrorCode::InvalidOp, e.to_string()))?;
    let own = own(ctx, &origins)?;
    // an operation applies to what this region holds: with a token, at least what the
    // session saw (a remove must observe the adds the session made elsewhere)
    caught_up_with_session(ctx, &opts, &origins).await?;
    let _one_at_a_time = ctx.key_locks.lock(&origins.collection, key).await;
    let mut state = merged_state(&origins, kind, key)?.unwrap_or_else(|| State::empty(kind));
    let stamp = Stamp {
        hlc: ctx.clock.now(),
        region: ctx.region.to_string(),
    };
    state
        .apply(&op, stamp)
        .map_err(|e| ApiError::bad(ErrorCode::InvalidOp, e.to_string()))?;
    let encoded = state.encode().map_err(|e| ApiError::Internal {
        message: e.to_string(),
    })?;
    let value = Some(Bytes::from(encoded));
    let cmd = write::command(&origins, &ctx.region, key, value, None);
    let started = Instant::now();
    let c = own.group.propose(cmd).await?;
    observe_write(ctx, scope, started);
    let token = opts.token.unwrap_or_default();
    match &c.outcome {
        ApplyOutcome::Merged { version, vv, .. } => {
            let mut resp = write_response(ctx, &own.group, &c, token, *version, StatusCode::OK);
            let body = serde_json::json!({
                "version": version,
                "hlc": c.hlc.to_string(),
                "result": state.to_json(),
            });
            *resp.body_mut() = axum::body::Body::from(body.to_string());
            Ok(with_vector(resp, vv))
        }
        other => Err(unexpected(other.clone())),
    }
}

/// The version vector the write was given, in the `x-georep-version-vector` header
/// (`region=n,...`): what a client (or a checker) needs to tell whether two of its writes
/// were concurrent.
fn with_vector(mut resp: Response, vv: &crate::merge::VersionVector) -> Response {
    let text: Vec<String> = vv.iter().map(|(r, n)| format!("{r}={n}")).collect();
    set_header(&mut resp, headers::VERSION_VECTOR, text.join(","));
    resp
}

pub(super) struct ListArgs<'a> {
    pub prefix: &'a str,
    pub start_after: Option<&'a str>,
    pub limit: usize,
}

pub(super) async fn list(
    ctx: &ApiContext,
    scope: &Scope,
    origins: Origins,
    opts: RequestOptions,
    args: ListArgs<'_>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let staleness = match admit(ctx, &opts, scope, &origins).await {
        Ok(s) => s,
        Err(e) => return read_elsewhere_or(ctx, scope, uri, headers, e).await,
    };
    let mut token = opts.token.unwrap_or_default();
    origins.observe(&mut token);
    let store = origins.all[0].group.store();
    let rows = read::list(
        store,
        &origins.group_ids(),
        &origins.collection,
        args.prefix,
        args.start_after,
        args.limit + 1,
    )?;
    let body = super::docs::listing_page(&origins.collection, rows, args.limit);
    Ok(finish(
        ctx,
        (StatusCode::OK, axum::Json(body)).into_response(),
        token,
        None,
        Some(staleness),
    ))
}
