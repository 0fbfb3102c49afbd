//! `/c/{token}`: a counted item link. Answers 302 to the item's URL from the stored issue
//! (never from the request), or the invalid-link page with 404.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::pages::PageState;
use super::{AppState, ClientIp};

/// GET and HEAD alike: both are redirected, and HEAD is counted as a machine's.
pub async fn follow(
    State(state): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Response {
    let Some(claim) = state.keys.verify_click(&token) else {
        return invalid(&state);
    };
    // Past the per-IP limit a click still goes through (a reader behind a busy proxy must
    // not see an error), it is only not counted.
    let count = ip.is_none_or(|ip| state.limiter.check_key(&ip).is_ok());
    let user_agent = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()));
    let target = state
        .clicks
        .follow(claim, method == Method::HEAD, user_agent.as_deref(), count)
        .await;
    match target {
        Ok(Some(url)) => redirect(&url),
        Ok(None) => invalid(&state),
        Err(e) => super::pages::failure(e, "click"),
    }
}

/// 302 to `url`, written as ASCII (an IDN host in punycode, the rest percent-encoded).
fn redirect(url: &str) -> Response {
    let location = url::Url::parse(url)
        .ok()
        .and_then(|u| HeaderValue::from_str(u.as_str()).ok())
        .or_else(|| HeaderValue::from_str(url).ok());
    let Some(location) = location else {
        tracing::error!(url, "an item's URL cannot be a Location header");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    // Every click must reach us to be counted, and the item's site need not learn the token.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// One answer for every bad link: forged, altered, another kind of token, unknown issue,
/// item or delivery.
fn invalid(state: &AppState) -> Response {
    state.pages.render(
        StatusCode::NOT_FOUND,
        PageState::LinkInvalid,
        &state.newsletter,
        "",
    )
}
