//! The operator's dashboard under `/admin`: server-rendered pages (minijinja templates in
//! `web-templates/dashboard/`, charts drawn as SVG on the server), a small script of our
//! own for live progress, and nothing else.
//!
//! Operators sign in with a name and password (`mailroom operators add`); the session
//! cookie carries a random token whose SHA-256 names the session in the database. Every
//! form carries the session's CSRF token and every POST is checked against it before
//! anything else happens; a refusal is a 403 page. Changes go through the same library
//! functions as the CLI and the admin API, with `dashboard` as their source in the event
//! log.

mod auth;
mod bounces;
mod issues;
mod overview;
mod sends;
mod setup;
mod subscribers;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use minijinja::{AutoEscape, Environment, Value, context};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::config::Settings;
use crate::db::operators::Session;
use crate::message::MessageFactory;

/// The session cookie; its path keeps it to the dashboard.
const SESSION_COOKIE: &str = "mailroom_session";
/// The sign-in form's own cookie, whose derived token the form carries (login CSRF).
const SIGN_IN_COOKIE: &str = "mailroom_sign_in";
/// Forms are small; the CSV upload has a limit of its own.
const FORM_LIMIT: usize = 64 * 1024;
/// A CSV upload: a list of a million addresses with a few columns is about 50 MB.
const UPLOAD_LIMIT: usize = 256 * 1024 * 1024;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../web-templates/dashboard/layout.html"),
    ),
    (
        "sign-in.html",
        include_str!("../../../web-templates/dashboard/sign-in.html"),
    ),
    (
        "message.html",
        include_str!("../../../web-templates/dashboard/message.html"),
    ),
    (
        "overview.html",
        include_str!("../../../web-templates/dashboard/overview.html"),
    ),
    (
        "issues.html",
        include_str!("../../../web-templates/dashboard/issues.html"),
    ),
    (
        "issue.html",
        include_str!("../../../web-templates/dashboard/issue.html"),
    ),
    (
        "send.html",
        include_str!("../../../web-templates/dashboard/send.html"),
    ),
    (
        "subscribers.html",
        include_str!("../../../web-templates/dashboard/subscribers.html"),
    ),
    (
        "subscriber.html",
        include_str!("../../../web-templates/dashboard/subscriber.html"),
    ),
    (
        "import.html",
        include_str!("../../../web-templates/dashboard/import.html"),
    ),
    (
        "bounces.html",
        include_str!("../../../web-templates/dashboard/bounces.html"),
    ),
    (
        "setup.html",
        include_str!("../../../web-templates/dashboard/setup.html"),
    ),
];

const CSS: &str = include_str!("../../../web-templates/dashboard/dashboard.css");
const JS: &str = include_str!("../../../web-templates/dashboard/dashboard.js");

/// Pages may load our stylesheet and script and frame our own previews; nothing inline
/// runs, nothing else loads, and nobody frames them.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's templates, limiters and what its pages need beyond `AppState`.
pub struct Dashboard {
    env: Environment<'static>,
    /// Sign-in attempts per client IP and per operator name.
    ip_limiter: DefaultKeyedRateLimiter<IpAddr>,
    account_limiter: DefaultKeyedRateLimiter<String>,
    session_lifetime: time::Duration,
    /// `Secure` on the cookies: the dashboard is reached over https.
    secure_cookies: bool,
    /// Builds previews exactly as the worker builds messages.
    factory: MessageFactory,
}

