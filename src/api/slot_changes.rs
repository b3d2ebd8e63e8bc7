//! Reading a slot's changes and confirming them: `GET /v1/slots/{name}/changes` (a long-poll
//! batch of events after the confirmed position, in the slot's format) and `POST /v1/slots/{name}/ack`.
//! Any region holding the slot's groups serves both; the position lives in the meta group,
//! so a consumer that moves to another region (its node died) resumes where it confirmed.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use super::slots::{answer, slot_name};
use crate::cdc::encoding::Format;
use crate::cdc::live;
use crate::cdc::reader::{Batch, ReadError};
use crate::cdc::{Position, SlotCursor, SlotRecord};
use crate::ids::GroupId;

type Ctx = State<Arc<ApiContext>>;

/// Events one read returns at most, and the default.
const MAX_EVENTS: usize = 10_000;
const DEFAULT_EVENTS: usize = 1_000;
/// The longest a read waits for a change.
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    max: Option<usize>,
    wait_ms: Option<u64>,
    /// Read after this position (a frontier or event position an earlier read returned)
    /// rather than after the confirmed one: a consumer that tracks its own position reads
    /// without a round to the meta group's leader, and acknowledges when it likes.
    after: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    position: String,
}

fn refused(ctx: &ApiContext, e: ReadError) -> ApiError {
    match e {
        ReadError::Store(s) => s.into(),
        other => ApiError::Unavailable {
            code: ErrorCode::ChangesNotHeld,
            message: format!("region {}: {other}", ctx.region),
            retry_after_s: 1,
        },
    }
}

/// A slot that can deliver: not lost, not paused.
fn deliverable(record: &SlotRecord, cursor: &SlotCursor) -> Result<(), ApiError> {
    let name = &record.spec.name;
    if let Some(why) = &cursor.lost {
        return Err(ApiError::Conflict {
            code: ErrorCode::SlotLost,
            message: format!(
                "slot {name:?} is lost: {why}; drop it and create it again (with an initial \
                 snapshot once that is built)"
            ),
        });
    }
    if record.paused {
        return Err(ApiError::Conflict {
            code: ErrorCode::SlotPaused,
            message: format!("slot {name:?} is paused; resume it to read (nothing is lost)"),
        });
    }
    Ok(())
}

fn parse_query<T>(query: Result<Query<T>, QueryRejection>, expected: &str) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad(ErrorCode::InvalidQuery, format!("expected {expected}: {e}")))
}

/// A stored slot's filter and format, compiled (they were validated at creation).
fn compiled(record: &SlotRecord) -> Result<(crate::cdc::SlotFilter, Format), ApiError> {
    let name = &record.spec.name;
    let filter = record.spec.compile().map_err(|e| ApiError::Internal {
        message: format!("stored slot {name:?} no longer compiles: {e}"),
    })?;
    let format = Format::parse(&record.spec.format).map_err(|e| ApiError::Internal {
        message: format!("stored slot {name:?}: {e}"),
    })?;
    Ok((filter, format))
}

pub async fn changes(
    State(ctx): Ctx,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> Response {
    answer(
        async {
            let name = slot_name(path)?;
            let q = parse_query(query, "?max=N&wait_ms=T&after=P")?;
            let max = q.max.unwrap_or(DEFAULT_EVENTS);
            if max == 0 || max > MAX_EVENTS {
                return Err(ApiError::bad(
                    ErrorCode::InvalidQuery,
                    format!("max: {max} is not within 1..={MAX_EVENTS}"),
                ));
            }
            let wait = Duration::from_millis(q.wait_ms.unwrap_or(0));
            if wait > MAX_WAIT {
                return Err(ApiError::bad(
                    ErrorCode::InvalidQuery,
                    format!("wait_ms: at most {}", MAX_WAIT.as_millis()),
                ));
            }
            let after = q
                .after
                .as_deref()
                .map(str::parse::<Position>)
                .transpose()
                .map_err(|e| ApiError::bad(ErrorCode::InvalidPosition, format!("after: {e}")))?;
            let (record, cursor) = match &after {
                // the consumer's own position: this replica's view of the slot is enough
                Some(_) => ctx.slots.local_get(&name)?,
                None => ctx.slots.get_with_cursor(&name).await?,
            };
            deliverable(&record, &cursor)?;
            let mut from = cursor.confirmed.clone();
            if let Some(after) = &after {
                from.advance_to(after).map_err(|e| {
                    ApiError::bad(ErrorCode::InvalidPosition, format!("after: {e}"))
                })?;
            }
            let (filter, format) = compiled(&record)?;
            let groups =
                live::held_groups(&ctx.groups, &record.start).map_err(|e| refused(&ctx, e))?;
            let batch = live::next_batch(&groups, &filter, &from, max, wait)
                .await
                .map_err(|e| refused(&ctx, e))?;
            Ok(respond(&batch, format))
        }
        .await,
    )
}

fn respond(batch: &Batch, format: Format) -> Response {
    let mut r = Bytes::from(format.encode(&batch.events)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        "georep-slot-position",
        HeaderValue::from_str(&batch.frontier.to_string()).expect("positions are ASCII"),
    );
    h.insert(
        "georep-slot-more",
        HeaderValue::from_static(if batch.more { "true" } else { "false" }),
    );
    r
}

/// The longest a stream stays open, and its default.
const MAX_STREAM: Duration = Duration::from_secs(3600);
const DEFAULT_STREAM: Duration = Duration::from_secs(60);
/// How long one step of a stream waits for changes before it looks at the clock again.
const STREAM_STEP: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    duration_ms: Option<u64>,
}

