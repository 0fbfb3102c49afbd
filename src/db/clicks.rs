//! Click counts per item: aggregates, the set of deliveries already counted as unique per
//! item, and (only with `analytics.per_subscriber`) each click with its subscriber.

use super::{Db, Result};
use crate::domain::MachineReason;

/// The delivery a click token names, as the click needs it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClickedDelivery {
    pub issue_id: i64,
    pub subscriber_id: i64,
    /// When the message was handed over; `None` while it is still in flight.
    pub sent_at: Option<String>,
}

/// One click to count.
#[derive(Debug, Clone)]
pub struct NewClick {
    pub issue_id: i64,
    pub item: u16,
    pub delivery_id: i64,
    /// `Some` only when clicks are kept per subscriber.
    pub subscriber_id: Option<i64>,
    pub machine: Option<MachineReason>,
    pub at: String,
}

/// What counting a click did, so that a burst found later can take it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// It was the delivery's first human click on the item (counted in `unique_humans`).
    pub made_unique: bool,
    /// Its row in `click_events`, when kept per subscriber.
    pub event_id: Option<i64>,
}

/// An earlier human click of the same delivery, now found to be part of a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reclassify {
    pub item: u16,
    pub counted: Counted,
}

/// The stored counts of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ItemCount {
    pub item: i64,
    pub human_clicks: i64,
    pub unique_humans: i64,
    pub machine_clicks: i64,
}

impl Db {
    /// The delivery a click names, or `None` if there is none (erased, or never was).
    pub async fn clicked_delivery(&self, delivery_id: i64) -> Result<Option<ClickedDelivery>> {
        Ok(sqlx::query_as(
            "SELECT s.issue_id, d.subscriber_id, d.sent_at
             FROM deliveries d JOIN sends s ON s.id = d.send_id WHERE d.id = ?",
        )
        .bind(delivery_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Counts `click`, and moves `earlier` human clicks of the same delivery (a burst it
    /// completes) to the machine count, in one transaction.
    pub async fn record_click(&self, click: &NewClick, earlier: &[Reclassify]) -> Result<Counted> {
        let mut tx = self.begin_write().await?;
        let made_unique = match click.machine {
            Some(_) => {
                sqlx::query(
                    "INSERT INTO click_counts (issue_id, item, machine_clicks) VALUES (?, ?, 1)
                     ON CONFLICT (issue_id, item) DO UPDATE SET machine_clicks = machine_clicks + 1",
                )
                .bind(click.issue_id)
                .bind(click.item)
                .execute(&mut *tx)
                .await?;
                false
            }
            None => {
                let first = sqlx::query(
                    "INSERT INTO click_seen (delivery_id, item) VALUES (?, ?)
                     ON CONFLICT (delivery_id, item) DO NOTHING",
                )
                .bind(click.delivery_id)
                .bind(click.item)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                sqlx::query(
                    "INSERT INTO click_counts (issue_id, item, human_clicks, unique_humans)
                     VALUES (?, ?, 1, ?)
                     ON CONFLICT (issue_id, item) DO UPDATE SET
                         human_clicks = human_clicks + 1,
                         unique_humans = unique_humans + excluded.unique_humans",
                )
                .bind(click.issue_id)
                .bind(click.item)
                .bind(i64::from(first))
                .execute(&mut *tx)
                .await?;
                first
            }
        };
        let event_id = match click.subscriber_id {
            Some(subscriber_id) => Some(
                sqlx::query_scalar(
                    "INSERT INTO click_events
                         (at, issue_id, item, delivery_id, subscriber_id, machine)
                     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(&click.at)
                .bind(click.issue_id)
                .bind(click.item)
                .bind(click.delivery_id)
                .bind(subscriber_id)
                .bind(click.machine.map(MachineReason::as_str))
                .fetch_one(&mut *tx)
                .await?,
            ),
            None => None,
        };
        for e in earlier {
            sqlx::query(
                "UPDATE click_counts SET human_clicks = human_clicks - 1,
                     unique_humans = unique_humans - ?, machine_clicks = machine_clicks + 1
                 WHERE issue_id = ? AND item = ?",
            )
            .bind(i64::from(e.counted.made_unique))
            .bind(click.issue_id)
            .bind(e.item)
            .execute(&mut *tx)
            .await?;
            if e.counted.made_unique {
                sqlx::query("DELETE FROM click_seen WHERE delivery_id = ? AND item = ?")
                    .bind(click.delivery_id)
                    .bind(e.item)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(id) = e.counted.event_id {
                sqlx::query("UPDATE click_events SET machine = 'burst' WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(Counted {
            made_unique,
            event_id,
        })
    }

    /// The counts of every item of issue `issue_id` that was clicked at all.
    pub async fn click_counts(&self, issue_id: i64) -> Result<Vec<ItemCount>> {
        Ok(sqlx::query_as(
            "SELECT item, human_clicks, unique_humans, machine_clicks FROM click_counts
             WHERE issue_id = ? ORDER BY item",
        )
        .bind(issue_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many messages of the issue's send were handed over (0 before it is sent).
    pub async fn delivered_count(&self, issue_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM deliveries d JOIN sends s ON s.id = d.send_id
             WHERE s.issue_id = ? AND d.status = 'sent'",
        )
        .bind(issue_id)
        .fetch_one(self.pool())
        .await?)
    }
}
