//! Issues: the list, one issue with its preview at phone and desktop widths, finalize and
//! send (now or at a time) — through `Db::finalize_issue` and `issues::queue_send`, as the
//! CLI and the API do.

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{CsrfForm, Empty, Operator, dashboard, db_failure, message, page, see_other};
use crate::db::Source;
use crate::domain::ScheduleField;
use crate::http::AppState;
use crate::issues::QueueError;

/// The preview's sample reader.
const SAMPLE_EMAIL: &str = "reader@example.org";
const SAMPLE_NAME: &str = "Sample Reader";

pub async fn list(State(state): State<AppState>, Extension(op): Extension<Operator>) -> Response {
    let issues = match state.db.issues().await {
        Ok(i) => i,
        Err(e) => return db_failure(&state, &op, e),
    };
    let sends = match state.db.recent_sends(1000).await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    let rows: Vec<Value> = issues
        .iter()
        .map(|s| {
            let send = sends.iter().find(|x| x.number == i64::from(s.issue.number));
            context! {
                number => s.issue.number,
                title => s.issue.title.clone(),
                date => s.issue.date.to_string(),
                status => s.status.to_string(),
                items => s.issue.item_count(),
                send => send.map(|s| Value::from(Serde(s))),
            }
        })
        .collect();
    dashboard(&state).render(
        StatusCode::OK,
        "issues.html",
        page(&op, &state, "issues", "Issues", context! { issues => rows }),
    )
}

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(number): Path<u32>,
    Query(q): Query<Notice>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("finalized") => "The issue is finalized: its content is frozen.",
        Some("unchanged") => "The issue was already finalized.",
        _ => "",
    };
    render_issue(&state, &op, number, StatusCode::OK, notice, "", None).await
}

/// GET /admin/issues/{n}/check: the issue page with the `issue check` report.
pub async fn check(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(number): Path<u32>,
) -> Response {
    let stored = match state.db.require_issue(number).await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    match run_checks(&state, &op, &stored).await {
        Ok(report) => render_issue(&state, &op, number, StatusCode::OK, "", "", Some(report)).await,
        Err(page) => page,
    }
}

/// `issue check`'s report, or the page saying why the issue could not be checked.
async fn run_checks(
    state: &AppState,
    op: &Operator,
    stored: &crate::db::issues::StoredIssue,
) -> Result<crate::checks::Report, Response> {
    crate::checks::check_issue(&state.settings, &state.db, &state.factory, stored)
        .await
        .map_err(|e| {
            message(
                state,
                op,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The issue could not be checked",
                &format!("{e:#}"),
            )
        })
}

async fn render_issue(
    state: &AppState,
    op: &Operator,
    number: u32,
    status: StatusCode,
    notice: &str,
    error: &str,
    check: Option<crate::checks::Report>,
) -> Response {
    let stored = match state.db.require_issue(number).await {
        Ok(s) => s,
        Err(e) => return db_failure(state, op, e),
    };
    // Worst first: what stops a send leads the table.
    let check = check.map(|mut r| {
        r.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        r
    });
    let send = match state.db.send_summary(number).await {
        Ok(s) => s,
        Err(e) => return db_failure(state, op, e),
    };
    let clicks = match crate::clicks::item_clicks(&state.db, number).await {
        Ok(items) => click_chart(&items),
        Err(e) => return db_failure(state, op, e),
    };
    let title = format!("Issue #{number}");
    dashboard(state).render(
        status,
        "issue.html",
        page(
            op,
            state,
            "issues",
            &title,
            context! {
                stored => Value::from(Serde(&stored)),
                status => stored.status.to_string(),
                send => send.map(|s| Value::from(Serde(s))),
                notice => notice,
                error => error,
                clicks => clicks,
                check => check.map(|r| Value::from(Serde(r))),
            },
        ),
    )
}

/// The per-item click results as a bar chart (people's clicks and unique readers beside
/// machines') and a table; nothing before the first click, as an issue that was never
/// sent, or sent without `analytics.clicks`, has nothing to show.
fn click_chart(items: &[crate::clicks::ItemClicks]) -> Value {
    use crate::charts::{Chart, Kind, Series};
    if items
        .iter()
        .all(|i| i.human_clicks == 0 && i.machine_clicks == 0)
    {
        return Value::UNDEFINED;
    }
    let series = |name: &str, f: fn(&crate::clicks::ItemClicks) -> i64| Series {
        name: name.into(),
        values: items.iter().map(|i| f(i) as f64).collect(),
    };
    let chart = Chart {
        id: "clicks",
        title: "Clicks per item",
        description: "Bar chart: for each item with a link, in issue order, the unique readers who clicked it, people's clicks and machine (link scanner) clicks; the table below has the numbers.",
        x_title: "item (issue order)",
        y_title: "clicks",
        categories: items.iter().map(|i| format!("{}", i.item + 1)).collect(),
        series: vec![
            series("unique readers", |i| i.unique_humans),
            series("people's clicks", |i| i.human_clicks),
            series("machine clicks", |i| i.machine_clicks),
        ],
        kind: Kind::Bars,
    };
    context! {
        chart => Value::from_safe_string(chart.svg()),
        items => items.iter().map(|i| context! {
            number => i.item + 1,
            section => &i.section,
            title => &i.title,
            unique_humans => i.unique_humans,
            human_clicks => i.human_clicks,
            click_through => format!("{:.1}%", i.click_through * 100.0),
            machine_clicks => i.machine_clicks,
        }).collect::<Vec<_>>(),
    }
}

