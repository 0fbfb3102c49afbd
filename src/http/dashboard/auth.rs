//! Signing in and out.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;

use super::{
    CsrfForm, SESSION_COOKIE, SIGN_IN_COOKIE, cookie_value, dashboard, refused, see_other,
};
use crate::http::{AppState, ClientIp, over_limit};

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Only our own dashboard pages: never another site, never `//host`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/admin") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/admin",
    }
}

/// GET /admin/sign-in: the form, with a fresh sign-in cookie whose token it carries.
pub async fn form(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    let notice = match q.signed_out.as_deref() {
        Some("everywhere") => "You are signed out on every device.",
        Some(_) => "You are signed out.",
        None => "",
    };
    render_form(
        &state,
        StatusCode::OK,
        safe_next(q.next.as_deref()),
        "",
        notice,
    )
}

/// The form; `note` is an error after a refused sign-in (401) or a notice otherwise.
fn render_form(
    state: &AppState,
    status: StatusCode,
    next: &str,
    name: &str,
    note: &str,
) -> Response {
    let d = dashboard(state);
    let secret = crate::operators::new_session().token;
    let mut response = d.render(
        status,
        "sign-in.html",
        context! {
            title => "Sign in",
            newsletter => state.newsletter.clone(),
            csrf => crate::operators::csrf_token(&secret),
            next => next,
            name => name,
            error => if status == StatusCode::OK { "" } else { note },
            notice => if status == StatusCode::OK { note } else { "" },
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        d.cookie(SIGN_IN_COOKIE, Some(&secret), 3600),
    );
    response
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

/// POST /admin/sign-in: the sign-in cookie's token, the rate limits, then the password.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let d = dashboard(&state);
    let Ok(form) = serde_urlencoded::from_bytes::<SignIn>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a sign-in form\n").into_response();
    };
    let secret = cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if secret.is_empty() || !crate::operators::csrf_matches(secret, &form.csrf) {
        return refused(
            &state,
            "This sign-in form's security token is missing or out of date. Reload the sign-in page and try again.",
        );
    }
    if let Some(limited) = over_limit(&d.ip_limiter, ip) {
        return limited;
    }
    let name = form.name.trim();
    let key: String = name.to_lowercase().chars().take(64).collect();
    if let Some(limited) = over_limit(&d.account_limiter, Some(key)) {
        return limited;
    }
    let next = safe_next(form.next.as_deref()).to_string();
    let ip_text = ip.map(|ip| ip.to_string());
    let operator =
        match crate::operators::check_sign_in(&state.db, name, &form.password, ip_text.as_deref())
            .await
        {
            Ok(found) => found,
            Err(e) => return crate::http::pages::failure(e, "sign-in"),
        };
    let Some(operator_id) = operator else {
        return render_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            name,
            "Wrong name or password.",
        );
    };
    let session = crate::operators::new_session();
    let expires = time::OffsetDateTime::now_utc() + d.session_lifetime;
    if let Err(e) = state
        .db
        .create_session(
            operator_id,
            &session.token_sha256,
            &crate::db::timestamp(expires),
            ip_text.as_deref(),
        )
        .await
    {
        return crate::http::pages::failure(e, "sign-in");
    }
    let mut response = see_other(&next);
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        d.cookie(
            SESSION_COOKIE,
            Some(&session.token),
            d.session_lifetime.whole_seconds(),
        ),
    );
    h.append(header::SET_COOKIE, d.cookie(SIGN_IN_COOKIE, None, 0));
    response
}

#[derive(Deserialize)]
pub struct SignOut {
    /// `everywhere` ends every session of the operator.
    #[serde(default)]
    scope: String,
}

/// POST /admin/sign-out: this session, or (`scope=everywhere`) all of the operator's.
pub async fn sign_out(
    State(state): State<AppState>,
    CsrfForm(op, form): CsrfForm<SignOut>,
) -> Response {
    let everywhere = form.scope == "everywhere";
    if let Err(e) = state.db.end_sessions(&op.session, everywhere).await {
        return super::db_failure(&state, &op, e);
    }
    let target = if everywhere {
        "/admin/sign-in?signed_out=everywhere"
    } else {
        "/admin/sign-in?signed_out=1"
    };
    let mut response = see_other(target);
    response.headers_mut().append(
        header::SET_COOKIE,
        dashboard(&state).cookie(SESSION_COOKIE, None, 0),
    );
    response
}
