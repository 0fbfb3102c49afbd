//! What the operator's dashboard reads: list growth, send summaries and their timelines,
//! bounces over time. Read-only; every statement is bounded by a time window, a send or a
//! limit, and reads through an index where the table grows with the list.

use serde::Serialize;

use super::{Db, Result};
use crate::domain::SendStatus;

/// Subscribers who joined and left on one day (UTC).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct DayGrowth {
    /// `YYYY-MM-DD`
    pub day: String,
    pub joined: i64,
    pub left: i64,
}

/// A send with its outcome so far, for the overview and the issue list.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SendSummary {
    pub send_id: i64,
    pub number: i64,
    pub title: String,
    pub status: SendStatus,
    pub created_at: String,
    pub start_at: Option<String>,
    pub expires_at: Option<String>,
    pub finished_at: Option<String>,
    pub paused_reason: Option<String>,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub suppressed: i64,
    /// Deliveries with a hard bounce (at send time or reported later).
    pub hard_bounces: i64,
    pub soft_bounces: i64,
    pub complaints: i64,
    /// Recipients of this send who have unsubscribed since it started.
    pub unsubscribed: i64,
}

/// Messages sent in one minute (UTC, `YYYY-MM-DDTHH:MM`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct MinuteCount {
    pub minute: String,
    pub sent: i64,
}

/// One recipient domain of a send.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DomainOutcome {
    pub domain: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
}

/// Bounces of one class and reason.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ReasonCount {
    pub class: String,
    pub reason: String,
    pub count: i64,
}

/// Bounces per day per key (class, reason or domain).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DayKeyCount {
    pub day: String,
    pub key: String,
    pub count: i64,
}

/// What bounces are grouped by over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKey {
    Class,
    Reason,
    Domain,
}

const SEND_SUMMARY: &str = "
    SELECT s.id AS send_id, i.number, i.title, s.status, s.created_at, s.start_at,
           s.expires_at, s.finished_at, s.paused_reason, s.total,
           (SELECT count(*) FROM deliveries d WHERE d.send_id = s.id AND d.status = 'sent') AS sent,
           (SELECT count(*) FROM deliveries d WHERE d.send_id = s.id AND d.status = 'failed') AS failed,
           (SELECT count(*) FROM deliveries d WHERE d.send_id = s.id AND d.status = 'suppressed') AS suppressed,
           (SELECT count(DISTINCT b.delivery_id) FROM bounces b
             WHERE b.issue_id = s.issue_id AND b.class = 'hard') AS hard_bounces,
           (SELECT count(DISTINCT b.delivery_id) FROM bounces b
             WHERE b.issue_id = s.issue_id AND b.class = 'soft') AS soft_bounces,
           (SELECT count(DISTINCT b.delivery_id) FROM bounces b
             WHERE b.issue_id = s.issue_id AND b.class = 'complaint') AS complaints,
           (SELECT count(*) FROM deliveries d JOIN subscribers sub ON sub.id = d.subscriber_id
             WHERE d.send_id = s.id AND sub.status = 'unsubscribed'
               AND sub.unsubscribed_at >= s.created_at) AS unsubscribed
    FROM sends s JOIN issues i ON i.id = s.issue_id";

