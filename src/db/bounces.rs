//! Bounces and complaints applied to subscribers: one policy for our relay's refusals at
//! send time and for reports that come back by mail, and the record that `mailroom
//! bounces list` and `stats` read.

use super::Result;
use serde::Serialize;
use sqlx::SqliteConnection;

use super::events::{self, Event, EventKind, Source};
use super::{Db, now, parse_timestamp, timestamp};
use crate::domain::{BounceClass, Policy};

/// The delivery a bounce is about, and whom it went to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Target {
    pub delivery_id: i64,
    pub send_id: i64,
    pub issue_id: i64,
    pub issue_number: i64,
    pub subscriber_id: i64,
    pub email: String,
    /// Stored once the message went out.
    pub message_id: Option<String>,
}

/// The columns of a [`Target`] and their joins, for `concat!` with a WHERE clause.
macro_rules! target_select {
    () => {
        "SELECT d.id AS delivery_id, d.send_id, s.issue_id, i.number AS issue_number,
                d.subscriber_id, sub.email, d.message_id
         FROM deliveries d
         JOIN sends s ON s.id = d.send_id
         JOIN issues i ON i.id = s.issue_id
         JOIN subscribers sub ON sub.id = d.subscriber_id"
    };
}
pub(super) use target_select;

/// One bounce or complaint, as the policy needs it.
#[derive(Debug, Clone)]
pub struct NewBounce<'a> {
    pub class: BounceClass,
    /// For a soft bounce: whether it counts toward the limit (false when the refusal speaks
    /// of our message or reputation rather than the address). Hard bounces and complaints
    /// always count.
    pub counted: bool,
    pub reason: &'a str,
    /// RFC 3463 enhanced status code.
    pub status: Option<&'a str>,
    pub reply_code: Option<u16>,
    pub feedback_type: Option<&'a str>,
    pub diagnostic: &'a str,
    /// The address the report names: the subscriber's, a forwarding target's, or empty
    /// when a complaint report redacts it.
    pub recipient: &'a str,
    pub source: Source,
}

/// What recording a returned message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The same message was applied before; nothing changed.
    Duplicate,
    /// Recorded; `suppressed` when the subscriber left the list because of it.
    Recorded { suppressed: bool },
}

/// A recorded bounce, for `mailroom bounces list`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Listed {
    pub received_at: String,
    pub source: String,
    pub class: String,
    pub reason: String,
    pub status: Option<String>,
    pub reply_code: Option<i64>,
    pub counted: bool,
    pub email: String,
    pub issue_number: i64,
    pub diagnostic: String,
}

/// Counts for `mailroom bounces stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub hard: i64,
    pub soft: i64,
    pub complaint: i64,
    /// (class, reason, count), most frequent first.
    pub by_reason: Vec<(String, String, i64)>,
    /// Per recipient domain, most bounces first.
    pub by_domain: Vec<DomainCount>,
}

#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct DomainCount {
    pub domain: String,
    pub hard: i64,
    pub soft: i64,
    pub complaint: i64,
}

