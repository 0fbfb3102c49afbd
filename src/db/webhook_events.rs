//! Bounces and complaints reported by ESP webhooks, applied to the list once each.
//!
//! Everything a webhook changes goes through [`Db::apply_provider_event`] and from there
//! through the bounce policy shared with returned mail and the worker (`super::bounces`).

use super::Result;
use serde::Serialize;
use sqlx::SqliteConnection;

use super::bounces::{NewBounce, Target as BounceTarget, target_select};
use super::events::Source;
use super::{Db, now};
use crate::bounce::Reason;
use crate::domain::message_id::{self, Parts as MessageIdParts};
use crate::domain::{BounceClass, Policy};
use crate::domain::{Provider, SubscriberEmail};

/// What the relay says happened to one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventClass {
    /// The address is dead: suppressed at once.
    Hard,
    /// Counted against the subscriber, not suppressed.
    Soft,
    /// Reported as spam: suppressed at once, even after an unsubscribe.
    Complaint,
    /// Accepted by the receiving server. Never undoes a bounce.
    Delivered,
}

/// How a report names the message it is about, from most to least exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// From a verified VERP token (`bounces+TOKEN@…`) in the envelope sender.
    pub delivery_id: Option<i64>,
    /// Our Message-ID (`issue.delivery.nonce@domain`), without angle brackets.
    pub message_id: Option<String>,
    /// The recipient address the relay names.
    pub email: Option<String>,
}

/// One recipient's event from a webhook.
#[derive(Debug, Clone)]
pub struct ProviderEvent {
    pub provider: Provider,
    pub class: EventClass,
    /// Sisimai's reason names (`userunknown`, `mailboxfull`, `feedback`, …).
    pub reason: String,
    /// RFC 3463 enhanced status code, when the relay gives one.
    pub status: Option<String>,
    /// The remote server's words, or the relay's description.
    pub diagnostic: String,
    /// For a complaint: the feedback type (`abuse`, …) when the relay says.
    pub feedback_type: Option<String>,
    pub target: Target,
    /// The provider's ids for this event (and Mailgun's request token): if any was seen
    /// before, nothing is applied.
    pub replay_keys: Vec<String>,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Seen before (a retry or a replay): nothing changed.
    Duplicate,
    /// Names no subscriber of ours: nothing changed (but the event counts as seen).
    Unknown,
    /// Applied; `changed` when the subscriber's record changed.
    Done { changed: bool },
}

/// Whom an event is about.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Found {
    subscriber_id: i64,
    email: String,
    delivery_id: Option<i64>,
}

impl Db {
    /// Applies one webhook event in one transaction: its replay keys, the subscriber's
    /// change and the event record. Statuses only ever move towards suppression.
    pub async fn apply_provider_event(
        &self,
        e: &ProviderEvent,
        policy: &Policy,
    ) -> Result<Applied> {
        let at = now();
        let mut tx = self.begin_write().await?;
        for key in &e.replay_keys {
            let fresh = sqlx::query(
                "INSERT INTO webhook_events (provider, event_key, received_at) VALUES (?, ?, ?)
                 ON CONFLICT (provider, event_key) DO NOTHING",
            )
            .bind(e.provider.as_str())
            .bind(key)
            .bind(&at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if fresh == 0 {
                // Dropping the transaction forgets the keys stored before this one.
                return Ok(Applied::Duplicate);
            }
        }
        let Some(found) = find(&mut tx, &e.target).await? else {
            tx.commit().await?;
            return Ok(Applied::Unknown);
        };
        let changed = apply(&mut tx, &found, e, policy, &at).await?;
        tx.commit().await?;
        Ok(Applied::Done { changed })
    }
}

/// The delivery the report names, else the subscriber with the address. An address that
/// is not on the list is never added or suppressed.
async fn find(tx: &mut SqliteConnection, t: &Target) -> Result<Option<Found>> {
    if let Some(id) = t.delivery_id
        && let Some(found) = by_delivery(tx, id, None).await?
    {
        return Ok(Some(found));
    }
    if let Some(id) = t.message_id.as_deref().and_then(our_message_id)
        && let Some(found) = by_delivery(tx, id.delivery, Some((id.issue, id.nonce))).await?
    {
        return Ok(Some(found));
    }
    let Some(email) = t
        .email
        .as_deref()
        .and_then(|e| SubscriberEmail::parse(e).ok())
    else {
        return Ok(None);
    };
    Ok(sqlx::query_as(
        "SELECT id AS subscriber_id, email, NULL AS delivery_id
         FROM subscribers WHERE email = ?",
    )
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?)
}

/// The delivery with this id; with `claimed` (issue number, nonce) only if they match.
async fn by_delivery(
    tx: &mut SqliteConnection,
    id: i64,
    claimed: Option<(u32, &str)>,
) -> Result<Option<Found>> {
    let row: Option<FoundRow> = sqlx::query_as(
        "SELECT d.subscriber_id, sub.email, d.id AS delivery_id, d.nonce,
                i.number AS issue_number
         FROM deliveries d
         JOIN sends s ON s.id = d.send_id
         JOIN issues i ON i.id = s.issue_id
         JOIN subscribers sub ON sub.id = d.subscriber_id
         WHERE d.id = ?",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.and_then(|row| match claimed {
        // A Message-ID carries no signature: its random nonce is what proves it ours.
        Some((issue, nonce)) if row.nonce != nonce || row.issue_number != i64::from(issue) => None,
        _ => Some(row.into_found()),
    }))
}

