//! `/v1/slots`: change-data-capture slots (issue 17): create, list, show (with the slot's
//! position and lag), pause, resume, drop; reading and acknowledging changes is
//! `slot_changes.rs`. Any region serves them: slots live in the meta group's log
//! (`cdc/slots.rs`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::context::ApiContext;
use super::error::{ApiError, ErrorCode};
use crate::cdc::start::StartError;
use crate::cdc::{Position, SlotFilter, SlotRecord, SlotSpec, SlotStoreError};
use crate::config::REPLICA_SLOT_PREFIX;

use crate::config::names::check_collection_name;

type Ctx = State<Arc<ApiContext>>;

pub(super) fn answer(r: Result<Response, ApiError>) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

impl From<SlotStoreError> for ApiError {
    fn from(e: SlotStoreError) -> Self {
        match e {
            SlotStoreError::Exists(_) => ApiError::Conflict {
                code: ErrorCode::SlotExists,
                message: e.to_string(),
            },
            SlotStoreError::Conflict { .. } => ApiError::Conflict {
                code: ErrorCode::SlotConflict,
                message: e.to_string(),
            },
            SlotStoreError::NotFound(_) => ApiError::NotFound {
                message: e.to_string(),
            },
            SlotStoreError::Corrupt { .. } => ApiError::Internal {
                message: e.to_string(),
            },
            SlotStoreError::BadPosition(_) => {
                ApiError::bad(ErrorCode::InvalidPosition, e.to_string())
            }
            SlotStoreError::Group(g) => g.into(),
            SlotStoreError::Store(s) => s.into(),
        }
    }
}

pub(super) fn slot_name(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(name) =
        path.map_err(|e| ApiError::bad(ErrorCode::InvalidPath, format!("bad slot path: {e}")))?;
    check_collection_name(&name)
        .map_err(|r| ApiError::bad(ErrorCode::InvalidSlot, format!("slot name: {r}")))?;
    Ok(name)
}

fn view(r: &SlotRecord) -> serde_json::Value {
    serde_json::to_value(r).expect("slot records serialize")
}

pub async fn create(State(ctx): Ctx, body: Bytes) -> Response {
    answer(
        async {
            let spec: SlotSpec = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad(
                    ErrorCode::InvalidBody,
                    format!(
                        "expected {{\"name\", \"collections\": [..], \"exclude\": [..], \"ops\": \
                         [\"insert\"|\"update\"|\"delete\"], \"filter\", \"format\", \
                         \"initial_snapshot\", \"ddl\", \"project\": [..]}}: {e}"
                    ),
                )
            })?;
            let filter = spec
                .compile()
                .map_err(|e| ApiError::bad(ErrorCode::InvalidSlot, e.to_string()))?;
            if spec.name.starts_with(REPLICA_SLOT_PREFIX) {
                return Err(ApiError::bad(
                    ErrorCode::InvalidSlot,
                    format!(
                        "name: slots named {REPLICA_SLOT_PREFIX}* are the filtered replicas' \
                         own ([[replicas]] in the topology)"
                    ),
                ));
            }
            let mut start = start_here(&ctx, &filter).await?;
            if spec.initial_snapshot {
                start.begin_snapshot();
            }
            let record = SlotRecord {
                spec,
                paused: false,
                created_at_ms: ctx.now_ms(),
                created_in: ctx.region.to_string(),
                start,
            };
            ctx.slots.create(&record).await?;
            tracing::info!(slot = %record.spec.name, "slot created");
            Ok((StatusCode::CREATED, Json(view(&record))).into_response())
        }
        .await,
    )
}

/// Where a new slot starts (`cdc/start.rs`), as an API error if it cannot.
async fn start_here(ctx: &ApiContext, filter: &SlotFilter) -> Result<Position, ApiError> {
    crate::cdc::start::start_here(&ctx.groups, &ctx.region, filter)
        .await
        .map_err(|e| match e {
            StartError::NotHeld { .. } => ApiError::Conflict {
                code: ErrorCode::SlotGroupsNotHeld,
                message: e.to_string(),
            },
            StartError::Group(e) => e.into(),
        })
}

pub async fn list(State(ctx): Ctx) -> Response {
    answer(
        async {
            let slots = ctx.slots.list().await?;
            let slots: Vec<_> = slots.iter().map(view).collect();
            Ok(Json(serde_json::json!({ "slots": slots })).into_response())
        }
        .await,
    )
}

pub async fn show(State(ctx): Ctx, path: Result<Path<String>, PathRejection>) -> Response {
    answer(
        async {
            let name = slot_name(path)?;
            let (r, _) = ctx.slots.get(&name).await?;
            let (cursor, _) = ctx.slots.cursor(&name).await?;
            let mut v = view(&r);
            if let (Some(v), serde_json::Value::Object(p)) = (
                v.as_object_mut(),
                super::slot_changes::progress(&ctx, &r, &cursor),
            ) {
                v.extend(p);
            }
            Ok(Json(v).into_response())
        }
        .await,
    )
}

pub async fn drop_slot(State(ctx): Ctx, path: Result<Path<String>, PathRejection>) -> Response {
    answer(
        async {
            let name = slot_name(path)?;
            ctx.slots.drop_slot(&name).await?;
            tracing::info!(slot = %name, "slot dropped");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

pub async fn pause(State(ctx): Ctx, path: Result<Path<String>, PathRejection>) -> Response {
    set_paused(&ctx, path, true).await
}

pub async fn resume(State(ctx): Ctx, path: Result<Path<String>, PathRejection>) -> Response {
    set_paused(&ctx, path, false).await
}

async fn set_paused(
    ctx: &ApiContext,
    path: Result<Path<String>, PathRejection>,
    paused: bool,
) -> Response {
    answer(
        async {
            let r = ctx.slots.set_paused(&slot_name(path)?, paused).await?;
            Ok(Json(view(&r)).into_response())
        }
        .await,
    )
}