impl Db {
    /// The delivery with this id, with its issue and subscriber.
    pub async fn delivery_target(&self, delivery_id: i64) -> Result<Option<Target>> {
        Ok(sqlx::query_as(concat!(target_select!(), " WHERE d.id = ?"))
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Applies a report that came back by mail, once per `message_key`: reading the same
    /// message again changes nothing.
    pub async fn record_returned(
        &self,
        target: &Target,
        bounce: &NewBounce<'_>,
        message_key: &str,
        policy: &Policy,
    ) -> Result<Applied> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let fresh = sqlx::query(
            "INSERT INTO inbound_messages (key, received_at) VALUES (?, ?)
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(message_key)
        .bind(&at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if fresh == 0 {
            return Ok(Applied::Duplicate);
        }
        let (bounce_id, suppressed) = apply(&mut tx, target, bounce, policy, &at).await?;
        sqlx::query("UPDATE inbound_messages SET bounce_id = ? WHERE key = ?")
            .bind(bounce_id)
            .bind(message_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Applied::Recorded { suppressed })
    }

    /// The most recent bounces, newest first, of one class or all.
    pub async fn recent_bounces(
        &self,
        limit: u32,
        class: Option<BounceClass>,
    ) -> Result<Vec<Listed>> {
        Ok(sqlx::query_as(
            "SELECT b.received_at, b.source, b.class, b.reason, b.status, b.reply_code,
                    b.counted, sub.email, i.number AS issue_number, b.diagnostic
             FROM bounces b
             JOIN subscribers sub ON sub.id = b.subscriber_id
             JOIN issues i ON i.id = b.issue_id
             WHERE ?1 IS NULL OR b.class = ?1
             ORDER BY b.received_at DESC, b.id DESC
             LIMIT ?2",
        )
        .bind(class.map(BounceClass::as_str))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Bounces received at or after `since`, by class, by reason and by recipient domain.
    pub async fn bounce_stats(&self, since: &str) -> Result<Stats> {
        let by_reason: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT class, reason, count(*) AS n FROM bounces WHERE received_at >= ?
             GROUP BY class, reason ORDER BY n DESC, class, reason",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let by_domain: Vec<DomainCount> = sqlx::query_as(
            "SELECT domain, sum(class = 'hard') AS hard, sum(class = 'soft') AS soft,
                    sum(class = 'complaint') AS complaint
             FROM bounces WHERE received_at >= ?
             GROUP BY domain ORDER BY count(*) DESC, domain",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let total = |class: &str| -> i64 {
            by_reason
                .iter()
                .filter(|(c, _, _)| c == class)
                .map(|(_, _, n)| n)
                .sum()
        };
        Ok(Stats {
            hard: total("hard"),
            soft: total("soft"),
            complaint: total("complaint"),
            by_reason,
            by_domain,
        })
    }
}

/// Subscribers still on the list (or, for a complaint, who merely unsubscribed) take the
/// new status; a later report never revives an address or turns a bounce into a complaint.
const TO_BOUNCED: &str =
    "UPDATE subscribers SET status = 'bounced', bounced_at = ?1, updated_at = ?1
     WHERE id = ?2 AND status IN ('active', 'pending')";
/// A complaint outranks an unsubscribe: the resubscribe button must not reopen an address
/// that reported us as spam.
const TO_COMPLAINED: &str =
    "UPDATE subscribers SET status = 'complained', complained_at = ?1, updated_at = ?1
     WHERE id = ?2 AND status IN ('active', 'pending', 'unsubscribed')";

/// Applies one bounce inside the caller's transaction: its row, the subscriber's change,
/// the send's counters and the events. Returns the row's id and whether the subscriber
/// was suppressed by it.
pub(super) async fn apply(
    tx: &mut SqliteConnection,
    t: &Target,
    b: &NewBounce<'_>,
    policy: &Policy,
    at: &str,
) -> Result<(i64, bool)> {
    let counted = b.class != BounceClass::Soft || b.counted;
    // A delivery counts once per class however many reports come back about it (a relay
    // and the final server both reporting, an ESP notification beside the DSN).
    let repeated: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM bounces WHERE delivery_id = ? AND class = ? AND counted = 1)",
    )
    .bind(t.delivery_id)
    .bind(b.class.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let first = counted && !repeated;
    let domain = t.email.rsplit_once('@').map_or("", |(_, d)| d);
    let bounce_id: i64 = sqlx::query_scalar(
        "INSERT INTO bounces (received_at, source, subscriber_id, delivery_id, issue_id, class,
                              reason, counted, status, reply_code, feedback_type, diagnostic, domain)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(at)
    .bind(b.source.as_str())
    .bind(t.subscriber_id)
    .bind(t.delivery_id)
    .bind(t.issue_id)
    .bind(b.class.as_str())
    .bind(b.reason)
    .bind(counted)
    .bind(b.status)
    .bind(b.reply_code)
    .bind(b.feedback_type)
    .bind(b.diagnostic)
    .bind(domain)
    .fetch_one(&mut *tx)
    .await?;
    let mut detail = serde_json::json!({
        "issue": t.issue_number,
        "class": b.class,
        "reason": b.reason,
        "status": b.status,
        "reply_code": b.reply_code,
        "feedback_type": b.feedback_type,
        "diagnostic": b.diagnostic,
        "recipient": b.recipient,
        "counted": counted,
        "bounce_id": bounce_id,
    });
    let event = |kind| {
        Event::new(kind, b.source)
            .subscriber(t.subscriber_id)
            .issue(t.issue_id)
            .delivery(t.delivery_id)
    };
    let (kind, suppressed) = match b.class {
        BounceClass::Hard => {
            // The send's counters feed its circuit breaker (`pause_if_unhealthy`).
            if first {
                bump_send(tx, HARD_BOUNCES, t.send_id).await?;
            }
            (EventKind::Bounced, set_status(tx, TO_BOUNCED, t, at).await?)
        }
        BounceClass::Complaint => {
            if first {
                bump_send(tx, COMPLAINTS, t.send_id).await?;
            }
            (
                EventKind::Complained,
                set_status(tx, TO_COMPLAINED, t, at).await?,
            )
        }
        BounceClass::Soft => {
            let suppressed = if counted {
                soft_bounce(tx, t, first, policy, at, &mut detail).await?
            } else {
                false
            };
            (EventKind::SoftBounce, suppressed)
        }
    };
    detail["suppressed"] = suppressed.into();
    events::record(tx, &event(kind).detail(&detail)).await?;
    if suppressed && b.class == BounceClass::Soft {
        let limit = serde_json::json!({
            "issue": t.issue_number,
            "class": "soft",
            "cause": "soft_bounce_limit",
            "soft_bounces_in_window": detail["soft_bounces_in_window"],
            "window_days": policy.window.whole_days(),
            "bounce_id": bounce_id,
        });
        events::record(tx, &event(EventKind::Bounced).detail(limit)).await?;
    }
    Ok((bounce_id, suppressed))
}

/// Counts a soft bounce against the subscriber and suppresses them once the policy's
/// limit of different deliveries bounced within its window is reached.
async fn soft_bounce(
    tx: &mut SqliteConnection,
    t: &Target,
    first: bool,
    policy: &Policy,
    at: &str,
    detail: &mut serde_json::Value,
) -> Result<bool> {
    if first {
        sqlx::query(
            "UPDATE subscribers SET soft_bounces = soft_bounces + 1, updated_at = ? WHERE id = ?",
        )
        .bind(at)
        .bind(t.subscriber_id)
        .execute(&mut *tx)
        .await?;
    }
    let since = timestamp(parse_timestamp(at)? - policy.window);
    let in_window: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT delivery_id) FROM bounces
         WHERE subscriber_id = ? AND class = 'soft' AND counted = 1 AND received_at >= ?",
    )
    .bind(t.subscriber_id)
    .bind(&since)
    .fetch_one(&mut *tx)
    .await?;
    detail["soft_bounces_in_window"] = in_window.into();
    if policy.soft_limit == 0 || in_window < i64::from(policy.soft_limit) {
        return Ok(false);
    }
    set_status(tx, TO_BOUNCED, t, at).await
}

async fn set_status(
    tx: &mut SqliteConnection,
    update: &'static str,
    t: &Target,
    at: &str,
) -> Result<bool> {
    let changed = sqlx::query(update)
        .bind(at)
        .bind(t.subscriber_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(changed == 1)
}

const HARD_BOUNCES: &str = "UPDATE sends SET hard_bounces = hard_bounces + 1 WHERE id = ?";
const COMPLAINTS: &str = "UPDATE sends SET complaints = complaints + 1 WHERE id = ?";

async fn bump_send(tx: &mut SqliteConnection, update: &'static str, send_id: i64) -> Result<()> {
    sqlx::query(update).bind(send_id).execute(&mut *tx).await?;
    Ok(())
}
