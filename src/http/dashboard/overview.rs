//! The overview: the list by status, its growth over 90 days, the latest sends.

use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Serialize;
use time::OffsetDateTime;

use super::{Operator, dashboard, db_failure, page};
use crate::charts::{Chart, Kind, Series};
use crate::db::dashboard::SendSummary;
use crate::http::AppState;

const GROWTH_DAYS: i64 = 90;
const RECENT_SENDS: u32 = 10;

/// A send's outcomes as shares of its messages sent.
#[derive(Serialize)]
pub struct SendRow {
    #[serde(flatten)]
    pub send: SendSummary,
    pub delivered_rate: String,
    pub bounced_rate: String,
    pub complained_rate: String,
    pub unsubscribed_rate: String,
}

impl From<SendSummary> for SendRow {
    fn from(send: SendSummary) -> Self {
        let attempted = send.sent + send.failed;
        let rate = |n: i64| percent(n, attempted);
        Self {
            delivered_rate: rate(send.sent - send.hard_bounces.min(send.sent)),
            bounced_rate: rate(send.hard_bounces + send.soft_bounces),
            complained_rate: rate(send.complaints),
            unsubscribed_rate: rate(send.unsubscribed),
            send,
        }
    }
}

/// `n` of `of` as a percentage with one decimal, or a dash when nothing was attempted.
pub fn percent(n: i64, of: i64) -> String {
    if of <= 0 {
        return "–".into();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

/// The last `days` days (UTC), oldest first, as `YYYY-MM-DD`.
pub fn last_days(days: i64) -> Vec<String> {
    let today = OffsetDateTime::now_utc().date();
    (0..days)
        .rev()
        .map(|back| (today - time::Duration::days(back)).to_string())
        .collect()
}

pub async fn show(State(state): State<AppState>, Extension(op): Extension<Operator>) -> Response {
    let d = dashboard(&state);
    let days = last_days(GROWTH_DAYS);
    let stats = match state.db.subscriber_stats().await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    let growth = match state.db.growth_per_day(&days[0]).await {
        Ok(g) => g,
        Err(e) => return db_failure(&state, &op, e),
    };
    let sends = match state.db.recent_sends(RECENT_SENDS).await {
        Ok(s) => s,
        Err(e) => return db_failure(&state, &op, e),
    };
    let (mut joined, mut left) = (vec![0f64; days.len()], vec![0f64; days.len()]);
    for g in &growth {
        if let Some(i) = days.iter().position(|d| *d == g.day) {
            joined[i] = g.joined as f64;
            left[i] = g.left as f64;
        }
    }
    let chart = Chart {
        id: "growth",
        title: "Subscribers joined and left per day, last 90 days",
        description: "Line chart: new subscribers and departures (unsubscribed, bounced or complained) per day over the last 90 days; the table below has the numbers.",
        x_title: "day (UTC)",
        y_title: "subscribers",
        categories: days.iter().map(|d| d[5..].to_string()).collect(),
        series: vec![
            Series {
                name: "joined".into(),
                values: joined,
            },
            Series {
                name: "left".into(),
                values: left,
            },
        ],
        kind: Kind::Lines,
    };
    let total =
        stats.active + stats.pending + stats.unsubscribed + stats.bounced + stats.complained;
    let sends: Vec<SendRow> = sends.into_iter().map(SendRow::from).collect();
    d.render(
        StatusCode::OK,
        "overview.html",
        page(
            &op,
            &state,
            "overview",
            "Overview",
            context! {
                stats => Value::from(Serde(&stats)),
                total => total,
                growth => Value::from(Serde(growth.iter().rev().collect::<Vec<_>>())),
                growth_chart => Value::from_safe_string(chart.svg()),
                sends => Value::from(Serde(&sends)),
            },
        ),
    )
}
