//! Sends and their deliveries: the queue the worker drains.

use serde::Serialize;
use sqlx::SqliteConnection;

use super::bounces::{self, NewBounce, Target};
use super::events::{self, Event, EventKind, Source};
use super::{Db, Error, Result, now};
use crate::domain::IssueStatus;
use crate::domain::{
    Bounce, BounceClass, BounceKind, DeliveryStatus, Outcome, Policy, Schedule, SendAction,
    SendStatus, SubscriberStatus,
};

/// A claimed delivery with everything needed to build its message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub send_id: i64,
    pub issue_id: i64,
    pub subscriber_id: i64,
    pub attempts: i64,
    pub nonce: String,
    pub created_at: String,
    pub email: String,
    pub name: String,
    pub subscriber_status: SubscriberStatus,
    pub attributes: String,
}

/// Per-state counts of one send.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub status: SendStatus,
    /// Why it is paused, while it is.
    pub paused_reason: Option<String>,
    pub total: i64,
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub retry: i64,
    pub failed: i64,
    pub suppressed: i64,
}

impl Db {
    /// Queues one delivery per active subscriber, in one set-based statement, and marks the
    /// issue as sending. Refused unless the issue is finalized and someone is subscribed.
    pub async fn create_send(&self, number: u32, from: Source) -> Result<(i64, i64)> {
        self.schedule_send(number, &Schedule::default(), from).await
    }

