//! Bounces: counts by class, by reason and by domain over time (plots and tables), and the
//! most recent ones.

use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::value::Serde;
use minijinja::{Value, context};
use serde::Deserialize;
use time::OffsetDateTime;

use super::overview::last_days;
use super::{Operator, dashboard, db_failure, page};
use crate::charts::{Chart, Kind, Series};
use crate::db::dashboard::{BounceKey, DayKeyCount};
use crate::http::AppState;

const RECENT: u32 = 50;
/// Reasons and domains drawn per chart; the tables list them all.
const TOP: usize = 5;

#[derive(Deserialize)]
pub struct Period {
    days: Option<i64>,
}

pub async fn show(
    State(state): State<AppState>,
    Extension(op): Extension<Operator>,
    Query(p): Query<Period>,
) -> Response {
    let days = p.days.unwrap_or(30).clamp(1, 365);
    let since = crate::db::timestamp(
        OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT)
            - time::Duration::days(days - 1),
    );
    let loaded = async {
        let stats = state.db.bounce_stats(&since).await?;
        let by_class = state.db.bounces_per_day(&since, BounceKey::Class).await?;
        let by_reason = state.db.bounces_per_day(&since, BounceKey::Reason).await?;
        let by_domain = state.db.bounces_per_day(&since, BounceKey::Domain).await?;
        let recent = state.db.recent_bounces(RECENT, None).await?;
        crate::db::Result::Ok((stats, by_class, by_reason, by_domain, recent))
    };
    let (stats, by_class, by_reason, by_domain, recent) = match loaded.await {
        Ok(l) => l,
        Err(e) => return db_failure(&state, &op, e),
    };
    let day_list = last_days(days);
    let period = format!("last {days} days");
    let class_title = format!("Bounces per day by class, {period}");
    let reason_title = format!("Bounces per day, top {TOP} reasons, {period}");
    let domain_title = format!("Bounces per day, top {TOP} recipient domains, {period}");
    let charts = [
        chart(
            "by-class",
            &class_title,
            "Line chart of hard bounces, soft bounces and complaints per day; the tables below have the totals.",
            &day_list,
            &by_class,
            None,
        ),
        chart(
            "by-reason",
            &reason_title,
            "Line chart of bounces per day for the most frequent reasons; the table by reason below has the totals.",
            &day_list,
            &by_reason,
            Some(TOP),
        ),
        chart(
            "by-domain",
            &domain_title,
            "Line chart of bounces per day for the recipient domains with most bounces; the table by domain below has the totals.",
            &day_list,
            &by_domain,
            Some(TOP),
        ),
    ];
    let reasons: Vec<Value> = stats
        .by_reason
        .iter()
        .map(|(class, reason, n)| context! { class => class, reason => reason, count => n })
        .collect();
    dashboard(&state).render(
        StatusCode::OK,
        "bounces.html",
        page(
            &op,
            &state,
            "bounces",
            "Bounces",
            context! {
                days => days,
                since => since,
                stats => Value::from(Serde(&stats)),
                reasons => reasons,
                charts => charts.into_iter().map(Value::from_safe_string).collect::<Vec<_>>(),
                recent => Value::from(Serde(&recent)),
            },
        ),
    )
}

/// One line per key (the `top` most frequent, or all), a value per day.
fn chart(
    id: &str,
    title: &str,
    description: &str,
    days: &[String],
    counts: &[DayKeyCount],
    top: Option<usize>,
) -> String {
    let mut totals: Vec<(String, i64)> = Vec::new();
    for c in counts {
        match totals.iter_mut().find(|(k, _)| *k == c.key) {
            Some((_, n)) => *n += c.count,
            None => totals.push((c.key.clone(), c.count)),
        }
    }
    totals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    if let Some(top) = top {
        totals.truncate(top);
    }
    let series = totals
        .iter()
        .map(|(key, _)| {
            let mut values = vec![0f64; days.len()];
            for c in counts.iter().filter(|c| c.key == *key) {
                if let Some(i) = days.iter().position(|d| *d == c.day) {
                    values[i] = c.count as f64;
                }
            }
            Series {
                name: if key.is_empty() {
                    "(none)".into()
                } else {
                    key.clone()
                },
                values,
            }
        })
        .collect();
    Chart {
        id,
        title,
        description,
        x_title: "day (UTC)",
        y_title: "bounces",
        categories: days.iter().map(|d| d[5..].to_string()).collect(),
        series,
        kind: Kind::Lines,
    }
    .svg()
}