/// `GET /v1/slots/{name}/stream?duration_ms=T`: the changes after the confirmed position as
/// they are applied, in one chunked response (NDJSON, or delimited Protobuf) that stays open
/// up to `duration_ms` (default 60 s, at most 1 h). The stream moves its own read position,
/// not the slot's: acknowledge events as with `/changes`, and a new stream starts from the
/// last ack.
pub async fn stream(
    State(ctx): Ctx,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Response {
    answer(
        async {
            let name = slot_name(path)?;
            let q = parse_query(query, "?duration_ms=T")?;
            let duration = q.duration_ms.map_or(DEFAULT_STREAM, Duration::from_millis);
            if duration > MAX_STREAM {
                return Err(ApiError::bad(
                    ErrorCode::InvalidQuery,
                    format!("duration_ms: at most {}", MAX_STREAM.as_millis()),
                ));
            }
            let (record, cursor) = ctx.slots.get_with_cursor(&name).await?;
            deliverable(&record, &cursor)?;
            let (filter, format) = compiled(&record)?;
            if format == Format::Avro {
                return Err(ApiError::bad(
                    ErrorCode::InvalidQuery,
                    "an Avro slot has no stream framing (each read is one container file): read \
                     it with /changes",
                ));
            }
            let groups =
                live::held_groups(&ctx.groups, &record.start).map_err(|e| refused(&ctx, e))?;
            let until = tokio::time::Instant::now() + duration;
            let state = (groups, filter, cursor.confirmed, until);
            let chunks = futures_util::stream::unfold(
                state,
                move |(groups, filter, mut from, until)| async move {
                    loop {
                        if tokio::time::Instant::now() >= until {
                            return None;
                        }
                        match live::next_batch(&groups, &filter, &from, DEFAULT_EVENTS, STREAM_STEP)
                            .await
                        {
                            Ok(batch) if batch.events.is_empty() => from = batch.frontier,
                            Ok(batch) => {
                                let bytes = Bytes::from(format.encode(&batch.events));
                                return Some((
                                    Ok::<_, ReadError>(bytes),
                                    (groups, filter, batch.frontier, until),
                                ));
                            }
                            Err(e) => return Some((Err(e), (groups, filter, from, until))),
                        }
                    }
                },
            );
            let mut r = axum::body::Body::from_stream(chunks).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            Ok(r)
        }
        .await,
    )
}

pub async fn ack(
    State(ctx): Ctx,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    answer(
        async {
            let name = slot_name(path)?;
            let body: AckBody = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad(
                    ErrorCode::InvalidBody,
                    format!("expected {{\"position\": P}}: {e}"),
                )
            })?;
            let position: Position = body
                .position
                .parse()
                .map_err(|e| ApiError::bad(ErrorCode::InvalidPosition, format!("position: {e}")))?;
            not_ahead(&ctx, &position).await?;
            let cursor = ctx.slots.ack(&name, &position, ctx.now_ms()).await?;
            Ok(Json(serde_json::json!({
                "name": name,
                "confirmed": cursor.confirmed,
            }))
            .into_response())
        }
        .await,
    )
}

/// Refuses a position past what its groups have committed: confirming it would skip
/// changes no read returned. A group this region holds is checked after catching up with
/// its leader; one it does not hold is taken as given.
async fn not_ahead(ctx: &ApiContext, position: &Position) -> Result<(), ApiError> {
    for (id, at) in position.groups() {
        let Some(g) = ctx.groups.get(id).filter(|g| g.is_member()) else {
            continue;
        };
        if at.index > g.applied_index() {
            g.catch_up(Duration::from_secs(8), Duration::from_secs(1))
                .await?;
        }
        if at.index > g.applied_index() {
            return Err(ApiError::bad(
                ErrorCode::PositionAhead,
                format!(
                    "position: group {id} is at index {}; {} was never read from this slot",
                    g.applied_index(),
                    at.index
                ),
            ));
        }
    }
    Ok(())
}

/// What `GET /v1/slots/{name}` adds to the record: the confirmed position and how far
/// behind it is here (entries applied since, the age of the oldest unconfirmed change, the
/// backlog of change rows after it), or that the slot is lost.
pub fn progress(ctx: &ApiContext, record: &SlotRecord, cursor: &SlotCursor) -> serde_json::Value {
    let (mut lag_entries, mut backlog, mut bytes) = (0u64, 0u64, 0u64);
    let mut oldest_ms: Option<u64> = None;
    for (id, at) in cursor.confirmed.groups() {
        let Some(g) = ctx.groups.get(id).filter(|g| g.is_member()) else {
            continue;
        };
        let backlog_here = g.store().changes_backlog(id.0, at, 1_000_000);
        if let Ok((n, b)) = backlog_here {
            backlog += n;
            bytes += b;
        }
        // the meta group's entries are mostly slot bookkeeping (acks among them): only its
        // catalog changes are the slot's to deliver
        lag_entries += if id == GroupId::META {
            backlog_here.map_or(0, |(n, _)| n)
        } else {
            g.applied_index().saturating_sub(at.index)
        };
        if let Ok(page) = g.store().changes_after(id.0, at, 1, usize::MAX)
            && let Some(row) = page.rows.first()
        {
            let ms = row.hlc.physical_ms();
            oldest_ms = Some(oldest_ms.map_or(ms, |o| o.min(ms)));
        }
    }
    let lag_ms = oldest_ms.map_or(0, |ms| ctx.now_ms().saturating_sub(ms));
    serde_json::json!({
        "position": cursor.confirmed,
        "acked_at_ms": cursor.acked_at_ms,
        "lost": cursor.lost,
        "lag_entries": lag_entries,
        "lag_ms": lag_ms,
        "backlog_changes": backlog,
        "backlog_bytes": bytes,
        "paused": record.paused,
        "snapshot_pending_groups": cursor.confirmed.snapshots_pending(),
    })
}