impl Db {
    /// Joined and left per day since `since_day` (`YYYY-MM-DD`), days without either
    /// omitted. "Left" is the first of unsubscribing, bouncing or complaining; erased
    /// subscribers are gone from both counts.
    pub async fn growth_per_day(&self, since_day: &str) -> Result<Vec<DayGrowth>> {
        Ok(sqlx::query_as(
            "WITH joined AS (
                 SELECT substr(created_at, 1, 10) AS day, count(*) AS n FROM subscribers
                 WHERE created_at >= ?1 GROUP BY day),
             gone AS (
                 SELECT substr(min(coalesce(unsubscribed_at, '9'), coalesce(bounced_at, '9'),
                                   coalesce(complained_at, '9')), 1, 10) AS day, count(*) AS n
                 FROM subscribers
                 WHERE status IN ('unsubscribed', 'bounced', 'complained')
                   AND min(coalesce(unsubscribed_at, '9'), coalesce(bounced_at, '9'),
                           coalesce(complained_at, '9')) >= ?1
                 GROUP BY day),
             days AS (SELECT day FROM joined UNION SELECT day FROM gone)
             SELECT days.day, coalesce(joined.n, 0) AS joined, coalesce(gone.n, 0) AS left
             FROM days LEFT JOIN joined USING (day) LEFT JOIN gone USING (day)
             ORDER BY days.day",
        )
        .bind(since_day)
        .fetch_all(self.pool())
        .await?)
    }

    /// The latest `limit` sends, newest first, with their outcomes.
    pub async fn recent_sends(&self, limit: u32) -> Result<Vec<SendSummary>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SEND_SUMMARY} ORDER BY s.created_at DESC, s.id DESC LIMIT ?"
        )))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The send of issue `number`, with its outcomes.
    pub async fn send_summary(&self, number: u32) -> Result<Option<SendSummary>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SEND_SUMMARY} WHERE i.number = ?"
        )))
        .bind(number)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Messages of the send sent per minute, minutes without any omitted.
    pub async fn sent_per_minute(&self, send_id: i64) -> Result<Vec<MinuteCount>> {
        Ok(sqlx::query_as(
            "SELECT substr(sent_at, 1, 16) AS minute, count(*) AS sent FROM deliveries
             WHERE send_id = ? AND sent_at IS NOT NULL GROUP BY minute ORDER BY minute",
        )
        .bind(send_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Messages of the send sent at or after `since`: the recent rate behind the ETA.
    pub async fn sent_since_in(&self, send_id: i64, since: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT count(*) FROM deliveries WHERE sent_at >= ? AND send_id = ?",
            )
            .bind(since)
            .bind(send_id)
            .fetch_one(self.pool())
            .await?,
        )
    }

    /// The send's `limit` largest recipient domains and how their deliveries went.
    pub async fn send_domains(&self, send_id: i64, limit: u32) -> Result<Vec<DomainOutcome>> {
        Ok(sqlx::query_as(
            "SELECT lower(substr(sub.email, instr(sub.email, '@') + 1)) AS domain,
                    count(*) AS total, sum(d.status = 'sent') AS sent,
                    sum(d.status = 'failed') AS failed,
                    sum(d.status IN ('queued', 'sending', 'retry')) AS pending
             FROM deliveries d JOIN subscribers sub ON sub.id = d.subscriber_id
             WHERE d.send_id = ? GROUP BY domain ORDER BY total DESC, domain LIMIT ?",
        )
        .bind(send_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Bounces of the issue's send by class and reason, most frequent first.
    pub async fn send_bounce_reasons(&self, issue_number: u32) -> Result<Vec<ReasonCount>> {
        Ok(sqlx::query_as(
            "SELECT b.class, b.reason, count(*) AS count FROM bounces b
             JOIN issues i ON i.id = b.issue_id WHERE i.number = ?
             GROUP BY b.class, b.reason ORDER BY count DESC, b.class, b.reason",
        )
        .bind(issue_number)
        .fetch_all(self.pool())
        .await?)
    }

    /// Bounces per day since `since` (a stored timestamp), by class, reason or domain.
    pub async fn bounces_per_day(&self, since: &str, key: BounceKey) -> Result<Vec<DayKeyCount>> {
        let column = match key {
            BounceKey::Class => "class",
            BounceKey::Reason => "reason",
            BounceKey::Domain => "domain",
        };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT substr(received_at, 1, 10) AS day, {column} AS key, count(*) AS count
             FROM bounces WHERE received_at >= ? GROUP BY day, key ORDER BY day, key"
        )))
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }
}
