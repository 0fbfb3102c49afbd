//! Leaving the list, and coming back after a mistaken click.

use super::Result;

use super::events::{self, Event, EventKind, Source};
use super::{Db, now};
use crate::domain::SubscriberStatus;

/// A subscriber as the unsubscribe page needs them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub status: SubscriberStatus,
}

/// What an unsubscribe or resubscribe request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The status changed (and an event was recorded).
    Done,
    /// Nothing to do: already in the requested state.
    Unchanged,
    /// Bounced or complained: the list stays closed to them whatever the request.
    Blocked(SubscriberStatus),
    /// The token named nobody (e.g. a preview's sample subscriber).
    Unknown,
}

impl Db {
    pub async fn member(&self, subscriber_id: i64) -> Result<Option<Member>> {
        Ok(
            sqlx::query_as("SELECT id, email, status FROM subscribers WHERE id = ?")
                .bind(subscriber_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Unsubscribes at once; the very next claim of a queued delivery suppresses it.
    /// `issue` is the issue whose message carried the link, when known.
    pub async fn unsubscribe(
        &self,
        subscriber_id: i64,
        issue: Option<u32>,
        from: Source,
    ) -> Result<Change> {
        self.transition(subscriber_id, issue, from, &UNSUBSCRIBE)
            .await
    }

    /// Undoes an unsubscribe ("I unsubscribed by mistake"). Bounced or complained
    /// addresses are never revived.
    pub async fn resubscribe(
        &self,
        subscriber_id: i64,
        issue: Option<u32>,
        from: Source,
    ) -> Result<Change> {
        self.transition(subscriber_id, issue, from, &RESUBSCRIBE)
            .await
    }

    async fn transition(
        &self,
        id: i64,
        issue: Option<u32>,
        from: Source,
        t: &Transition,
    ) -> Result<Change> {
        let mut tx = self.begin_write().await?;
        // The status guard in `t.update` makes the change and its event happen once, however
        // many requests race (mail clients retry; people double-click).
        let changed = sqlx::query(t.update)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            let status: Option<SubscriberStatus> =
                sqlx::query_scalar("SELECT status FROM subscribers WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match status {
                None => Change::Unknown,
                Some(s) if t.already.contains(&s) => Change::Unchanged,
                Some(other) => Change::Blocked(other),
            });
        }
        let event = Event::new(t.kind, from)
            .subscriber(id)
            .detail(serde_json::json!({ "issue": issue }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Change::Done)
    }
}

/// A guarded status change: the UPDATE (binding the time, then the id), its event, and
/// the statuses in which the request is already satisfied.
struct Transition {
    update: &'static str,
    kind: EventKind,
    already: &'static [SubscriberStatus],
}

const UNSUBSCRIBE: Transition = Transition {
    update: "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?1, updated_at = ?1
             WHERE id = ?2 AND status IN ('active', 'pending')",
    kind: EventKind::Unsubscribed,
    already: &[SubscriberStatus::Unsubscribed],
};

const RESUBSCRIBE: Transition = Transition {
    update: "UPDATE subscribers SET status = 'active', unsubscribed_at = NULL, updated_at = ?1
             WHERE id = ?2 AND status = 'unsubscribed'",
    kind: EventKind::Resubscribed,
    already: &[SubscriberStatus::Active, SubscriberStatus::Pending],
};
