//! The HTTP surface served by `mailroom serve`: public pages (unsubscribe, subscribe and
//! its confirmation), ESP webhooks, health, and the admin API.

mod admin;
mod admin_subscribers;
mod api;
mod archive;
mod clicks;
mod client_ip;
mod dashboard;
mod pages;
mod subscribe;
mod unsubscribe;
mod webhooks;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::archive::Archive;
use crate::clicks::Clicks;
use crate::config::Settings;
use crate::db::Db;
use crate::message::MessageFactory;
use crate::metrics::Metrics;
use crate::optin::Confirmations;
use crate::token::TokenKeys;
use crate::webhooks::Webhooks;

pub use pages::Pages;

/// Public forms are a few hundred bytes; anything near this is not a browser or mail client.
const PUBLIC_BODY_LIMIT: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub keys: TokenKeys,
    pub newsletter: String,
    pub pages: Arc<Pages>,
    pub limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Reads the client's address behind trusted reverse proxies.
    client_address: Arc<client_ip::ClientAddress>,
    pub metrics: Arc<Metrics>,
    /// Sends double opt-in confirmations in the background.
    pub optin: Arc<Confirmations>,
    /// The configured ESP webhooks.
    pub webhooks: Arc<Webhooks>,
    /// SHA-256 of the admin token; `None` when the admin endpoints are disabled.
    admin_token: Option<[u8; 32]>,
    webhook_body_limit: usize,
    /// The one soft-bounce policy, shared with returned mail and the worker.
    pub bounce_policy: crate::domain::Policy,
    /// What handlers check against the configuration (e.g. a send's unsubscribe links).
    pub settings: Arc<Settings>,
    /// The public archive's pages and feeds; `None` when `archive.enabled` is false.
    pub archive: Option<Arc<Archive>>,
    /// The operator's dashboard under /admin; `None` when `dashboard.enabled` is false.
    pub dashboard: Option<Arc<dashboard::Dashboard>>,
    /// Follows and counts `/c/` links.
    pub clicks: Arc<Clicks>,
    /// Builds messages as the worker does, for `issue check` before a send.
    pub factory: Arc<MessageFactory>,
}

impl AppState {
    /// The handlers' shared state, from the parts `startup` opened: the database, the
    /// token keys, the metrics registry and the opt-in sender.
    pub fn new(
        settings: &Settings,
        db: Db,
        keys: TokenKeys,
        metrics: Arc<Metrics>,
        optin: Arc<Confirmations>,
        factory: MessageFactory,
    ) -> anyhow::Result<Self> {
        let http = &settings.http;
        let token = &settings.admin.token;
        let rate = NonZeroU32::new(http.public_rate_per_second)
            .ok_or_else(|| anyhow::anyhow!("http.public_rate_per_second must be at least 1"))?;
        let burst = NonZeroU32::new(http.public_burst.max(1)).expect("max(1) is non-zero");
        let archive = if settings.archive.enabled {
            Some(Arc::new(Archive::new(settings, db.clone())?))
        } else {
            None
        };
        Ok(Self {
            clicks: Arc::new(Clicks::new(db.clone(), &settings.analytics)),
            db,
            webhooks: Arc::new(Webhooks::new(&settings.webhooks, keys.clone())?),
            keys,
            newsletter: settings.newsletter.name.clone(),
            metrics,
            optin,
            admin_token: (!token.is_empty())
                .then(|| Sha256::digest(token.expose().as_bytes()).into()),
            webhook_body_limit: settings.webhooks.max_body_bytes,
            bounce_policy: crate::domain::Policy::from(&settings.bounces),
            settings: Arc::new(settings.clone()),
            archive,
            factory: Arc::new(factory.clone()),
            dashboard: dashboard::build(settings, factory)?,
            pages: Arc::new(Pages::new()?),
            client_address: Arc::new(client_ip::ClientAddress::new(http)),
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
        })
    }
}

