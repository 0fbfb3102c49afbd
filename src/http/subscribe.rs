//! Double opt-in over HTTP: `/subscribe` (the form, and its POST as a form or JSON) and
//! `/confirm/{token}` (GET shows a button and changes nothing, its POST confirms).
//!
//! A valid request gets one answer whatever the list knows about the address (new,
//! pending, active, unsubscribed, bounced, complained): same status, same bytes. Only
//! whether an email goes out differs, and only the address's owner sees that.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use super::pages::{FormView, PageState, mask_email};
use super::{AppState, ClientIp};
use crate::db::optin::{Requested, Standing};
use crate::db::subscribers::NewSubscriber;
use crate::domain::{SubscriberEmail, SubscriberStatus};
use crate::optin::{LINK_VALID, RESEND_AFTER};

/// Longest name accepted, as for CSV imports.
const MAX_NAME_CHARS: usize = 200;

/// What a JSON client is told; the page says the same at more length.
const ACCEPTED: &str = "If the address can receive this newsletter, a confirmation link is on its way; the subscription starts once it is used.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Form,
    Json,
}

/// The request's fields, before any checking.
#[derive(Debug, Default, Deserialize)]
struct Fields {
    email: Option<String>,
    name: Option<String>,
}

/// A refused request: status and the reason, in the request's own format.
struct Refusal {
    status: StatusCode,
    reason: String,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

/// GET (and HEAD) `/subscribe`: the form.
pub async fn form(State(state): State<AppState>) -> Response {
    state
        .pages
        .render(StatusCode::OK, PageState::Subscribe, &state.newsletter, "")
}

/// POST `/subscribe`, urlencoded (the form) or JSON.
pub async fn submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let format = match format(&headers) {
        Some(format) => format,
        None => {
            let reason = "send the fields as application/x-www-form-urlencoded or application/json";
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("{reason}\n")).into_response();
        }
    };
    let fields = match read_fields(format, &body) {
        Ok(fields) => fields,
        Err(refusal) => return refuse(&state, format, &Fields::default(), refusal),
    };
    let new = match new_subscriber(&fields) {
        Ok(new) => new,
        Err(refusal) => return refuse(&state, format, &fields, refusal),
    };
    let requested = state
        .db
        .request_confirmation(&new, ip, OffsetDateTime::now_utc(), RESEND_AFTER)
        .await;
    match requested {
        Ok(Requested::Send(outstanding)) => state.optin.spawn(outstanding),
        Ok(outcome) => {
            tracing::debug!(?outcome, "subscribe request: no confirmation sent");
        }
        Err(e) => return super::pages::failure(e, "subscribe"),
    }
    match format {
        Format::Json => (StatusCode::OK, Json(json!({ "message": ACCEPTED }))).into_response(),
        Format::Form => {
            state
                .pages
                .render(StatusCode::OK, PageState::CheckInbox, &state.newsletter, "")
        }
    }
}

/// GET (and HEAD) `/confirm/{token}`: the page with the button. Mail scanners prefetch
/// links, so nothing changes here.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(claim) = state.keys.verify_confirm(&token) else {
        return invalid(&state);
    };
    if expired(claim.issued_at) {
        return expired_page(&state);
    }
    let candidate = match state
        .db
        .confirmation_candidate(claim.subscriber_id, claim.issued_at)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => return invalid(&state),
        Err(e) => return super::pages::failure(e, "subscribe"),
    };
    let page = match candidate.standing {
        Standing::Confirmable => PageState::ConfirmSubscription,
        Standing::Active => PageState::Subscribed,
        Standing::Stale => return expired_page(&state),
        Standing::Closed => PageState::Closed,
    };
    let masked = mask_email(&candidate.email);
    state
        .pages
        .render(StatusCode::OK, page, &state.newsletter, &masked)
}

