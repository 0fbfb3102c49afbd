//! `/u/{token}`: the unsubscribe page (GET changes nothing), its buttons, and RFC 8058
//! one-click POSTs from mail clients.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::pages::{PageState, mask_email};
use crate::db::Source;
use crate::db::unsubscribe::Change;
use crate::domain::SubscriberStatus;
use crate::token::UnsubscribeClaim;

/// What a POST asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    /// `List-Unsubscribe=One-Click` (RFC 8058), or a bare POST from a mail client.
    OneClick,
    /// The page's Unsubscribe button.
    Unsubscribe,
    /// The page's "I unsubscribed by mistake" button.
    Resubscribe,
}

/// GET (and HEAD): shows the page. Link scanners prefetch these, so nothing changes here.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some(claim) = state.keys.verify_unsubscribe(&token) else {
        return invalid(&state);
    };
    let member = match state.db.member(claim.subscriber_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return invalid(&state),
        Err(e) => return super::pages::failure(e, "unsubscribe"),
    };
    let page = match member.status {
        SubscriberStatus::Active | SubscriberStatus::Pending => PageState::Confirm,
        SubscriberStatus::Unsubscribed => PageState::Unsubscribed,
        SubscriberStatus::Bounced | SubscriberStatus::Complained => PageState::Closed,
    };
    state.pages.render(
        StatusCode::OK,
        page,
        &state.newsletter,
        &mask_email(&member.email),
    )
}

/// POST: one-click, the page's button, or the resubscribe button. Needs no cookie, CSRF
/// token or login: the signed token is the authorization, as RFC 8058 requires.
pub async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(claim) = state.keys.verify_unsubscribe(&token) else {
        return invalid(&state);
    };
    let intent = match intent(&headers, body).await {
        Ok(intent) => intent,
        Err(reason) => return (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response(),
    };
    let result = match intent {
        Intent::OneClick => unsubscribe(&state, claim, Source::OneClick).await,
        Intent::Unsubscribe => unsubscribe(&state, claim, Source::Page).await,
        Intent::Resubscribe => {
            let issue = Some(claim.issue_number);
            state
                .db
                .resubscribe(claim.subscriber_id, issue, Source::Page)
                .await
        }
    };
    let change = match result {
        Ok(change) => change,
        Err(e) => return super::pages::failure(e, "unsubscribe"),
    };
    if intent == Intent::OneClick {
        // Mail clients read only the status: 200, no redirect, whatever the prior state.
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Unsubscribed.\n",
        )
            .into_response();
    }
    let page = match (intent, change) {
        (_, Change::Unknown) => return invalid(&state),
        (_, Change::Blocked(_)) => PageState::Closed,
        (Intent::Resubscribe, _) => PageState::Resubscribed,
        _ => PageState::Unsubscribed,
    };
    let masked = match state.db.member(claim.subscriber_id).await {
        Ok(Some(m)) => mask_email(&m.email),
        Ok(None) => return invalid(&state),
        Err(e) => return super::pages::failure(e, "unsubscribe"),
    };
    state
        .pages
        .render(StatusCode::OK, page, &state.newsletter, &masked)
}

async fn unsubscribe(
    state: &AppState,
    claim: UnsubscribeClaim,
    source: Source,
) -> crate::db::Result<Change> {
    state
        .db
        .unsubscribe(claim.subscriber_id, Some(claim.issue_number), source)
        .await
}

/// Reads the form fields of an urlencoded or multipart body.
async fn intent(headers: &HeaderMap, body: Bytes) -> Result<Intent, &'static str> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let fields: Vec<(String, String)> = if content_type.starts_with("multipart/form-data") {
        multipart_fields(content_type, body).await?
    } else {
        // urlencoded, or a client that left the type out: the RFC 8058 body parses the same.
        form_urlencoded::parse(&body).into_owned().collect()
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(match (field("List-Unsubscribe"), field("action")) {
        (Some("One-Click"), _) => Intent::OneClick,
        (_, Some("unsubscribe")) => Intent::Unsubscribe,
        (_, Some("resubscribe")) => Intent::Resubscribe,
        (_, Some(_)) => return Err("unknown action"),
        (_, None) => Intent::OneClick,
    })
}

async fn multipart_fields(
    content_type: &str,
    body: Bytes,
) -> Result<Vec<(String, String)>, &'static str> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|_| "multipart body without a boundary")?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| "malformed multipart body")?
    {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await.map_err(|_| "malformed multipart body")?;
        fields.push((name, value));
        if fields.len() > 16 {
            return Err("too many form fields");
        }
    }
    Ok(fields)
}

/// One answer for every bad token: truncated, altered, wrong key, unknown subscriber.
fn invalid(state: &AppState) -> Response {
    state.pages.render(
        StatusCode::NOT_FOUND,
        PageState::Invalid,
        &state.newsletter,
        "",
    )
}
