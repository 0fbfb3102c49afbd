//! Subscribers: adding one, adding many in one transaction, counting.

use anyhow::Result;
use serde::Serialize;
use sqlx::QueryBuilder;

use super::events::{self, Event, EventKind, Source};
use super::{Db, now};
use crate::domain::SubscriberEmail;

/// A subscriber ready to be stored.
#[derive(Debug, Clone)]
pub struct NewSubscriber {
    pub email: SubscriberEmail,
    pub name: String,
}

/// What adding one subscriber did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    Created(i64),
    /// Already on the list with this status; left exactly as it was.
    Exists {
        id: i64,
        status: String,
    },
}

/// Rows per multi-row INSERT: 3 binds each, far below SQLite's 32,766 limit.
const INSERT_CHUNK: usize = 2000;

/// A subscriber as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub consent_source: String,
    pub consent_at: String,
    pub consent_ip: Option<String>,
    pub soft_bounces: i64,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    pub unsubscribed_at: Option<String>,
    pub bounced_at: Option<String>,
    pub complained_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub pending: i64,
    pub active: i64,
    pub unsubscribed: i64,
    pub bounced: i64,
    pub complained: i64,
}

impl Db {
    /// Adds an active subscriber. An existing address is reported, never revived or changed.
    pub async fn add_subscriber(&self, new: &NewSubscriber, from: Source) -> Result<Added> {
        let mut tx = self.pool().begin().await?;
        let existing: Option<(i64, String)> =
            sqlx::query_as("SELECT id, status FROM subscribers WHERE email = ?")
                .bind(new.email.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((id, status)) = existing {
            return Ok(Added::Exists { id, status });
        }
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO subscribers
                (email, name, status, consent_source, consent_at, created_at, updated_at, confirmed_at)
             VALUES (?, ?, 'active', ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.email.as_str())
        .bind(&new.name)
        .bind(from.as_str())
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        let event = Event::new(EventKind::Subscribed, from)
            .subscriber(id)
            .detail(serde_json::json!({ "status": "active" }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Added::Created(id))
    }

    /// Adds many active subscribers in one transaction: all or nothing. Addresses already on
    /// the list are skipped untouched. Returns how many were created.
    pub async fn add_subscribers(&self, new: &[NewSubscriber], from: Source) -> Result<u64> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        let mut created = 0;
        for chunk in new.chunks(INSERT_CHUNK) {
            let mut insert = QueryBuilder::new(
                "INSERT INTO subscribers
                    (email, name, status, consent_source, consent_at, created_at, updated_at, confirmed_at) ",
            );
            insert.push_values(chunk, |mut row, s| {
                row.push_bind(s.email.as_str())
                    .push_bind(&s.name)
                    .push("'active'")
                    .push_bind(from.as_str())
                    .push_bind(&at)
                    .push_bind(&at)
                    .push_bind(&at)
                    .push_bind(&at);
            });
            insert.push(" ON CONFLICT (email) DO NOTHING RETURNING id");
            let ids: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
            created += ids.len() as u64;
            // One event per new subscriber, written set-based from the returned ids.
            sqlx::query(
                "INSERT INTO events (at, kind, source, subscriber_id, detail)
                 SELECT ?, ?, ?, value, '{\"status\":\"active\"}' FROM json_each(?)",
            )
            .bind(&at)
            .bind(EventKind::Subscribed.as_str())
            .bind(from.as_str())
            .bind(serde_json::to_string(&ids)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    pub async fn subscriber_by_email(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>> {
        Ok(sqlx::query_as(
            "SELECT id, email, name, status, consent_source, consent_at, consent_ip, soft_bounces,
                    created_at, updated_at, confirmed_at, unsubscribed_at, bounced_at, complained_at
             FROM subscribers WHERE email = ?",
        )
        .bind(email.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn subscriber_stats(&self) -> Result<Stats> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM subscribers GROUP BY status")
                .fetch_all(self.pool())
                .await?;
        let mut stats = Stats::default();
        for (status, n) in rows {
            match status.as_str() {
                "pending" => stats.pending = n,
                "active" => stats.active = n,
                "unsubscribed" => stats.unsubscribed = n,
                "bounced" => stats.bounced = n,
                "complained" => stats.complained = n,
                _ => {}
            }
        }
        Ok(stats)
    }
}