/// GET /admin/issues/{n}/preview: the HTML part for a sample reader, to be framed by the
/// issue page (same origin only), with no scripts.
pub async fn preview(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(number): Path<u32>,
) -> Response {
    let stored = match state.db.require_issue(number).await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    let rendered = crate::issues::preview(
        &state.settings,
        &dashboard(&state).factory,
        &stored,
        SAMPLE_EMAIL,
        SAMPLE_NAME,
    );
    match rendered {
        Ok(p) => {
            let mut response = Html(p.html).into_response();
            let h = response.headers_mut();
            // Email HTML is all inline styles; it may show remote images, never run code,
            // and only our own pages may frame it.
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; \
                     font-src https:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'",
                ),
            );
            h.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), number, "rendering a preview");
            message(
                &state,
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The preview could not be rendered",
                &format!("{e:#}"),
            )
        }
    }
}

/// POST /admin/issues/{n}/finalize
pub async fn finalize(
    State(state): State<AppState>,
    Path(number): Path<u32>,
    CsrfForm(op, _): CsrfForm<Empty>,
) -> Response {
    match state.db.finalize_issue(number, Source::Dashboard).await {
        Ok((true, _)) => see_other(&format!("/admin/issues/{number}?notice=finalized")),
        Ok((false, _)) => see_other(&format!("/admin/issues/{number}?notice=unchanged")),
        Err(e @ crate::db::Error::Invalid(_)) => {
            render_issue(
                &state,
                &op,
                number,
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
                &e.to_string(),
                None,
            )
            .await
        }
        Err(e) => db_failure(&state, &op, e),
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    /// `now` or `at`.
    #[serde(default)]
    when: String,
    /// `YYYY-MM-DDTHH:MM` from a datetime-local field, in UTC.
    #[serde(default)]
    at: String,
    /// e.g. `6h`; empty: no expiry.
    #[serde(default)]
    expire_after: String,
    /// Present (`yes`) when the operator sends despite errors the checks find.
    #[serde(default)]
    force: String,
}

/// POST /admin/issues/{n}/send: queue it now or for a time, then show the send.
pub async fn send(
    State(state): State<AppState>,
    Path(number): Path<u32>,
    CsrfForm(op, form): CsrfForm<SendForm>,
) -> Response {
    let at = match form.when.as_str() {
        "at" => {
            let text = form.at.trim();
            // A datetime-local field sends minutes (and sometimes seconds) without a zone;
            // the form says the time is UTC.
            let full = match text.len() {
                16 => format!("{text}:00Z"),
                19 => format!("{text}Z"),
                _ => text.to_string(),
            };
            Some(full)
        }
        _ => None,
    };
    let expire_after = Some(form.expire_after.trim()).filter(|s| !s.is_empty());
    let stored = match state.db.require_issue(number).await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    let report = match run_checks(&state, &op, &stored).await {
        Ok(report) => report,
        Err(page) => return page,
    };
    if crate::checks::refuses(&report, !form.force.is_empty()) {
        let error = format!(
            "Not queued: the checks found {} error(s), listed below. Fix them, or tick “Send even if the checks find errors”.",
            report.count(crate::checks::Severity::Error)
        );
        return render_issue(
            &state,
            &op,
            number,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
            &error,
            Some(report),
        )
        .await;
    }
    let queued = crate::issues::queue_send(
        &state.settings,
        &state.db,
        number,
        at.as_deref(),
        expire_after,
        Source::Dashboard,
    )
    .await;
    let error = match queued {
        Ok(_) => return see_other(&format!("/admin/sends/{number}")),
        Err(QueueError::Schedule(e)) => {
            let field = match e.field {
                ScheduleField::At => "Start time",
                ScheduleField::ExpireAfter => "Expire after",
            };
            format!("{field}: {e}")
        }
        Err(QueueError::Settings(e)) => format!("{e:#}"),
        Err(QueueError::Db(e @ (crate::db::Error::Conflict(_) | crate::db::Error::Invalid(_)))) => {
            e.to_string()
        }
        Err(QueueError::Db(e)) => return db_failure(&state, &op, e),
    };
    render_issue(
        &state,
        &op,
        number,
        StatusCode::UNPROCESSABLE_ENTITY,
        "",
        &error,
        None,
    )
    .await
}