    /// Like [`Db::create_send`], starting no earlier than `schedule.start_at` and cancelled
    /// if still unstarted at `schedule.expires_at`.
    pub async fn schedule_send(
        &self,
        number: u32,
        schedule: &Schedule,
        from: Source,
    ) -> Result<(i64, i64)> {
        let stored = self.require_issue(number).await?;
        match stored.status {
            IssueStatus::Finalized => {}
            IssueStatus::Draft => {
                return Err(Error::conflict(format!(
                    "issue #{number} is a draft; finalize it first"
                )));
            }
            IssueStatus::Sending | IssueStatus::Sent | IssueStatus::Cancelled => {
                return Err(Error::conflict(format!(
                    "issue #{number} is already {}; an issue is sent once",
                    stored.status
                )));
            }
        }
        if stored.content_hash.as_deref() != Some(stored.issue.content_hash().0.as_str()) {
            return Err(Error::conflict(format!(
                "issue #{number} does not match the content hash recorded at finalize; refusing to send"
            )));
        }
        let at = now();
        let mut tx = self.begin_write().await?;
        let send_id: i64 = sqlx::query_scalar(
            "INSERT INTO sends (issue_id, total, created_at, start_at, expires_at)
             VALUES (?, 0, ?, ?, ?) RETURNING id",
        )
        .bind(stored.id)
        .bind(&at)
        .bind(&schedule.start_at)
        .bind(&schedule.expires_at)
        .fetch_one(&mut *tx)
        .await?;
        let total = sqlx::query(
            "INSERT INTO deliveries (send_id, subscriber_id, due_at, nonce, created_at, updated_at)
             SELECT ?1, id, ?2, lower(hex(randomblob(8))), ?2, ?2
             FROM subscribers WHERE status = 'active' ORDER BY id",
        )
        .bind(send_id)
        .bind(&at)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        if total == 0 {
            return Err(Error::conflict(
                "there are no active subscribers to send to",
            ));
        }
        sqlx::query("UPDATE sends SET total = ? WHERE id = ?")
            .bind(total)
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE issues SET status = 'sending', updated_at = ? WHERE id = ? AND status = 'finalized'")
            .bind(&at)
            .bind(stored.id)
            .execute(&mut *tx)
            .await?;
        let event = Event::new(EventKind::SendCreated, from)
            .issue(stored.id)
            .detail(serde_json::json!({
                "number": number,
                "deliveries": total,
                "start_at": schedule.start_at,
                "expires_at": schedule.expires_at,
            }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok((send_id, total))
    }

    /// Claims up to `limit` due deliveries of running sends until `lease_until`, taking over
    /// claims whose lease expired (their worker died). One statement, so two workers never
    /// claim the same row.
    pub async fn claim_deliveries(&self, lease_until: &str, limit: u32) -> Result<Vec<Claimed>> {
        let at = now();
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE deliveries
             SET status = 'sending', lease_until = ?1, attempts = attempts + 1, updated_at = ?2
             WHERE id IN (
                 SELECT d.id FROM deliveries d JOIN sends s ON s.id = d.send_id
                 WHERE s.status = 'running' AND (s.start_at IS NULL OR s.start_at <= ?2)
                   AND ((d.status IN ('queued', 'retry') AND d.due_at <= ?2)
                        OR (d.status = 'sending' AND d.lease_until <= ?2))
                 LIMIT ?3)
             RETURNING id",
        )
        .bind(lease_until)
        .bind(&at)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT d.id, d.send_id, s.issue_id, d.subscriber_id, d.attempts, d.nonce, d.created_at,
                    sub.email, sub.name, sub.status AS subscriber_status, sub.attributes
             FROM deliveries d
             JOIN sends s ON s.id = d.send_id
             JOIN subscribers sub ON sub.id = d.subscriber_id
             WHERE d.id IN (SELECT value FROM json_each(?))
             ORDER BY d.id",
        )
        .bind(serde_json::to_string(&ids)?)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records deliveries' outcomes, their effects on subscribers (bounces under `policy`)
    /// or sends, and the events, in one transaction. The `status = 'sending'` guard keeps a
    /// worker whose lease expired from overwriting its successor's result.
    pub async fn finish_deliveries(
        &self,
        outcomes: &[(Claimed, Outcome)],
        policy: &Policy,
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let at = now();
        let mut tx = self.begin_write().await?;
        // Sent is nearly every outcome of a send, so it is written set-based: a few
        // statements per group instead of three per message, each a round trip to
        // SQLite's thread that holds up the transaction.
        #[derive(Serialize)]
        struct SentRow<'a> {
            id: i64,
            message_id: &'a str,
            reply: &'a str,
        }
        let mut sent = Vec::new();
        for (claimed, outcome) in outcomes {
            match outcome {
                Outcome::Sent { message_id, reply } => sent.push(SentRow {
                    id: claimed.id,
                    message_id,
                    reply,
                }),
                _ => apply(&mut tx, claimed, outcome, &at, policy).await?,
            }
        }
        if !sent.is_empty() {
            apply_sent(&mut tx, &serde_json::to_string(&sent)?, &at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives claims back untouched (on shutdown), so the next worker starts them at once.
    pub async fn release_deliveries(&self, ids: &[i64]) -> Result<()> {
        sqlx::query(
            "UPDATE deliveries
             SET status = CASE WHEN attempts > 1 THEN 'retry' ELSE 'queued' END,
                 attempts = attempts - 1, lease_until = NULL, updated_at = ?
             WHERE status = 'sending' AND id IN (SELECT value FROM json_each(?))",
        )
        .bind(now())
        .bind(serde_json::to_string(ids)?)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Pauses a running send whose hard-bounce or complaint rate passed its limit, once
    /// at least `min_attempts` messages were attempted. Returns the reason if it paused.
    pub async fn pause_if_unhealthy(
        &self,
        send_id: i64,
        max_hard_bounce_rate: f64,
        max_complaint_rate: f64,
        min_attempts: u32,
    ) -> Result<Option<String>> {
        let counts: Option<(i64, i64, i64)> =
            sqlx::query_as("SELECT attempted, hard_bounces, complaints FROM sends WHERE id = ? AND status = 'running'")
                .bind(send_id)
                .fetch_optional(self.pool())
                .await?;
        let Some((attempted, hard, complained)) = counts else {
            return Ok(None);
        };
        if attempted < i64::from(min_attempts) || attempted == 0 {
            return Ok(None);
        }
        let hard_rate = hard as f64 / attempted as f64;
        let complaint_rate = complained as f64 / attempted as f64;
        let reason = if hard_rate > max_hard_bounce_rate {
            format!(
                "hard-bounce rate {:.1}% passed {:.1}%",
                hard_rate * 100.0,
                max_hard_bounce_rate * 100.0
            )
        } else if complaint_rate > max_complaint_rate {
            format!(
                "complaint rate {:.2}% passed {:.2}%",
                complaint_rate * 100.0,
                max_complaint_rate * 100.0
            )
        } else {
            return Ok(None);
        };
        let mut tx = self.begin_write().await?;
        let issue_id: Option<i64> =
            sqlx::query_scalar("UPDATE sends SET status = 'paused', paused_reason = ? WHERE id = ? AND status = 'running' RETURNING issue_id")
                .bind(&reason)
                .bind(send_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(issue_id) = issue_id else {
            return Ok(None);
        };
        let detail = serde_json::json!({ "reason": reason, "attempted": attempted, "hard_bounces": hard, "complaints": complained });
        events::record(
            &mut tx,
            &Event::new(EventKind::SendPaused, Source::Worker)
                .issue(issue_id)
                .detail(detail),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(reason))
    }

    /// Cancels sends that reached their expiry before their first attempt.
    pub async fn expire_unstarted_sends(&self) -> Result<Vec<i64>> {
        self.end_sends(
            "UPDATE sends SET status = 'cancelled', finished_at = ?1
             WHERE status IN ('running', 'paused') AND attempted = 0
               AND expires_at IS NOT NULL AND expires_at <= ?1
             RETURNING id, issue_id",
            IssueStatus::Cancelled,
            EventKind::SendCancelled,
            Some("expired before it could start"),
        )
        .await
    }

    /// Deliveries of running and paused sends, per state.
    pub async fn open_queue_counts(&self) -> Result<Vec<(DeliveryStatus, i64)>> {
        Ok(sqlx::query_as(
            "SELECT d.status, count(*) FROM deliveries d JOIN sends s ON s.id = d.send_id
             WHERE s.status IN ('running', 'paused') GROUP BY d.status",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Messages sent at or after `since`, by every worker: what relay quotas count.
    pub async fn sent_since(&self, since: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE sent_at >= ?")
                .bind(since)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// Deliveries currently claimed (by any worker) in running sends.
    pub async fn leased_deliveries(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM deliveries d JOIN sends s ON s.id = d.send_id
             WHERE d.status = 'sending' AND s.status = 'running'",
        )
        .fetch_one(self.pool())
        .await?)
    }

    /// Marks sends with nothing left to do as done and their issues as sent.
    pub async fn complete_finished_sends(&self) -> Result<Vec<i64>> {
        self.end_sends(
            "UPDATE sends SET status = 'done', finished_at = ?1
             WHERE status = 'running' AND NOT EXISTS (
                 SELECT 1 FROM deliveries d
                 WHERE d.send_id = sends.id AND d.status IN ('queued', 'sending', 'retry'))
             RETURNING id, issue_id",
            IssueStatus::Sent,
            EventKind::SendFinished,
            None,
        )
        .await
    }

    /// Ends the sends `update` picks (it binds the time as ?1 and returns id, issue_id):
    /// their issues take `issue_status` and each gets a `kind` event, in one transaction.
    async fn end_sends(
        &self,
        update: &'static str,
        issue_status: IssueStatus,
        kind: EventKind,
        reason: Option<&str>,
    ) -> Result<Vec<i64>> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let ended: Vec<(i64, i64)> = sqlx::query_as(update).bind(&at).fetch_all(&mut *tx).await?;
        for (send_id, issue_id) in &ended {
            sqlx::query("UPDATE issues SET status = ?, updated_at = ? WHERE id = ?")
                .bind(issue_status)
                .bind(&at)
                .bind(issue_id)
                .execute(&mut *tx)
                .await?;
            let mut detail = serde_json::json!({ "send_id": send_id });
            if let Some(reason) = reason {
                detail["reason"] = reason.into();
            }
            let event = Event::new(kind, Source::Worker)
                .issue(*issue_id)
                .detail(detail);
            events::record(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(ended.into_iter().map(|(id, _)| id).collect())
    }

    /// Pauses, resumes or cancels the send of issue `number`. Returns the send's status
    /// before the change; an impossible change (resuming a finished send) is an error.
    pub async fn control_send(
        &self,
        number: u32,
        action: SendAction,
        from: Source,
    ) -> Result<SendStatus> {
        use SendStatus::{Cancelled, Paused, Running};
        let (from_states, to, kind): (&[SendStatus], SendStatus, EventKind) = match action {
            SendAction::Pause => (&[Running], Paused, EventKind::SendPaused),
            SendAction::Resume => (&[Paused], Running, EventKind::SendResumed),
            SendAction::Cancel => (&[Running, Paused], Cancelled, EventKind::SendCancelled),
        };
        let mut tx = self.begin_write().await?;
        let send: Option<(i64, i64, SendStatus)> = sqlx::query_as(
            "SELECT s.id, s.issue_id, s.status FROM sends s JOIN issues i ON i.id = s.issue_id WHERE i.number = ?",
        )
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((send_id, issue_id, status)) = send else {
            return Err(Error::not_found(format!(
                "issue #{number} has not been sent; nothing to {}",
                action.verb()
            )));
        };
        if !from_states.contains(&status) {
            return Err(Error::conflict(format!(
                "the send of issue #{number} is {status}; it cannot be {}",
                action.past()
            )));
        }
        let reason = (action == SendAction::Pause).then_some("by the operator");
        sqlx::query(
            "UPDATE sends SET status = ?1, finished_at = CASE WHEN ?1 = 'cancelled' THEN ?2 END,
                    paused_reason = ?3
             WHERE id = ?4",
        )
        .bind(to)
        .bind(now())
        .bind(reason)
        .bind(send_id)
        .execute(&mut *tx)
        .await?;
        if action == SendAction::Cancel {
            sqlx::query("UPDATE issues SET status = 'cancelled', updated_at = ? WHERE id = ?")
                .bind(now())
                .bind(issue_id)
                .execute(&mut *tx)
                .await?;
        }
        let event = Event::new(kind, from)
            .issue(issue_id)
            .detail(serde_json::json!({ "from": status }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(status)
    }

    /// Progress of the send of issue `number`, if it has one.
    pub async fn send_progress(&self, number: u32) -> Result<Option<Progress>> {
        let send: Option<(i64, SendStatus, i64, Option<String>)> = sqlx::query_as(
            "SELECT s.id, s.status, s.total, s.paused_reason FROM sends s
             JOIN issues i ON i.id = s.issue_id WHERE i.number = ?",
        )
        .bind(number)
        .fetch_optional(self.pool())
        .await?;
        let Some((send_id, status, total, paused_reason)) = send else {
            return Ok(None);
        };
        let counts: Vec<(DeliveryStatus, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM deliveries WHERE send_id = ? GROUP BY status",
        )
        .bind(send_id)
        .fetch_all(self.pool())
        .await?;
        let mut p = Progress {
            paused_reason: paused_reason.filter(|_| status == SendStatus::Paused),
            status,
            total,
            queued: 0,
            sending: 0,
            sent: 0,
            retry: 0,
            failed: 0,
            suppressed: 0,
        };
        for (state, n) in counts {
            *match state {
                DeliveryStatus::Queued => &mut p.queued,
                DeliveryStatus::Sending => &mut p.sending,
                DeliveryStatus::Sent => &mut p.sent,
                DeliveryStatus::Retry => &mut p.retry,
                DeliveryStatus::Failed => &mut p.failed,
                DeliveryStatus::Suppressed => &mut p.suppressed,
            } = n;
        }
        Ok(Some(p))
    }
}

/// Records a group of sent messages; `rows` is a JSON array of `{id, message_id, reply}`.
/// Like `apply`, a delivery another worker took over after our lease ran out is left alone.
async fn apply_sent(tx: &mut SqliteConnection, rows: &str, at: &str) -> Result<()> {
    let changed: Vec<(i64, i64)> = sqlx::query_as(
        // MATERIALIZED: flattened into the UPDATE, the join is planned around a scan of
        // the whole table; materialized, it probes deliveries by primary key per row.
        "WITH j AS MATERIALIZED (
             SELECT json_extract(value, '$.id') AS id,
                    json_extract(value, '$.message_id') AS message_id,
                    json_extract(value, '$.reply') AS reply
             FROM json_each(?1))
         UPDATE deliveries AS d
         SET status = 'sent', sent_at = ?2, lease_until = NULL, updated_at = ?2,
             message_id = j.message_id, smtp_reply = j.reply
         FROM j WHERE d.id = j.id AND d.status = 'sending'
         RETURNING id, send_id",
    )
    .bind(rows)
    .bind(at)
    .fetch_all(&mut *tx)
    .await?;
    if changed.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&changed.iter().map(|(id, _)| id).collect::<Vec<_>>())?;
    sqlx::query(
        "INSERT INTO events (at, kind, source, subscriber_id, issue_id, delivery_id, detail)
         SELECT ?2, ?3, ?4, d.subscriber_id, s.issue_id, d.id,
                json_object('message_id', d.message_id, 'reply', d.smtp_reply)
         FROM deliveries d JOIN sends s ON s.id = d.send_id
         WHERE d.id IN (SELECT value FROM json_each(?1))
         ORDER BY d.id",
    )
    .bind(&ids)
    .bind(at)
    .bind(EventKind::Sent.as_str())
    .bind(Source::Worker.as_str())
    .execute(&mut *tx)
    .await?;
    // Counted here: in SQL the count per send walks the send's whole index range.
    let mut per_send: Vec<(i64, i64)> = Vec::new();
    for (_, send_id) in &changed {
        match per_send.iter_mut().find(|(id, _)| id == send_id) {
            Some((_, n)) => *n += 1,
            None => per_send.push((*send_id, 1)),
        }
    }
    for (send_id, n) in per_send {
        sqlx::query("UPDATE sends SET attempted = attempted + ? WHERE id = ?")
            .bind(n)
            .bind(send_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn apply(
    tx: &mut SqliteConnection,
    c: &Claimed,
    outcome: &Outcome,
    at: &str,
    policy: &Policy,
) -> Result<()> {
    let event = |kind| {
        Event::new(kind, Source::Worker)
            .subscriber(c.subscriber_id)
            .issue(c.issue_id)
            .delivery(c.id)
    };
    // Every UPDATE binds ?1, ?2 (outcome values), ?3 the time, ?4 the delivery id.
    let (update, v1, v2, recorded) = match outcome {
        Outcome::Sent { message_id, reply } => (
            "UPDATE deliveries SET status = 'sent', message_id = ?1, smtp_reply = ?2, sent_at = ?3,
                    lease_until = NULL, updated_at = ?3 WHERE id = ?4 AND status = 'sending'",
            message_id.as_str(),
            reply.as_str(),
            event(EventKind::Sent).detail(serde_json::json!({ "message_id": message_id, "reply": reply })),
        ),
        Outcome::Retry { due_at, error } => (
            "UPDATE deliveries SET status = 'retry', due_at = ?1, last_error = ?2, lease_until = NULL,
                    updated_at = ?3 WHERE id = ?4 AND status = 'sending'",
            due_at.as_str(),
            error.as_str(),
            event(EventKind::Retry).detail(serde_json::json!({ "due_at": due_at, "error": error })),
        ),
        Outcome::Failed(bounce) => (
            "UPDATE deliveries SET status = 'failed', last_error = ?1, smtp_reply = ?2, lease_until = NULL,
                    updated_at = ?3 WHERE id = ?4 AND status = 'sending'",
            bounce.error.as_str(),
            bounce.status.as_str(),
            event(EventKind::Failed).detail(bounce),
        ),
        Outcome::Suppressed { reason } => (
            "UPDATE deliveries SET status = 'suppressed', last_error = ?1, lease_until = NULL,
                    updated_at = ?3 WHERE id = ?4 AND status = 'sending' AND ?2 IS NOT NULL",
            reason.as_str(),
            "",
            event(EventKind::Suppressed).detail(serde_json::json!({ "reason": reason })),
        ),
        Outcome::PauseSend { error, .. } => (
            // Not this subscriber's fault: the attempt is given back and due again on resume.
            "UPDATE deliveries SET status = 'retry', due_at = ?3, attempts = attempts - 1,
                    last_error = ?1, lease_until = NULL, updated_at = ?3
             WHERE id = ?4 AND status = 'sending' AND ?2 IS NOT NULL",
            error.as_str(),
            "",
            event(EventKind::Retry).detail(serde_json::json!({ "error": error, "send": "paused" })),
        ),
    };
    let changed = sqlx::query(update)
        .bind(v1)
        .bind(v2)
        .bind(at)
        .bind(c.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if changed == 0 {
        // Another worker took this delivery over after our lease ran out; its result stands.
        return Ok(());
    }
    events::record(&mut *tx, &recorded).await?;
    if matches!(outcome, Outcome::Sent { .. } | Outcome::Failed(_)) {
        sqlx::query("UPDATE sends SET attempted = attempted + 1 WHERE id = ?")
            .bind(c.send_id)
            .execute(&mut *tx)
            .await?;
    }
    match outcome {
        Outcome::Failed(bounce) => bounce_subscriber(tx, c, bounce, at, policy).await?,
        Outcome::PauseSend { reason, error } => {
            let paused = sqlx::query(
                "UPDATE sends SET status = 'paused', paused_reason = ?
                 WHERE id = ? AND status = 'running'",
            )
            .bind(format!("{reason}: {error}"))
            .bind(c.send_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if paused == 1 {
                let e = Event::new(EventKind::SendPaused, Source::Worker)
                    .issue(c.issue_id)
                    .detail(serde_json::json!({ "reason": reason, "error": error }));
                events::record(&mut *tx, &e).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A refusal at send time goes through the same policy as a bounce that comes back by
/// mail: a hard bounce suppresses at once, soft ones count toward the limit, and a policy
/// block (not the subscriber's fault) is only recorded.
async fn bounce_subscriber(
    tx: &mut SqliteConnection,
    c: &Claimed,
    bounce: &Bounce,
    at: &str,
    policy: &Policy,
) -> Result<()> {
    let issue_number: i64 = sqlx::query_scalar("SELECT number FROM issues WHERE id = ?")
        .bind(c.issue_id)
        .fetch_one(&mut *tx)
        .await?;
    let target = Target {
        delivery_id: c.id,
        send_id: c.send_id,
        issue_id: c.issue_id,
        issue_number,
        subscriber_id: c.subscriber_id,
        email: c.email.clone(),
        message_id: None,
    };
    let status = bounce.enhanced.map(|e| e.to_string());
    let reason =
        crate::bounce::reason_of_reply(bounce.reply_code, status.as_deref(), &bounce.error);
    let (class, counted) = match bounce.kind {
        BounceKind::Hard => (BounceClass::Hard, true),
        BounceKind::Soft => (BounceClass::Soft, true),
        BounceKind::Blocked => (BounceClass::Soft, false),
    };
    let new = NewBounce {
        class,
        counted,
        reason: reason.as_str(),
        status: status.as_deref(),
        reply_code: bounce.reply_code,
        feedback_type: None,
        diagnostic: &bounce.error,
        recipient: &c.email,
        source: Source::Smtp,
    };
    bounces::apply(tx, &target, &new, policy, at).await?;
    Ok(())
}
