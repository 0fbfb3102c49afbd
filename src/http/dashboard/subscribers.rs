//! Subscribers: search (paged), one subscriber's status and history, unsubscribe and
//! erase (the CLI's and API's functions), CSV import by upload (`subscribers::import`, with
//! its per-row report) and export (`subscribers::export`).

use axum::body::Body;
use axum::extract::{Extension, Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{CsrfForm, Operator, dashboard, db_failure, message, page, refused, see_other};
use crate::db::Source;
use crate::db::subscribers::{ListQuery, Removed};
use crate::db::unsubscribe::Change;
use crate::domain::SubscriberStatus;
use crate::http::AppState;

const PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    after: i64,
    notice: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Query(s): Query<Search>,
) -> Response {
    let status = s.status.parse::<SubscriberStatus>().ok();
    let search: String = s.q.trim().chars().take(254).collect();
    let page_rows = state
        .db
        .list_subscribers(&ListQuery {
            status,
            search: Some(search.clone()).filter(|s| !s.is_empty()),
            limit: PAGE,
            after_id: s.after.max(0),
        })
        .await;
    let rows = match page_rows {
        Ok(r) => r,
        Err(e) => return db_failure(&state, &op, e),
    };
    let next_after = (rows.len() as u32 == PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let next_url = next_after.map(|after| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &search)
            .append_pair("status", status.map_or("", SubscriberStatus::as_str))
            .append_pair("after", &after.to_string())
            .finish();
        format!("/admin/subscribers?{query}")
    });
    let notice = match s.notice.as_deref() {
        Some("erased") => {
            "The subscriber was erased; a hash of the address is kept so no import adds it again."
        }
        _ => "",
    };
    dashboard(&state).render(
        StatusCode::OK,
        "subscribers.html",
        page(
            &op,
            &state,
            "subscribers",
            "Subscribers",
            context! {
                rows => Value::from(Serde(&rows)),
                q => search.clone(),
                status => status.map_or("", SubscriberStatus::as_str),
                statuses => ["active", "pending", "unsubscribed", "bounced", "complained"],
                paged => s.after > 0,
                first_url => format!(
                    "/admin/subscribers?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("q", &search)
                        .append_pair("status", status.map_or("", SubscriberStatus::as_str))
                        .finish()
                ),
                next_url => next_url,
                notice => notice,
            },
        ),
    )
}

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Path(id): Path<i64>,
    Query(q): Query<Notice>,
) -> Response {
    let notice = match q.notice.as_deref() {
        Some("unsubscribed") => "Unsubscribed.",
        Some("unchanged") => "Already unsubscribed.",
        Some("closed") => "This address bounced or complained; it receives nothing already.",
        _ => "",
    };
    render_subscriber(&state, &op, id, StatusCode::OK, notice, "").await
}

async fn render_subscriber(
    state: &AppState,
    op: &Operator,
    id: i64,
    status: StatusCode,
    notice: &str,
    error: &str,
) -> Response {
    let subscriber = match state.db.subscriber_by_id(id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return message(
                state,
                op,
                StatusCode::NOT_FOUND,
                "No such subscriber",
                &format!("There is no subscriber {id}."),
            );
        }
        Err(e) => return db_failure(state, op, e),
    };
    let events = match crate::db::events::for_subscriber(state.db.pool(), id).await {
        Ok(e) => e,
        Err(e) => return db_failure(state, op, e),
    };
    // Events name issues by their row id; the page shows their numbers.
    let numbers: std::collections::HashMap<i64, u32> = match state.db.issues().await {
        Ok(issues) => issues.iter().map(|s| (s.id, s.issue.number)).collect(),
        Err(e) => return db_failure(state, op, e),
    };
    let events: Vec<Value> = events
        .into_iter()
        .rev()
        .map(|e| {
            let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
            context! {
                at => e.at,
                kind => e.kind,
                source => e.source,
                issue => e
                    .issue_id
                    .and_then(|id| numbers.get(&id).copied())
                    .or_else(|| detail["issue"].as_u64().map(|n| n as u32)),
                detail => summarize(&detail),
            }
        })
        .collect();
    let title = subscriber.email.clone();
    dashboard(state).render(
        status,
        "subscriber.html",
        page(
            op,
            state,
            "subscribers",
            &title,
            context! {
                s => Value::from(Serde(&subscriber)),
                status => subscriber.status.to_string(),
                events => events,
                notice => notice,
                error => error,
            },
        ),
    )
}

