//! `POST /webhooks/{provider}`: bounce and complaint reports from ESP relays.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::db::webhook_events::Applied;
use crate::domain::Provider;
use crate::webhooks::Rejection;

/// Authenticates, then applies each event on its own; 200 with counts once all are
/// applied. A database failure answers 500 so the relay retries: the events applied
/// before it are recognised as duplicates then.
pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::parse(&provider) else {
        return rejected(Rejection::NotFound, "unknown");
    };
    let events = match state.webhooks.read(provider, &headers, &body).await {
        Ok(events) => events,
        Err(rejection) => return rejected(rejection, provider.as_str()),
    };
    let (mut applied, mut changed, mut duplicates, mut unknown) = (0, 0, 0, 0);
    for event in &events {
        match state
            .db
            .apply_provider_event(event, &state.bounce_policy)
            .await
        {
            Ok(Applied::Done { changed: c }) => {
                applied += 1;
                if c {
                    changed += 1;
                    tracing::info!(
                        provider = provider.as_str(),
                        class = ?event.class,
                        reason = %event.reason,
                        "webhook event applied"
                    );
                }
            }
            Ok(Applied::Duplicate) => duplicates += 1,
            Ok(Applied::Unknown) => unknown += 1,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    provider = provider.as_str(),
                    "applying a webhook event"
                );
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Could not record the events; please retry.\n",
                )
                    .into_response();
            }
        }
    }
    Json(json!({
        "applied": applied,
        "changed": changed,
        "duplicates": duplicates,
        "unknown": unknown,
    }))
    .into_response()
}

fn rejected(rejection: Rejection, provider: &str) -> Response {
    let status = match &rejection {
        Rejection::NotFound => StatusCode::NOT_FOUND,
        Rejection::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
        Rejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    match &rejection {
        Rejection::NotFound => {}
        Rejection::Unavailable(e) => {
            tracing::error!(
                provider,
                error = format!("{e:#}"),
                "webhook could not be verified"
            )
        }
        other => tracing::warn!(provider, reason = %other, "webhook refused"),
    }
    // Internals stay in the log; the relay's dashboard shows what it needs to fix.
    let text = match &rejection {
        Rejection::Unavailable(_) => "Could not verify the request now; please retry.".to_string(),
        other => other.to_string(),
    };
    let mut response = (status, format!("{text}\n")).into_response();
    if provider == "postmark" && status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mailroom webhooks\""),
        );
    }
    response
}