pub fn router(state: AppState) -> Router {
    let public = Router::new()
        .route(
            "/u/{token}",
            get(unsubscribe::show).post(unsubscribe::submit),
        )
        .route("/subscribe", get(subscribe::form).post(subscribe::submit))
        .route(
            "/confirm/{token}",
            get(subscribe::show).post(subscribe::confirm),
        )
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT));
    // Served even when analytics.clicks is off: links already in inboxes keep working.
    // Not behind `rate_limit`: a reader's click always goes through (see `clicks::follow`).
    let clicks = Router::new()
        .route("/c/{token}", get(clicks::follow))
        .layer(middleware::from_fn(security_headers));
    // Under a per-IP limit of their own, more generous than the public pages' (relays post
    // from a few addresses in bursts); every request is authenticated before it reaches the
    // database.
    let webhooks = Router::new()
        .route("/webhooks/{provider}", post(webhooks::receive))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            webhook_rate_limit,
        ))
        .layer(DefaultBodyLimit::max(state.webhook_body_limit));
    let admin = Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/api/issues",
            get(admin::list_issues).post(admin::import_issue),
        )
        .route("/api/issues/{number}", get(admin::get_issue))
        .route("/api/issues/{number}/clicks", get(admin::issue_clicks))
        .route("/api/issues/{number}/check", get(admin::check_issue))
        .route("/api/doctor", get(admin::doctor))
        .route("/api/issues/{number}/finalize", post(admin::finalize_issue))
        .route("/api/issues/{number}/send", post(admin::send_issue))
        .route("/api/sends/{number}", get(admin::send_progress))
        .route("/api/sends/{number}/{action}", post(admin::control_send))
        .route(
            "/api/subscribers",
            get(admin_subscribers::list).post(admin_subscribers::add),
        )
        .route("/api/subscribers/stats", get(admin_subscribers::stats))
        .route(
            "/api/subscribers/{id}",
            get(admin_subscribers::get)
                .patch(admin_subscribers::update)
                .delete(admin_subscribers::remove),
        )
        .layer(DefaultBodyLimit::max(crate::issue_file::MAX_FILE_BYTES))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin));
    // Read-only and cached, with headers of their own: see `archive::headers`.
    let mut archive = Router::new();
    if state.archive.is_some() {
        archive = archive
            .route("/archive", get(archive::index))
            .route("/archive/", get(archive::index_slash))
            .route("/archive/page/{n}", get(archive::index_page))
            .route("/archive/sitemap.xml", get(archive::sitemap))
            .route("/archive/{number}", get(archive::issue))
            .route("/archive/{number}/", get(archive::issue_slash))
            .route("/feed.xml", get(archive::rss))
            .route("/atom.xml", get(archive::atom))
            .route("/feed.json", get(archive::json_feed))
            .layer(middleware::from_fn(archive::headers));
    }
    let admin_pages = match state.dashboard {
        Some(_) => dashboard::routes(&state),
        None => Router::new(),
    };
    Router::new()
        .route("/healthz", get(health))
        .merge(admin_pages)
        .merge(public)
        .merge(clicks)
        .merge(archive)
        .merge(webhooks)
        .merge(admin)
        .with_state(state)
}

/// The client's IP, when the server was started with connect info (as `serve` is): the
/// peer's address, or behind a trusted reverse proxy the client's address it forwarded.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(state, &parts.extensions, &parts.headers)))
    }
}

fn client_ip(
    state: &AppState,
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| state.client_address.of(addr.ip(), headers))
}

/// Per-client-IP limit on the public endpoints; 429 with Retry-After past it.
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = client_ip(&state, request.extensions(), request.headers());
    match over_limit(&state.limiter, ip) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

/// The webhooks' own per-client-IP limit (`webhooks.rate_per_second`, `webhooks.burst`).
async fn webhook_rate_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&state, request.extensions(), request.headers());
    match over_limit(state.webhooks.limiter(), ip) {
        Some(response) => response,
        None => next.run(request).await,
    }
}

/// 429 with Retry-After when `ip` is past `limiter`'s quota.
pub(crate) fn over_limit<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    ip: Option<K>,
) -> Option<Response> {
    if let Some(Err(not_until)) = ip.map(|ip| limiter.check_key(&ip)) {
        let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
        let seconds = not_until.wait_time_from(now).as_secs().max(1).to_string();
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests; try again shortly.\n",
        )
            .into_response();
        let retry_after = HeaderValue::from_str(&seconds).expect("digits are a valid header value");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after);
        return Some(response);
    }
    None
}

/// `Authorization: Bearer TOKEN` or 401, before any handler runs. Digests are compared in
/// constant time so the response time says nothing about the token.
async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| -> [u8; 32] { Sha256::digest(t.trim().as_bytes()).into() });
    let allowed = match (state.admin_token, presented) {
        (Some(expected), Some(given)) => bool::from(expected.ct_eq(&given)),
        _ => false,
    };
    if !allowed {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            "A valid admin bearer token is required.\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// Prometheus scrape endpoint (admin token required).
async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render(&state.db).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "rendering metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Pages carrying tokens must not leak them (Referer), be framed, cached or run scripts.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Liveness and database reachability, for load balancers and `curl`.
async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(state.db.pool())
        .await
    {
        Ok(_) => (StatusCode::OK, Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "database unavailable" })),
            )
        }
    }
}