impl Dashboard {
    pub fn new(settings: &Settings, factory: MessageFactory) -> anyhow::Result<Self> {
        let d = &settings.dashboard;
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // minijinja's HTML escaping also writes `/` as `&#x2f;`, which garbles the paths
        // and diagnostics an operator reads; `&<>"'` is what HTML needs.
        env.set_formatter(|out, state, value| {
            if value.is_safe() || value.is_undefined() || value.is_none() {
                return minijinja::escape_formatter(out, state, value);
            }
            let text = match value.as_str() {
                Some(s) => crate::archive::feeds::escape(s),
                None => crate::archive::feeds::escape(&value.to_string()),
            };
            out.write_str(&text).map_err(minijinja::Error::from)
        });
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()?,
        );
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("web template dashboard/{name}: {e}"))?;
        }
        let quota = |n: u32| {
            let n = NonZeroU32::new(n.max(1)).expect("max(1) is non-zero");
            let period = Duration::from_secs(d.sign_in_window_seconds.max(1)) / n.get();
            Quota::with_period(period.max(Duration::from_millis(1)))
                .expect("a non-zero period")
                .allow_burst(n)
        };
        Ok(Self {
            env,
            ip_limiter: RateLimiter::keyed(quota(d.sign_in_per_ip)),
            account_limiter: RateLimiter::keyed(quota(d.sign_in_per_account)),
            session_lifetime: time::Duration::hours(i64::from(d.session_hours)),
            secure_cookies: settings.newsletter.base_url.starts_with("https://"),
            factory,
        })
    }

    /// Forgets clients and names not seen for a while, so the limiters' memory stays bounded.
    pub fn prune(&self) {
        self.ip_limiter.retain_recent();
        self.account_limiter.retain_recent();
    }

    fn render(&self, status: StatusCode, template: &str, ctx: Value) -> Response {
        match self.env.get_template(template).and_then(|t| t.render(ctx)) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    template,
                    "rendering a dashboard page"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }

    /// A cookie for the dashboard's paths, HttpOnly and SameSite=Strict; `None` removes it.
    fn cookie(&self, name: &str, value: Option<&str>, max_age: i64) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let (value, max_age) = match value {
            Some(v) => (v, max_age),
            None => ("", 0),
        };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/admin; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("cookie values are base64url")
    }
}

/// The signed-in operator, put into the request by [`require_operator`].
#[derive(Clone)]
pub struct Operator {
    pub session: Session,
    /// The cookie's token: the CSRF token derives from it.
    token: String,
}

impl Operator {
    fn csrf(&self) -> String {
        crate::operators::csrf_token(&self.token)
    }
}

/// What every signed-in page's template gets, merged with the page's own values.
fn page(op: &Operator, state: &AppState, nav: &str, title: &str, extra: Value) -> Value {
    context! {
        operator => op.session.operator.clone(),
        csrf => op.csrf(),
        nav => nav,
        title => title,
        newsletter => state.newsletter.clone(),
        ..extra
    }
}

fn dashboard(state: &AppState) -> &Dashboard {
    state
        .dashboard
        .as_deref()
        .expect("dashboard routes exist only when it is enabled")
}

pub fn routes(state: &AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/admin", get(overview::show))
        .route("/admin/", get(|| async { Redirect::to("/admin") }))
        .route("/admin/sign-out", post(auth::sign_out))
        .route("/admin/issues", get(issues::list))
        .route("/admin/issues/{number}", get(issues::show))
        .route("/admin/issues/{number}/preview", get(issues::preview))
        .route("/admin/issues/{number}/check", get(issues::check))
        .route("/admin/issues/{number}/finalize", post(issues::finalize))
        .route("/admin/issues/{number}/send", post(issues::send))
        .route("/admin/sends/{number}", get(sends::show))
        .route("/admin/sends/{number}/progress.json", get(sends::progress))
        .route("/admin/sends/{number}/{action}", post(sends::control))
        .route("/admin/subscribers", get(subscribers::list))
        .route("/admin/subscribers/export.csv", get(subscribers::export))
        .route(
            "/admin/subscribers/import",
            get(subscribers::import_form)
                .post(subscribers::import)
                .layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/admin/subscribers/{id}", get(subscribers::show))
        .route(
            "/admin/subscribers/{id}/{action}",
            post(subscribers::change),
        )
        .route("/admin/bounces", get(bounces::show))
        .route("/admin/setup", get(setup::show))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_operator,
        ));
    Router::new()
        .route("/admin/sign-in", get(auth::form).post(auth::sign_in))
        .route("/admin/static/dashboard.css", get(css))
        .route("/admin/static/dashboard.js", get(js))
        .merge(signed_in)
        .layer(DefaultBodyLimit::max(FORM_LIMIT))
        .layer(middleware::from_fn(headers))
}

