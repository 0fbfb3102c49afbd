//! Item links: does each answer? HEAD first (GET where the server refuses HEAD with 405 or
//! 501), redirects followed here, up to [`MAX_REDIRECTS`], so that a hop to another host
//! can be reported; checked concurrently with a cap, each request with a timeout.
//!
//! Severities: a 4xx/5xx answer, too many redirects or a URL that is not one is an error
//! (the reader gets a broken page); a timeout or a failed connection is a warning, since
//! from the sending host a site that is down looks like a network here that is; a redirect
//! to another host and an http link are warnings.

use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use serde::Serialize;
use url::Url;

use super::report::{Finding, Severity};
use crate::domain::Issue;
use crate::transport::error_chain;

pub const MAX_REDIRECTS: usize = 5;

/// One item's link to check.
#[derive(Debug, Clone)]
pub struct LinkItem {
    /// "Section / Title".
    pub label: String,
    pub url: String,
}

/// What checking one link found.
#[derive(Debug, Clone, Serialize)]
pub struct LinkCheck {
    pub label: String,
    pub url: String,
    /// The last answer's status, if any came.
    pub status: Option<u16>,
    /// Where the redirects ended, when they did.
    pub final_url: Option<String>,
    pub problems: Vec<(Severity, String)>,
}

pub fn link_items(issue: &Issue) -> Vec<LinkItem> {
    issue
        .sections
        .iter()
        .flat_map(|s| {
            s.items.iter().filter_map(move |i| {
                i.url.as_ref().map(|url| LinkItem {
                    label: format!("{} / {}", s.name, i.title),
                    url: url.clone(),
                })
            })
        })
        .collect()
}

/// A client for link checks, apart from the webhooks' https-only one: it must reach http
/// links (to report them) and must not follow redirects itself (to see where they go).
fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("mailroom-link-check/", env!("CARGO_PKG_VERSION")))
        .tls_built_in_root_certs(true)
        .build()
}

/// Checks `items`, at most `concurrency` at once, in their order.
pub async fn check_links(
    items: &[LinkItem],
    timeout: Duration,
    concurrency: usize,
) -> Vec<LinkCheck> {
    let client = match client(timeout) {
        Ok(c) => c,
        Err(e) => {
            return items
                .iter()
                .map(|i| LinkCheck {
                    label: i.label.clone(),
                    url: i.url.clone(),
                    status: None,
                    final_url: None,
                    problems: vec![(Severity::Warning, format!("no HTTP client: {e}"))],
                })
                .collect();
        }
    };
    // Owned items and client per future: a future borrowing from the closure's argument
    // would not be `Send` for every lifetime, which axum's handlers need.
    futures_util::stream::iter(items.to_vec())
        .map(move |item| {
            let client = client.clone();
            async move { check_one(&client, &item, timeout).await }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

async fn check_one(client: &reqwest::Client, item: &LinkItem, timeout: Duration) -> LinkCheck {
    let mut check = LinkCheck {
        label: item.label.clone(),
        url: item.url.clone(),
        status: None,
        final_url: None,
        problems: Vec::new(),
    };
    let mut url = match Url::parse(&item.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        // An address, not a page: nothing to fetch.
        Ok(u) if u.scheme() == "mailto" => return check,
        Ok(u) => {
            check.problems.push((
                Severity::Error,
                format!("not a web link (scheme {})", u.scheme()),
            ));
            return check;
        }
        Err(e) => {
            check
                .problems
                .push((Severity::Error, format!("not a URL: {e}")));
            return check;
        }
    };
    let first_host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let mut hops = 0;
    let mut was_http = false;
    loop {
        // Said once per change to http, not at every hop of a chain.
        if url.scheme() == "http" && !was_http {
            let what = if hops == 0 {
                "http link: readers' browsers warn, and the link can be altered on the way; use https".to_string()
            } else {
                format!("redirects to an http address: {url}")
            };
            check.problems.push((Severity::Warning, what));
        }
        was_http = url.scheme() == "http";
        let status = match fetch(client, &url).await {
            Ok(s) => s,
            Err(e) => {
                let what = if e.is_timeout() {
                    format!("no answer within {} s", timeout.as_secs())
                } else {
                    format!("could not be reached: {}", error_chain(&e))
                };
                check.problems.push((Severity::Warning, what));
                return check;
            }
        };
        check.status = Some(status.0.as_u16());
        let (code, location) = status;
        if code.is_redirection() {
            let Some(next) = location.and_then(|l| url.join(&l).ok()) else {
                check
                    .problems
                    .push((Severity::Error, format!("{code} without a usable Location")));
                return check;
            };
            hops += 1;
            if hops > MAX_REDIRECTS {
                check.problems.push((
                    Severity::Error,
                    format!("more than {MAX_REDIRECTS} redirects"),
                ));
                return check;
            }
            let host = next.host_str().unwrap_or_default().to_ascii_lowercase();
            if host != first_host {
                check.problems.push((
                    Severity::Warning,
                    format!("redirects to another host: {next}"),
                ));
            }
            url = next;
            continue;
        }
        if hops > 0 {
            check.final_url = Some(url.to_string());
        }
        if code.is_client_error() || code.is_server_error() {
            check
                .problems
                .push((Severity::Error, format!("answers {code}")));
        }
        return check;
    }
}

/// One request: HEAD, or GET where HEAD is refused. The status and any Location.
async fn fetch(
    client: &reqwest::Client,
    url: &Url,
) -> reqwest::Result<(StatusCode, Option<String>)> {
    let mut response = client.head(url.clone()).send().await?;
    if matches!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
    ) {
        response = client.get(url.clone()).send().await?;
    }
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((response.status(), location))
}

pub fn findings(results: &[LinkCheck]) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in results {
        if r.problems.is_empty() && r.status.is_none() {
            out.push(
                Finding::ok("link", "a mailto: link, not fetched")
                    .for_item(r.label.clone(), Some(r.url.clone())),
            );
        } else if r.status.is_some() && r.problems.iter().all(|(s, _)| *s != Severity::Error) {
            // Fetched and answering: say so beside any warning (an http link still answers).
            let status = r.status.map(|s| s.to_string()).unwrap_or_default();
            let via = r
                .final_url
                .as_ref()
                .map(|u| format!(" (via {u})"))
                .unwrap_or_default();
            out.push(
                Finding::ok("link", format!("answers {status}{via}"))
                    .for_item(r.label.clone(), Some(r.url.clone())),
            );
        }
        for (severity, message) in &r.problems {
            out.push(
                Finding::new("link", *severity, message.clone())
                    .for_item(r.label.clone(), Some(r.url.clone())),
            );
        }
    }
    if results.is_empty() {
        out.push(Finding::ok("link", "no item has a link"));
    }
    out
}
