//! The HTTP surface served by `mailroom serve`: public pages (unsubscribe) and health.

mod pages;
mod unsubscribe;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::config::HttpSettings;
use crate::db::Db;
use crate::token::TokenKeys;

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
}

impl AppState {
    pub fn new(
        db: Db,
        keys: TokenKeys,
        newsletter: &str,
        http: &HttpSettings,
    ) -> anyhow::Result<Self> {
        let rate = NonZeroU32::new(http.public_rate_per_second)
            .ok_or_else(|| anyhow::anyhow!("http.public_rate_per_second must be at least 1"))?;
        let burst = NonZeroU32::new(http.public_burst.max(1)).expect("max(1) is non-zero");
        Ok(Self {
            db,
            keys,
            newsletter: newsletter.to_string(),
            pages: Arc::new(Pages::new()?),
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
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(health))
        .merge(public)
        .with_state(state)
}

/// Per-client-IP limit on the public endpoints; 429 with Retry-After past it.
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let verdict = ip.map(|ip| state.limiter.check_key(&ip));
    if let Some(Err(not_until)) = verdict {
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
        return response;
    }
    next.run(request).await
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
