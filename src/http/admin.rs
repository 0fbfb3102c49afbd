//! The admin API (bearer token): a CMS hands over an issue as JSON, finalizes and sends it,
//! and operators steer and watch sends.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::api::{ApiError, ApiResult, OptionalJson};
use crate::db::Source;
use crate::db::issues::Imported;
use crate::domain::Issue;
use crate::domain::{ScheduleField, SendAction};
use crate::issues::QueueError;

async fn require_issue(
    state: &AppState,
    number: u32,
) -> Result<crate::db::issues::StoredIssue, ApiError> {
    Ok(state.db.require_issue(number).await?)
}

/// POST /api/issues: store (or update) a draft from the issue model as JSON.
pub async fn import_issue(
    State(state): State<AppState>,
    body: Result<Json<Issue>, JsonRejection>,
) -> ApiResult {
    let Json(issue) = body?;
    if let Err(e) = crate::issue_file::validate("request body", &issue) {
        let problems: Vec<String> = e.diagnostics.into_iter().map(|d| d.message).collect();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": "invalid issue", "problems": problems })),
        )
            .into_response());
    }
    let outcome = state
        .db
        .import_issue(&issue, "admin API", Source::Admin)
        .await?;
    let (status, word) = match outcome {
        Imported::Created => (StatusCode::CREATED, "created"),
        Imported::Updated => (StatusCode::OK, "updated"),
        Imported::Unchanged => (StatusCode::OK, "unchanged"),
    };
    Ok((
        status,
        Json(json!({ "number": issue.number, "status": "draft", "result": word })),
    )
        .into_response())
}

/// GET /api/issues
pub async fn list_issues(State(state): State<AppState>) -> ApiResult {
    let issues: Vec<_> = state
        .db
        .issues()
        .await?
        .into_iter()
        .map(|s| json!({ "number": s.issue.number, "title": s.issue.title, "date": s.issue.date, "status": s.status }))
        .collect();
    Ok(Json(json!({ "issues": issues })).into_response())
}

/// GET /api/issues/{number}
pub async fn get_issue(State(state): State<AppState>, Path(number): Path<u32>) -> ApiResult {
    let stored = require_issue(&state, number).await?;
    Ok(Json(stored).into_response())
}

/// GET /api/issues/{number}/clicks: click results per item (see `clicks::item_clicks`).
pub async fn issue_clicks(State(state): State<AppState>, Path(number): Path<u32>) -> ApiResult {
    let stored = require_issue(&state, number).await?;
    let items = crate::clicks::item_clicks(&state.db, number).await?;
    let delivered = state.db.delivered_count(stored.id).await?;
    Ok(Json(json!({ "number": number, "delivered": delivered, "items": items })).into_response())
}

/// POST /api/issues/{number}/finalize
pub async fn finalize_issue(State(state): State<AppState>, Path(number): Path<u32>) -> ApiResult {
    require_issue(&state, number).await?;
    let (changed, stored) = state.db.finalize_issue(number, Source::Admin).await?;
    Ok(Json(json!({
        "number": number,
        "status": stored.status,
        "content_hash": stored.content_hash,
        "changed": changed,
    }))
    .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// RFC 3339 start time.
    at: Option<String>,
    /// e.g. "6h", "2days".
    expire_after: Option<String>,
    /// Queue it even when `issue check` finds errors.
    #[serde(default)]
    force: bool,
}

/// Runs `issue check` for an API request; a failure to build the message is the issue's
/// (its template or content), so it is the client's to fix.
async fn run_checks(
    state: &AppState,
    stored: &crate::db::issues::StoredIssue,
) -> Result<crate::checks::Report, ApiError> {
    crate::checks::check_issue(&state.settings, &state.db, &state.factory, stored)
        .await
        .map_err(|e| ApiError::unprocessable(format!("the issue could not be checked: {e:#}")))
}

/// GET /api/issues/{number}/check: the `issue check` report (200 whatever it found; its
/// `severity` says how bad it is).
pub async fn check_issue(State(state): State<AppState>, Path(number): Path<u32>) -> ApiResult {
    let stored = require_issue(&state, number).await?;
    let report = run_checks(&state, &stored).await?;
    Ok(Json(report).into_response())
}

/// GET /api/doctor: `mailroom doctor --json`'s report (status pass, warn or fail), for
/// a monitor that notices when DNS or the relay drifts.
pub async fn doctor(State(state): State<AppState>) -> ApiResult {
    let report = crate::doctor::run(&state.settings).await?;
    Ok(Json(report).into_response())
}

/// POST /api/issues/{number}/send with an optional `{"at": …, "expire_after": …,
/// "force": false}`. Runs `issue check` first: errors refuse the send (422 with the
/// report) unless `force` is true.
pub async fn send_issue(
    State(state): State<AppState>,
    Path(number): Path<u32>,
    OptionalJson(body): OptionalJson<SendRequest>,
) -> ApiResult {
    let stored = require_issue(&state, number).await?;
    let request = body.unwrap_or_default();
    let report = run_checks(&state, &stored).await?;
    if crate::checks::refuses(&report, request.force) {
        let errors = report.count(crate::checks::Severity::Error);
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": format!("issue #{number} not queued: the checks found {errors} error(s); fix them, or send with \"force\": true"),
                "check": report,
            })),
        )
            .into_response());
    }
    let queued = crate::issues::queue_send(
        &state.settings,
        &state.db,
        number,
        request.at.as_deref(),
        request.expire_after.as_deref(),
        Source::Admin,
    )
    .await
    .map_err(|e| match e {
        QueueError::Schedule(e) => {
            let field = match e.field {
                ScheduleField::At => "at",
                ScheduleField::ExpireAfter => "expire_after",
            };
            ApiError::unprocessable(format!("{field}: {e}"))
        }
        QueueError::Settings(e) => ApiError::unprocessable(format!("{e:#}")),
        QueueError::Db(e) => e.into(),
    })?;
    let (schedule, total) = (queued.schedule, queued.deliveries);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "number": number,
            "deliveries": total,
            "start_at": schedule.start_at,
            "expires_at": schedule.expires_at,
        })),
    )
        .into_response())
}

/// GET /api/sends/{number}: progress of an issue's send.
pub async fn send_progress(State(state): State<AppState>, Path(number): Path<u32>) -> ApiResult {
    match state.db.send_progress(number).await? {
        Some(p) => Ok(Json(p).into_response()),
        None => Err(ApiError::not_found(format!(
            "issue #{number} has not been sent"
        ))),
    }
}

/// POST /api/sends/{number}/{pause|resume|cancel}
pub async fn control_send(
    State(state): State<AppState>,
    Path((number, action)): Path<(u32, String)>,
) -> ApiResult {
    let action = match action.as_str() {
        "pause" => SendAction::Pause,
        "resume" => SendAction::Resume,
        "cancel" => SendAction::Cancel,
        _ => {
            return Err(ApiError::not_found("actions are pause, resume and cancel"));
        }
    };
    require_issue(&state, number).await?;
    let before = state.db.control_send(number, action, Source::Admin).await?;
    let progress = state.db.send_progress(number).await?;
    Ok(Json(json!({ "number": number, "from": before, "progress": progress })).into_response())
}
