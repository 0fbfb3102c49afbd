//! Double opt-in: subscribe requests from the public form, and their confirmation.
//!
//! A request never changes anyone's recorded status except to create a new `pending`
//! address: the form is open to anyone, so typing a stranger's address must not move them
//! on the list. An unsubscribed person who asks again stays `unsubscribed` until they
//! click the link, which is the fresh consent (and which also lifts an erasure).

use std::net::IpAddr;

use super::Result;
use time::{Duration, OffsetDateTime};

use super::events::{self, Event, EventKind, Source};
use super::subscribers::{NewSubscriber, email_hash};
use super::{Db, timestamp};
use crate::domain::{SubscriberEmail, SubscriberStatus};

/// What a subscribe request led to. The HTTP answer is the same for every one of these;
/// the difference only decides whether mail goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Send a confirmation to this address now (its send time is already stored).
    Send(Outstanding),
    /// A confirmation went out less than the resend interval ago.
    Throttled,
    /// Already active: nothing to confirm, nothing sent.
    Active,
    /// Bounced or complained: the list stays closed to the address.
    Closed,
}

/// A confirmation to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outstanding {
    pub subscriber_id: i64,
    pub email: String,
    /// The stored `confirmation_sent_at`; also the issue time of the link's token.
    pub sent_at: OffsetDateTime,
}

/// Where a confirmation link stands for its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// `pending`, or `unsubscribed` since before the link was made: the link may confirm.
    Confirmable,
    /// Already active (confirmed, or added by an operator).
    Active,
    /// The subscriber unsubscribed after this link was made: it no longer speaks for them.
    Stale,
    /// Bounced or complained.
    Closed,
}

/// A confirmation link's subscriber, as the confirm page needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub email: String,
    pub standing: Standing,
}

#[derive(sqlx::FromRow)]
struct Row {
    email: String,
    status: SubscriberStatus,
    unsubscribed_at: Option<String>,
}

impl Row {
    fn standing(&self, issued: &str) -> Standing {
        match self.status {
            SubscriberStatus::Pending => Standing::Confirmable,
            SubscriberStatus::Active => Standing::Active,
            // Stored times sort as text; a link made after the unsubscribe is a new request.
            SubscriberStatus::Unsubscribed
                if self.unsubscribed_at.as_deref().is_none_or(|u| u <= issued) =>
            {
                Standing::Confirmable
            }
            SubscriberStatus::Unsubscribed => Standing::Stale,
            SubscriberStatus::Bounced | SubscriberStatus::Complained => Standing::Closed,
        }
    }
}