/// POST `/confirm/{token}`: the page's button. The signed token is the authorization; the
/// body carries nothing that matters.
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
) -> Response {
    let Some(claim) = state.keys.verify_confirm(&token) else {
        return invalid(&state);
    };
    if expired(claim.issued_at) {
        return expired_page(&state);
    }
    let confirmed = state
        .db
        .confirm_subscription(claim.subscriber_id, claim.issued_at, ip)
        .await;
    let candidate = match confirmed {
        Ok(Some((candidate, _changed))) => candidate,
        Ok(None) => return invalid(&state),
        Err(e) => return super::pages::failure(e, "subscribe"),
    };
    let page = match candidate.standing {
        Standing::Active => PageState::Subscribed,
        Standing::Stale => return expired_page(&state),
        Standing::Closed => PageState::Closed,
        // Unreachable after a confirmation; show the button again rather than fail.
        Standing::Confirmable => PageState::ConfirmSubscription,
    };
    let masked = mask_email(&candidate.email);
    state
        .pages
        .render(StatusCode::OK, page, &state.newsletter, &masked)
}

/// Form or JSON by Content-Type; none at all is read as a form, as `curl -d` sends.
fn format(headers: &HeaderMap) -> Option<Format> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Some(Format::Form);
    };
    let essence = value
        .to_str()
        .ok()?
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => Some(Format::Form),
        "application/json" => Some(Format::Json),
        _ => None,
    }
}

fn read_fields(format: Format, body: &[u8]) -> Result<Fields, Refusal> {
    match format {
        Format::Json => serde_json::from_slice::<Fields>(body).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not a JSON object with string fields email and name: {e}"),
            )
        }),
        Format::Form => {
            // The first of repeated fields wins, as with most form parsers.
            let mut fields = Fields::default();
            for (key, value) in form_urlencoded::parse(body) {
                match key.as_ref() {
                    "email" if fields.email.is_none() => fields.email = Some(value.into_owned()),
                    "name" if fields.name.is_none() => fields.name = Some(value.into_owned()),
                    _ => {}
                }
            }
            Ok(fields)
        }
    }
}

/// Checks the fields. Every reason depends on the input alone, never on the list.
fn new_subscriber(fields: &Fields) -> Result<NewSubscriber, Refusal> {
    let unprocessable = |reason: String| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, reason);
    let raw = fields.email.as_deref().unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(unprocessable("an email address is required".into()));
    }
    let email = SubscriberEmail::parse(raw).map_err(|e| unprocessable(format!("email: {e}")))?;
    let name = fields.name.as_deref().unwrap_or_default().trim();
    // The name ends up in the To: header; lettre encodes it, and line breaks never get that far.
    if name.chars().any(char::is_control) {
        return Err(unprocessable(
            "name: must be one line, without control characters".into(),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(unprocessable(format!(
            "name: at most {MAX_NAME_CHARS} characters"
        )));
    }
    Ok(NewSubscriber {
        email,
        name: name.to_string(),
        status: SubscriberStatus::Pending,
        attributes: serde_json::Map::new(),
    })
}

/// The form again with the reason and what was typed (bounded, escaped by the template), or
/// a JSON error.
fn refuse(state: &AppState, format: Format, fields: &Fields, refusal: Refusal) -> Response {
    match format {
        Format::Json => (refusal.status, Json(json!({ "error": refusal.reason }))).into_response(),
        Format::Form => {
            let keep = |s: &Option<String>, max: usize| -> String {
                let s = s.as_deref().unwrap_or_default();
                s.chars().filter(|c| !c.is_control()).take(max).collect()
            };
            let form = FormView {
                email: keep(&fields.email, 254),
                name: keep(&fields.name, MAX_NAME_CHARS),
                error: refusal.reason,
            };
            state.pages.render_form(
                refusal.status,
                PageState::Subscribe,
                &state.newsletter,
                "",
                &form,
            )
        }
    }
}

fn expired(issued_at: OffsetDateTime) -> bool {
    OffsetDateTime::now_utc() - issued_at > LINK_VALID
}

/// Answered as "not found", like a bad token, but saying what happened and what to do.
fn expired_page(state: &AppState) -> Response {
    state.pages.render(
        StatusCode::NOT_FOUND,
        PageState::ConfirmExpired,
        &state.newsletter,
        "",
    )
}

/// One answer for every bad token: truncated, altered, wrong key or kind, unknown subscriber.
fn invalid(state: &AppState) -> Response {
    state.pages.render(
        StatusCode::NOT_FOUND,
        PageState::ConfirmInvalid,
        &state.newsletter,
        "",
    )
}