/// An event's detail in a line: reason, codes and the like, without the issue (shown apart).
fn summarize(detail: &serde_json::Value) -> String {
    let Some(map) = detail.as_object() else {
        return String::new();
    };
    map.iter()
        .filter(|(k, v)| *k != "issue" && !v.is_null())
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[derive(Deserialize)]
pub struct Confirm {
    #[serde(default)]
    confirm: String,
}

/// POST /admin/subscribers/{id}/{unsubscribe|erase}
pub async fn change(
    State(state): State<AppState>,
    Path((id, action)): Path<(i64, String)>,
    CsrfForm(op, form): CsrfForm<Confirm>,
) -> Response {
    match action.as_str() {
        "unsubscribe" => match state.db.unsubscribe(id, None, Source::Dashboard).await {
            Ok(Change::Done) => see_other(&format!("/admin/subscribers/{id}?notice=unsubscribed")),
            Ok(Change::Unchanged) => {
                see_other(&format!("/admin/subscribers/{id}?notice=unchanged"))
            }
            Ok(Change::Blocked(_)) => see_other(&format!("/admin/subscribers/{id}?notice=closed")),
            Ok(Change::Unknown) => message(
                &state,
                &op,
                StatusCode::NOT_FOUND,
                "No such subscriber",
                &format!("There is no subscriber {id}."),
            ),
            Err(e) => db_failure(&state, &op, e),
        },
        "erase" => {
            if form.confirm != "yes" {
                return render_subscriber(
                    &state,
                    &op,
                    id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "",
                    "Tick the box to confirm the erasure: it cannot be undone.",
                )
                .await;
            }
            match state.db.remove_subscriber(id, Source::Dashboard).await {
                Ok(Removed::Done { .. }) => see_other("/admin/subscribers?notice=erased"),
                Ok(Removed::Unknown) => message(
                    &state,
                    &op,
                    StatusCode::NOT_FOUND,
                    "No such subscriber",
                    &format!("There is no subscriber {id}."),
                ),
                Err(e) => db_failure(&state, &op, e),
            }
        }
        _ => message(
            &state,
            &op,
            StatusCode::NOT_FOUND,
            "No such action",
            "Subscribers can be unsubscribed or erased here.",
        ),
    }
}

pub async fn import_form(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
) -> Response {
    dashboard(&state).render(
        StatusCode::OK,
        "import.html",
        page(
            &op,
            &state,
            "subscribers",
            "Import subscribers",
            context! {},
        ),
    )
}

/// A temporary file removed when dropped, for an upload on its way to the import.
struct Upload(std::path::PathBuf);

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn upload_path() -> std::path::PathBuf {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("operating system random source");
    std::env::temp_dir().join(format!(
        "mailroom-upload-{}.csv",
        data_encoding::HEXLOWER.encode(&bytes)
    ))
}

/// POST /admin/subscribers/import (multipart): the `csrf` field must come first, before
/// the file is read; then the same import as `mailroom subscribers import`.
pub async fn import(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    mut multipart: Multipart,
) -> Response {
    let mut csrf_ok = false;
    let mut options = crate::subscribers::ImportOptions {
        status: SubscriberStatus::Active,
        skip_invalid: false,
        dry_run: false,
        consent_source: "import".into(),
    };
    let mut upload: Option<(Upload, String)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return message(
                    &state,
                    &op,
                    e.status(),
                    "The upload did not arrive whole",
                    &e.body_text(),
                );
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if !csrf_ok {
            if name != "csrf" {
                return refused(
                    &state,
                    "This form's security token is missing. Reload the page and try again.",
                );
            }
            let value = field.text().await.unwrap_or_default();
            if !crate::operators::csrf_matches(&op.token, &value) {
                return refused(
                    &state,
                    "This form's security token is out of date. Reload the page and try again.",
                );
            }
            csrf_ok = true;
            continue;
        }
        match name.as_str() {
            "status" => {
                let value = field.text().await.unwrap_or_default();
                options.status = match value.as_str() {
                    "pending" => SubscriberStatus::Pending,
                    _ => SubscriberStatus::Active,
                };
            }
            "skip_invalid" => options.skip_invalid = true,
            "dry_run" => options.dry_run = true,
            "file" => {
                let file_name = field.file_name().unwrap_or("upload.csv").to_string();
                let path = Upload(upload_path());
                let written = async {
                    let mut file = tokio::fs::File::create(&path.0).await?;
                    let mut field = field;
                    while let Some(chunk) = field.next().await {
                        let chunk = chunk.map_err(std::io::Error::other)?;
                        file.write_all(&chunk).await?;
                    }
                    file.flush().await?;
                    std::io::Result::Ok(())
                };
                if let Err(e) = written.await {
                    return message(
                        &state,
                        &op,
                        StatusCode::BAD_REQUEST,
                        "The upload did not arrive whole",
                        &e.to_string(),
                    );
                }
                upload = Some((path, file_name));
            }
            _ => {}
        }
    }
    let Some((path, file_name)) = upload else {
        return message(
            &state,
            &op,
            StatusCode::UNPROCESSABLE_ENTITY,
            "No file",
            "Choose a CSV file to import.",
        );
    };
    let result = crate::subscribers::import(&state.db, &path.0, &options).await;
    let report = match result {
        Ok(mut r) => {
            r.file = file_name;
            r
        }
        Err(e) => {
            return message(
                &state,
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The file could not be imported",
                &format!("{e:#}").replace(&path.0.display().to_string(), &file_name),
            );
        }
    };
    let status = if report.invalid_count > 0 && !options.skip_invalid {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let invalid: Vec<Value> = report
        .invalid
        .iter()
        .map(|(line, reason)| context! { line => line, reason => reason })
        .collect();
    let skipped: Vec<Value> = report
        .skipped
        .iter()
        .take(50)
        .map(|(line, email, status)| context! { line => line, email => email, status => status })
        .collect();
    dashboard(&state).render(
        status,
        "import.html",
        page(
            &op,
            &state,
            "subscribers",
            "Import subscribers",
            context! {
                report => context! {
                    file => report.file.clone(),
                    rows => report.rows,
                    created => report.created,
                    updated => report.updated,
                    unchanged => report.unchanged,
                    duplicates => report.duplicates,
                    skipped_count => report.skipped.len(),
                    invalid_count => report.invalid_count,
                    written => report.written,
                    dry_run => options.dry_run,
                    summary => report.to_string().lines().last().unwrap_or_default().to_string(),
                },
                invalid => invalid,
                more_invalid => report.invalid_count.saturating_sub(report.invalid.len() as u64),
                skipped => skipped,
            },
        ),
    )
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    status: String,
}

/// GET /admin/subscribers/export.csv: the list as `mailroom subscribers export` writes it,
/// written to a temporary file first and streamed from there.
pub async fn export(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Query(q): Query<ExportQuery>,
) -> Response {
    let status = q.status.parse::<SubscriberStatus>().ok();
    let path = Upload(upload_path());
    let written = async {
        let file = std::fs::File::create(&path.0)?;
        crate::subscribers::export(&state.db, status, file, false).await?;
        anyhow::Ok(tokio::fs::File::open(&path.0).await?)
    };
    let file = match written.await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "dashboard export");
            return message(
                &state,
                &op,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The export failed",
                "The log has the details.",
            );
        }
    };
    // The open file stays readable after its name is gone (on Unix), so the name goes now.
    drop(path);
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let name = format!(
        "subscribers-{}{}.csv",
        status.map_or(String::new(), |s| format!("{s}-")),
        &crate::db::now()[..10]
    );
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("ascii"),
    );
    response
}
