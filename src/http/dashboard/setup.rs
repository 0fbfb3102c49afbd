//! The sending setup: `mailroom doctor`'s checks (SPF, DKIM, DMARC, MX, base_url, relays)
//! run when the page is opened, worst first.

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use minijinja::value::Serde;

use super::{Operator, dashboard, message, page};
use crate::http::AppState;

pub async fn show(State(state): State<AppState>, Extension(op): Extension<Operator>) -> Response {
    let mut report = match crate::doctor::run(&state.settings).await {
        Ok(report) => report,
        Err(e) => {
            return message(
                &state,
                &op,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The sending setup could not be checked",
                &format!("{e:#}"),
            );
        }
    };
    report.checks.sort_by_key(|c| std::cmp::Reverse(c.status));
    dashboard(&state).render(
        StatusCode::OK,
        "setup.html",
        page(
            &op,
            &state,
            "setup",
            "Sending setup",
            context! { report => Serde(&report) },
        ),
    )
}
