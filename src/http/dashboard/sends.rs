//! A send: live progress (the page polls `progress.json`), messages per minute, outcomes,
//! bounce reasons, the largest recipient domains, the ETA; pause, resume and cancel
//! through `Db::control_send`, as `mailroom send pause|resume|cancel` does.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Serialize;
use time::OffsetDateTime;

use super::{CsrfForm, Empty, Operator, dashboard, db_failure, message, page, see_other};
use crate::charts::{Chart, Kind, Series};
use crate::db::Source;
use crate::db::deliveries::Progress;
use crate::domain::SendAction;
use crate::http::AppState;

/// The rate behind the ETA is measured over this many recent minutes.
const RATE_WINDOW_MINUTES: i64 = 5;
const TOP_DOMAINS: u32 = 10;

/// What the page's script polls, and what the page itself starts from.
#[derive(Debug, Serialize)]
pub struct Live {
    #[serde(flatten)]
    progress: Progress,
    /// Delivered, failed or suppressed: nothing more will happen to these.
    done: i64,
    remaining: i64,
    percent: f64,
    /// Messages per minute over the last few minutes.
    per_minute: f64,
    eta_seconds: Option<i64>,
    eta: String,
}

async fn live(state: &AppState, send_id: i64, number: u32) -> crate::db::Result<Option<Live>> {
    let Some(progress) = state.db.send_progress(number).await? else {
        return Ok(None);
    };
    let since = OffsetDateTime::now_utc() - time::Duration::minutes(RATE_WINDOW_MINUTES);
    let recent = state
        .db
        .sent_since_in(send_id, &crate::db::timestamp(since))
        .await?;
    let per_minute = recent as f64 / RATE_WINDOW_MINUTES as f64;
    let done = progress.sent + progress.failed + progress.suppressed;
    let remaining = progress.queued + progress.sending + progress.retry;
    let eta_seconds = (per_minute > 0.0 && remaining > 0 && !progress.status.is_over())
        .then(|| (remaining as f64 / per_minute * 60.0).ceil() as i64);
    let eta = match (progress.status, eta_seconds) {
        (s, _) if s.is_over() => "finished".to_string(),
        (crate::domain::SendStatus::Paused, _) => "paused".to_string(),
        (_, Some(secs)) => {
            humantime::format_duration(std::time::Duration::from_secs(secs.max(1) as u64))
                .to_string()
        }
        (_, None) if remaining == 0 => "finishing".to_string(),
        (_, None) => "not yet known".to_string(),
    };
    Ok(Some(Live {
        percent: if progress.total > 0 {
            (done as f64 * 1000.0 / progress.total as f64).round() / 10.0
        } else {
            100.0
        },
        done,
        remaining,
        per_minute: (per_minute * 10.0).round() / 10.0,
        eta_seconds,
        eta,
        progress,
    }))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(number): Path<u32>,
) -> Response {
    let summary = match state.db.send_summary(number).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return message(
                &state,
                &op,
                StatusCode::NOT_FOUND,
                "No send",
                &format!("Issue #{number} has not been sent."),
            );
        }
        Err(e) => return db_failure(&state, &op, e),
    };
    let loaded = async {
        let live = live(&state, summary.send_id, number).await?;
        let minutes = state.db.sent_per_minute(summary.send_id).await?;
        let reasons = state.db.send_bounce_reasons(number).await?;
        let domains = state.db.send_domains(summary.send_id, TOP_DOMAINS).await?;
        crate::db::Result::Ok((live, minutes, reasons, domains))
    };
    let (live, minutes, reasons, domains) = match loaded.await {
        Ok(l) => l,
        Err(e) => return db_failure(&state, &op, e),
    };
    let minutes = fill_minutes(&minutes);
    let chart = Chart {
        id: "per-minute",
        title: "Messages sent per minute",
        description: "Bar chart of the messages of this send handed to the relay in each minute (UTC); the table below has the numbers.",
        x_title: "minute (UTC)",
        y_title: "messages",
        categories: minutes.iter().map(|(m, _)| m[11..].to_string()).collect(),
        series: vec![Series {
            name: "sent".into(),
            values: minutes.iter().map(|(_, n)| *n as f64).collect(),
        }],
        kind: Kind::Bars,
    };
    let minutes: Vec<Value> = minutes
        .iter()
        .map(|(m, n)| context! { minute => m.clone(), sent => n })
        .collect();
    let title = format!("Send of issue #{number}");
    dashboard(&state).render(
        StatusCode::OK,
        "send.html",
        page(
            &op,
            &state,
            "issues",
            &title,
            context! {
                number => number,
                send => Value::from(Serde(&summary)),
                live => Value::from(Serde(&live)),
                chart => Value::from_safe_string(chart.svg()),
                minutes => minutes,
                reasons => Value::from(Serde(&reasons)),
                domains => Value::from(Serde(&domains)),
            },
        ),
    )
}

/// Every minute from the first to the last with a message, zeros included, so the chart's
/// x axis is time; a send spread over days keeps only its last 240 minutes.
fn fill_minutes(counts: &[crate::db::dashboard::MinuteCount]) -> Vec<(String, i64)> {
    use time::format_description::well_known::Rfc3339;
    let parse = |m: &str| OffsetDateTime::parse(&format!("{m}:00Z"), &Rfc3339).ok();
    let (Some(first), Some(last)) = (
        counts.first().and_then(|c| parse(&c.minute)),
        counts.last().and_then(|c| parse(&c.minute)),
    ) else {
        return Vec::new();
    };
    let first = first.max(last - time::Duration::minutes(239));
    let mut out = Vec::new();
    let mut t = first;
    while t <= last {
        let key = crate::db::timestamp(t)[..16].to_string();
        let n = counts
            .iter()
            .find(|c| c.minute == key)
            .map_or(0, |c| c.sent);
        out.push((key, n));
        t += time::Duration::minutes(1);
    }
    out
}

/// GET /admin/sends/{n}/progress.json
pub async fn progress(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(number): Path<u32>,
) -> Response {
    let summary = match state.db.send_summary(number).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "no send"})),
            )
                .into_response();
        }
        Err(e) => return db_failure(&state, &op, e),
    };
    match live(&state, summary.send_id, number).await {
        Ok(Some(live)) => Json(live).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no send"})),
        )
            .into_response(),
        Err(e) => db_failure(&state, &op, e),
    }
}

/// POST /admin/sends/{n}/{pause|resume|cancel}
pub async fn control(
    State(state): State<AppState>,
    Path((number, action)): Path<(u32, String)>,
    CsrfForm(op, _): CsrfForm<Empty>,
) -> Response {
    let action = match action.as_str() {
        "pause" => SendAction::Pause,
        "resume" => SendAction::Resume,
        "cancel" => SendAction::Cancel,
        _ => {
            return message(
                &state,
                &op,
                StatusCode::NOT_FOUND,
                "No such action",
                "A send can be paused, resumed or cancelled.",
            );
        }
    };
    match state
        .db
        .control_send(number, action, Source::Dashboard)
        .await
    {
        Ok(_) => see_other(&format!("/admin/sends/{number}")),
        Err(e) => db_failure(&state, &op, e),
    }
}
