//! The public archive over HTTP: `/archive`, `/archive/page/{n}`, `/archive/{number}`,
//! `/archive/sitemap.xml`, and the feeds `/feed.xml`, `/atom.xml`, `/feed.json`.
//!
//! Pages come from [`crate::archive::Archive`]'s memory, rendered once per list of public
//! issues, with an `ETag` and `Last-Modified`; a conditional request that still matches
//! gets 304 without a body. They carry no tokens and change nothing, so unlike the other
//! public pages they are cacheable and not rate-limited per client.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use time::OffsetDateTime;

use super::AppState;
use crate::archive::{Page, Resource};

/// Browsers and proxies may reuse a page this long before revalidating it (cheaply: 304).
const CACHE_CONTROL: &str = "public, max-age=60";

pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Resource::Index(1), &headers).await
}

/// `/archive/page/{n}`; page 1 is `/archive` itself.
pub async fn index_page(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> Response {
    match raw.parse::<u32>() {
        Ok(n) if n.to_string() != raw => not_found(),
        Ok(1) => Redirect::permanent("../../archive").into_response(),
        Ok(n) if n > 1 => serve(&state, Resource::Index(n), &headers).await,
        _ => not_found(),
    }
}

/// `/archive/{number}`: the issue's page.
pub async fn issue(
    State(state): State<AppState>,
    Path(number): Path<String>,
    headers: HeaderMap,
) -> Response {
    match number.parse::<u32>() {
        // One address per issue: `/archive/0210` is not `/archive/210`.
        Ok(n) if n.to_string() == number => serve(&state, Resource::Issue(n), &headers).await,
        _ => not_found(),
    }
}

/// `/archive/{number}/` and `/archive/`: the same address without the slash, so that the
/// relative links on the page resolve.
pub async fn issue_slash(Path(number): Path<String>) -> Response {
    match number.parse::<u32>() {
        Ok(n) if n.to_string() == number => {
            Redirect::permanent(&format!("../{number}")).into_response()
        }
        _ => not_found(),
    }
}

pub async fn index_slash() -> Response {
    Redirect::permanent("../archive").into_response()
}

pub async fn rss(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Resource::Rss, &headers).await
}

pub async fn atom(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Resource::Atom, &headers).await
}

pub async fn json_feed(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Resource::JsonFeed, &headers).await
}

pub async fn sitemap(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Resource::Sitemap, &headers).await
}

async fn serve(state: &AppState, r: Resource, headers: &HeaderMap) -> Response {
    let Some(archive) = &state.archive else {
        return not_found();
    };
    let page = match archive.get(r).await {
        Ok(Some(page)) => page,
        Ok(None) => return not_found(),
        Err(e) => return super::pages::failure(e, "archive"),
    };
    let mut response = if not_modified(headers, &page) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = page.body.clone().into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(page.content_type),
        );
        response
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&page.etag) {
        h.insert(header::ETAG, etag);
    }
    if let Some(modified) = page.last_modified {
        let date = httpdate::fmt_http_date(modified.into());
        if let Ok(value) = HeaderValue::from_str(&date) {
            h.insert(header::LAST_MODIFIED, value);
        }
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

/// RFC 9110 §13.1: `If-None-Match` decides when present (weak comparison, `*` matches
/// any); otherwise `If-Modified-Since`, against the archive's last change.
fn not_modified(headers: &HeaderMap, page: &Page) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        return etag_matches(value, &page.etag);
    }
    let (Some(since), Some(modified)) =
        (headers.get(header::IF_MODIFIED_SINCE), page.last_modified)
    else {
        return false;
    };
    let Some(since) = since
        .to_str()
        .ok()
        .and_then(|s| httpdate::parse_http_date(s).ok())
    else {
        return false;
    };
    modified <= OffsetDateTime::from(since)
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "There is no such page in the archive.\n",
    )
        .into_response()
}

/// The archive's headers: no framing, no scripts, the form posting only to this server.
/// Unlike the token pages, the archive is cacheable and sends the usual referrer: its
/// links lead readers to the items' sites.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        Page {
            body: "x".into(),
            content_type: "text/html",
            etag: "\"abc\"".into(),
            last_modified: Some(time::macros::datetime!(2026-12-04 07:00:00 UTC)),
        }
    }

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn entity_tags_match_weakly_and_in_lists() {
        let p = page();
        assert!(not_modified(&with(header::IF_NONE_MATCH, "\"abc\""), &p));
        assert!(not_modified(&with(header::IF_NONE_MATCH, "W/\"abc\""), &p));
        assert!(not_modified(
            &with(header::IF_NONE_MATCH, "\"x\", \"abc\""),
            &p
        ));
        assert!(not_modified(&with(header::IF_NONE_MATCH, "*"), &p));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "\"abcd\""), &p));
        assert!(!not_modified(&with(header::IF_NONE_MATCH, "abc"), &p));
    }

    #[test]
    fn dates_decide_only_without_an_entity_tag() {
        let p = page();
        let at = "Fri, 04 Dec 2026 07:00:00 GMT";
        let before = "Fri, 04 Dec 2026 06:59:59 GMT";
        assert!(not_modified(&with(header::IF_MODIFIED_SINCE, at), &p));
        assert!(!not_modified(&with(header::IF_MODIFIED_SINCE, before), &p));
        assert!(!not_modified(
            &with(header::IF_MODIFIED_SINCE, "yesterday"),
            &p
        ));
        let mut both = with(header::IF_MODIFIED_SINCE, at);
        both.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert!(!not_modified(&both, &p), "If-None-Match wins");
    }
}
