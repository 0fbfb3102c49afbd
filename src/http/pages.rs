//! The public HTML pages, from `web-templates/` (compiled in, HTML-escaped by default).

use anyhow::Result;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};

pub struct Pages {
    env: Environment<'static>,
}

/// Which message the unsubscribe page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    Confirm,
    Unsubscribed,
    Resubscribed,
    Closed,
    Invalid,
}

impl PageState {
    fn name_and_title(self) -> (&'static str, &'static str) {
        match self {
            Self::Confirm => ("confirm", "Unsubscribe"),
            Self::Unsubscribed => ("unsubscribed", "You are unsubscribed"),
            Self::Resubscribed => ("resubscribed", "You are subscribed again"),
            Self::Closed => ("closed", "You are not on the list"),
            Self::Invalid => ("invalid", "This link is not valid"),
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
        let (name, title) = state.name_and_title();
        let html = self
            .env
            .get_template("page.html")
            .and_then(|t| t.render(context! { state => name, title, newsletter, masked }));
        match html {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "rendering page");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
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
