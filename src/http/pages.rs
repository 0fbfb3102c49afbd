//! The public HTML pages, from `web-templates/` (compiled in, HTML-escaped by default).

use anyhow::Result;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

pub struct Pages {
    env: Environment<'static>,
}

/// Which message the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// The unsubscribe page's question.
    Confirm,
    Unsubscribed,
    Resubscribed,
    Closed,
    /// A bad unsubscribe token.
    Invalid,
    /// The subscribe form.
    Subscribe,
    /// After a subscribe request, whatever the address: see `http::subscribe`.
    CheckInbox,
    /// The confirmation link's page, with its button.
    ConfirmSubscription,
    /// Confirmed (or already active).
    Subscribed,
    /// A genuine confirmation link past its time, or from before an unsubscribe.
    ConfirmExpired,
    /// A bad confirmation token.
    ConfirmInvalid,
    /// A bad or unknown click-count link (`/c/…`).
    LinkInvalid,
}

impl PageState {
    fn name_and_title(self) -> (&'static str, &'static str) {
        match self {
            Self::Confirm => ("confirm", "Unsubscribe"),
            Self::Unsubscribed => ("unsubscribed", "You are unsubscribed"),
            Self::Resubscribed => ("resubscribed", "You are subscribed again"),
            Self::Closed => ("closed", "You are not on the list"),
            Self::Invalid => ("invalid", "This link is not valid"),
            Self::Subscribe => ("subscribe", "Subscribe"),
            Self::CheckInbox => ("check-inbox", "Check your inbox"),
            Self::ConfirmSubscription => ("confirm-subscription", "Confirm your subscription"),
            Self::Subscribed => ("subscribed", "You are subscribed"),
            Self::ConfirmExpired => ("confirm-expired", "This link has expired"),
            Self::ConfirmInvalid => ("confirm-invalid", "This link is not valid"),
            Self::LinkInvalid => ("link-invalid", "This link is not valid"),
        }
    }
}

impl Pages {
    pub fn new() -> Result<Self> {
        let mut env = Environment::new();
        env.add_template("page.html", include_str!("../../web-templates/page.html"))?;
        Ok(Self { env })
    }

    pub fn render(
        &self,
        status: StatusCode,
        state: PageState,
        newsletter: &str,
        masked: &str,
    ) -> Response {
        self.render_form(status, state, newsletter, masked, &FormView::default())
    }

    /// A page that may carry the subscribe form's values and its error.
    pub fn render_form(
        &self,
        status: StatusCode,
        state: PageState,
        newsletter: &str,
        masked: &str,
        form: &FormView,
    ) -> Response {
        let (name, title) = state.name_and_title();
        let vars = PageVars {
            state: name,
            title,
            newsletter,
            masked,
            form,
            valid_days: crate::optin::LINK_VALID.whole_days(),
        };
        let html = self
            .env
            .get_template("page.html")
            .and_then(|t| t.render(minijinja::value::Serde(&vars)));
        match html {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "rendering page");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// What the subscribe form shows again after a refused submission (escaped on output).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FormView {
    pub email: String,
    pub name: String,
    pub error: String,
}

#[derive(Serialize)]
struct PageVars<'a> {
    state: &'a str,
    title: &'a str,
    newsletter: &'a str,
    masked: &'a str,
    form: &'a FormView,
    valid_days: i64,
}

/// `k•••@example.org`: enough for the owner to recognise, too little to harvest.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}\u{2022}\u{2022}\u{2022}@{domain}")
        }
        None => "\u{2022}\u{2022}\u{2022}".to_string(),
    }
}

/// The answer of a public page whose database work failed: 503 with Retry-After when the
/// database is only busy, 500 otherwise; the details go to the log, never to the page.
pub(super) fn failure(e: crate::db::Error, what: &str) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    if let crate::db::Error::Unavailable(e) = &e {
        tracing::warn!(error = %e, "{what} request: database unavailable");
        let mut response = (
            StatusCode::SERVICE_UNAVAILABLE,
            "We are busy right now; please try again in a moment.\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    tracing::error!(error = format!("{e:#}"), "{what} request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side; please try again.\n",
    )
        .into_response()
}