/// Security headers for every dashboard response; a response that set its own CSP (the
/// preview, which must be framed by our own page) keeps it.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    static_file("text/javascript; charset=utf-8", JS)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// The value of cookie `name`, if the request has it.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Lets a request through only with a live session: pages send a browser without one to
/// the sign-in page, anything else is refused.
async fn require_operator(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = cookie_value(request.headers(), SESSION_COOKIE)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map(str::to_string);
    let session = match &token {
        Some(token) => {
            match state
                .db
                .session(&crate::operators::token_sha256(token))
                .await
            {
                Ok(session) => session,
                Err(e) => return super::pages::failure(e, "dashboard"),
            }
        }
        None => None,
    };
    let (Some(session), Some(token)) = (session, token) else {
        if matches!(*request.method(), Method::GET | Method::HEAD) {
            let next = request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/admin");
            let target = format!(
                "/admin/sign-in?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return Redirect::to(&target).into_response();
        }
        return refused(
            &state,
            "You are not signed in (or your session ended). Sign in and try again.",
        );
    };
    request.extensions_mut().insert(Operator { session, token });
    next.run(request).await
}

/// A 403 page: a missing or wrong CSRF token, or no session.
fn refused(state: &AppState, why: &str) -> Response {
    dashboard(state).render(
        StatusCode::FORBIDDEN,
        "message.html",
        context! { title => "Refused", message => why, signed_out => true },
    )
}

/// A message page for a signed-in operator: an error, or what could not be done.
fn message(
    state: &AppState,
    op: &Operator,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    dashboard(state).render(
        status,
        "message.html",
        page(op, state, "", title, context! { message => text }),
    )
}

/// A failed database call as a page: busy (503), not found (404), conflict (409),
/// invalid (422), or ours (500, details only in the log).
fn db_failure(state: &AppState, op: &Operator, e: crate::db::Error) -> Response {
    use crate::db::Error;
    let (status, text) = match e {
        Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
        Error::Conflict(m) => (StatusCode::CONFLICT, m),
        Error::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        Error::Unavailable(e) => {
            tracing::warn!(error = %e, "dashboard request: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is busy; try again in a moment.".to_string(),
            )
        }
        Error::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "dashboard request failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side; the log has the details.".to_string(),
            )
        }
    };
    message(state, op, status, "That did not work", &text)
}

/// A urlencoded form whose `csrf` field matched the session's token. The check comes
/// before the form is read any further, so a forged request changes nothing and is
/// answered with 403.
pub struct CsrfForm<T>(pub Operator, pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(op) = request.extensions().get::<Operator>().cloned() else {
            return Err(refused(state, "You are not signed in."));
        };
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let presented = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !crate::operators::csrf_matches(&op.token, &presented) {
            return Err(refused(
                state,
                "This form's security token is missing or out of date (forms expire when you sign out). Go back, reload the page and try again.",
            ));
        }
        match serde_urlencoded::from_bytes::<T>(&body) {
            Ok(form) => Ok(Self(op, form)),
            Err(e) => Err(message(
                state,
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                "That form was not complete",
                &e.to_string(),
            )),
        }
    }
}

/// Forms that carry nothing but their token.
#[derive(serde::Deserialize)]
pub struct Empty {}

/// 303 See Other: after a POST, the browser GETs the page.
fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// Creates the dashboard's part of `AppState`, or none when it is disabled.
pub fn build(
    settings: &Settings,
    factory: MessageFactory,
) -> anyhow::Result<Option<Arc<Dashboard>>> {
    if !settings.dashboard.enabled {
        return Ok(None);
    }
    Ok(Some(Arc::new(Dashboard::new(settings, factory)?)))
}