impl Db {
    /// Records a subscribe request at `now` and says whether a confirmation should go out.
    /// New addresses become `pending`; a pending or unsubscribed address gets a new
    /// confirmation only if the last one is older than `resend_after`.
    pub async fn request_confirmation(
        &self,
        new: &NewSubscriber,
        ip: Option<IpAddr>,
        now: OffsetDateTime,
        resend_after: Duration,
    ) -> Result<Requested> {
        let at = timestamp(now);
        let ip = ip.map(|ip| ip.to_string());
        // Writing first takes SQLite's write lock at once, so concurrent requests for one
        // address queue up here instead of failing on a stale read snapshot.
        let mut tx = self.begin_write().await?;
        // An address erased on request may come back through its own confirmation, unless it
        // had bounced or complained: those stay closed as if they were still on the list.
        let created: Option<i64> = sqlx::query_scalar(
            "INSERT INTO subscribers (email, name, status, consent_source, consent_at, consent_ip,
                                      created_at, updated_at, confirmation_sent_at)
             SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?4, ?4, ?4
             WHERE NOT EXISTS (SELECT 1 FROM erasures
                               WHERE email_sha256 = ?6 AND status IN ('bounced', 'complained'))
             ON CONFLICT (email) DO NOTHING RETURNING id",
        )
        .bind(new.email.as_str())
        .bind(&new.name)
        .bind(Source::Form.as_str())
        .bind(&at)
        .bind(&ip)
        .bind(email_hash(&new.email))
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = created {
            let event = Event::new(EventKind::Subscribed, Source::Form)
                .subscriber(id)
                .detail(serde_json::json!({ "status": "pending", "ip": ip }));
            events::record(&mut tx, &event).await?;
            tx.commit().await?;
            return Ok(Requested::Send(Outstanding {
                subscriber_id: id,
                email: new.email.as_str().to_string(),
                sent_at: now,
            }));
        }
        // The guard makes the hourly limit hold however many requests race for one address.
        let resend: Option<(i64, String)> = sqlx::query_as(
            "UPDATE subscribers SET confirmation_sent_at = ?1
             WHERE email = ?2 AND status IN ('pending', 'unsubscribed')
               AND (confirmation_sent_at IS NULL OR confirmation_sent_at <= ?3)
             RETURNING id, email",
        )
        .bind(&at)
        .bind(new.email.as_str())
        .bind(timestamp(now - resend_after))
        .fetch_optional(&mut *tx)
        .await?;
        let status: Option<SubscriberStatus> = match &resend {
            Some(_) => None,
            None => {
                sqlx::query_scalar("SELECT status FROM subscribers WHERE email = ?")
                    .bind(new.email.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(match (resend, status) {
            (Some((subscriber_id, email)), _) => Requested::Send(Outstanding {
                subscriber_id,
                email,
                sent_at: now,
            }),
            (None, Some(SubscriberStatus::Active)) => Requested::Active,
            (None, Some(SubscriberStatus::Pending | SubscriberStatus::Unsubscribed)) => {
                Requested::Throttled
            }
            // Bounced, complained, or erased after either.
            (None, _) => Requested::Closed,
        })
    }

    /// Forgets a confirmation that could not be sent, so the person's next try sends one
    /// at once instead of an hour later. A newer send is left alone.
    pub async fn confirmation_failed(
        &self,
        subscriber_id: i64,
        sent_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE subscribers SET confirmation_sent_at = NULL
             WHERE id = ? AND confirmation_sent_at = ?",
        )
        .bind(subscriber_id)
        .bind(timestamp(sent_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The subscriber a confirmation link made at `issued` names, and where it stands.
    pub async fn confirmation_candidate(
        &self,
        subscriber_id: i64,
        issued: OffsetDateTime,
    ) -> Result<Option<Candidate>> {
        let row = self.optin_row(subscriber_id).await?;
        Ok(row.map(|r| Candidate {
            standing: r.standing(&timestamp(issued)),
            email: r.email,
        }))
    }

    /// Confirms the subscription a link made at `issued` asked for: active, with the consent
    /// recorded as given now from `ip`. Returns where the subscriber stands afterwards and
    /// whether this call changed it; `None` when the link names nobody.
    pub async fn confirm_subscription(
        &self,
        subscriber_id: i64,
        issued: OffsetDateTime,
        ip: Option<IpAddr>,
    ) -> Result<Option<(Candidate, bool)>> {
        let issued = timestamp(issued);
        let ip = ip.map(|ip| ip.to_string());
        // A double click races with itself; the status guard lets exactly one request
        // through, and the loser re-reads and reports the winner's result.
        for _ in 0..2 {
            let Some(row) = self.optin_row(subscriber_id).await? else {
                return Ok(None);
            };
            let standing = row.standing(&issued);
            if standing != Standing::Confirmable {
                let candidate = Candidate {
                    email: row.email,
                    standing,
                };
                return Ok(Some((candidate, false)));
            }
            let at = super::now();
            let mut tx = self.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE subscribers
                 SET status = 'active', confirmed_at = ?1, consent_source = ?2, consent_at = ?1,
                     consent_ip = ?3, unsubscribed_at = NULL, updated_at = ?1
                 WHERE id = ?4 AND status = ?5 AND unsubscribed_at IS ?6",
            )
            .bind(&at)
            .bind(Source::Form.as_str())
            .bind(&ip)
            .bind(subscriber_id)
            .bind(row.status)
            .bind(&row.unsubscribed_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                continue;
            }
            // Their own confirmation is the fresh consent that lifts an earlier erasure.
            if let Ok(email) = SubscriberEmail::parse(&row.email) {
                sqlx::query("DELETE FROM erasures WHERE email_sha256 = ?")
                    .bind(email_hash(&email))
                    .execute(&mut *tx)
                    .await?;
            }
            let event = Event::new(EventKind::Confirmed, Source::Form)
                .subscriber(subscriber_id)
                .detail(serde_json::json!({ "from": row.status, "ip": ip }));
            events::record(&mut tx, &event).await?;
            tx.commit().await?;
            let candidate = Candidate {
                email: row.email,
                standing: Standing::Active,
            };
            return Ok(Some((candidate, true)));
        }
        Err(super::Error::conflict(format!(
            "subscriber {subscriber_id} kept changing while being confirmed"
        )))
    }

    async fn optin_row(&self, subscriber_id: i64) -> Result<Option<Row>> {
        Ok(
            sqlx::query_as("SELECT email, status, unsubscribed_at FROM subscribers WHERE id = ?")
                .bind(subscriber_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }
}