#[derive(sqlx::FromRow)]
struct FoundRow {
    subscriber_id: i64,
    email: String,
    delivery_id: i64,
    nonce: String,
    issue_number: i64,
}

impl FoundRow {
    fn into_found(self) -> Found {
        Found {
            subscriber_id: self.subscriber_id,
            email: self.email,
            delivery_id: Some(self.delivery_id),
        }
    }
}

/// `issue.delivery.nonce@domain`, as `message::MessageFactory::build` writes it.
/// A Message-ID as a relay reports it, perhaps still in angle brackets.
fn our_message_id(id: &str) -> Option<MessageIdParts<'_>> {
    message_id::parts(id.trim().trim_matches(['<', '>']))
}

/// Applies the event through the one bounce policy (`super::bounces::apply`), as for a
/// bounce read from mail: its row in `bounces`, the subscriber's change, the send's
/// counters and the event. A report matched by address alone is tied to the subscriber's
/// latest delivery; someone we never sent to has nothing to bounce.
async fn apply(
    tx: &mut SqliteConnection,
    f: &Found,
    e: &ProviderEvent,
    policy: &Policy,
    at: &str,
) -> Result<bool> {
    let class = match e.class {
        EventClass::Hard => BounceClass::Hard,
        EventClass::Soft => BounceClass::Soft,
        EventClass::Complaint => BounceClass::Complaint,
        EventClass::Delivered => return Ok(false),
    };
    let target: Option<BounceTarget> = sqlx::query_as(concat!(
        target_select!(),
        " WHERE d.subscriber_id = ?1 AND (?2 IS NULL OR d.id = ?2) ORDER BY d.id DESC LIMIT 1"
    ))
    .bind(f.subscriber_id)
    .bind(f.delivery_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(target) = target else {
        return Ok(false);
    };
    let counted = serde_json::from_value::<Reason>(serde_json::Value::String(e.reason.clone()))
        .map_or(true, Reason::counts_against_address);
    let bounce = NewBounce {
        class,
        counted,
        reason: &e.reason,
        status: e.status.as_deref(),
        reply_code: None,
        feedback_type: e.feedback_type.as_deref(),
        diagnostic: &e.diagnostic,
        recipient: e.target.email.as_deref().unwrap_or(&f.email),
        source: Source::Webhook(e.provider),
    };
    let (_, suppressed) = super::bounces::apply(tx, &target, &bounce, policy, at).await?;
    Ok(suppressed || (class == BounceClass::Soft && counted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_issue_delivery_and_nonce() {
        assert_eq!(
            our_message_id("<210.42.00ff00ff00ff00ff@newsletter.example.org>"),
            Some(MessageIdParts {
                issue: 210,
                delivery: 42,
                nonce: "00ff00ff00ff00ff"
            })
        );
        for other in [
            "abc@example.org",
            "210.42@example.org",
            "210.42.n.extra@example.org",
            "210.x.n@example.org",
            "no-at-sign",
            "",
        ] {
            assert_eq!(our_message_id(other), None, "{other}");
        }
    }
}
