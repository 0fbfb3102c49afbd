//! The public archive's reads: which issues readers may see, and when that last changed.
//!
//! An issue is public once its send has started: its status is `sending` and the send's
//! start time has come (messages carrying the link to its page are going out), or it is
//! `sent`. A draft, a finalized issue, a send scheduled for later and a cancelled send are
//! never public; an issue whose send is cancelled mid-way is withdrawn.

use super::{Db, Result};

/// A public issue as the index pages and the feeds list it, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub number: u32,
    pub title: String,
    pub subject: String,
    pub preheader: String,
    /// The issue's own date (`YYYY-MM-DD`), as its editor wrote it.
    pub date: String,
    /// When its send started (the stored time format): its date in the feeds.
    pub published_at: String,
}

/// Every public issue, newest first, and the latest change that could alter the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedList {
    pub issues: Vec<Published>,
    /// The latest status change of an issue that is or was public (a cancellation
    /// withdraws one), or publication time; `None` when nothing was ever published.
    pub changed_at: Option<String>,
}

type Row = (u32, String, String, String, String, String);

impl Db {
    /// The issues readers may see at `now` (the stored time format), newest first.
    pub async fn published_issues(&self, now: &str) -> Result<PublishedList> {
        // A send scheduled in the past starts at once, so it starts at the later of the two.
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT number, title, subject, preheader, date, published_at FROM (
                 SELECT i.number, i.title, i.subject, i.status,
                        coalesce(json_extract(i.content, '$.preheader'), '') AS preheader,
                        coalesce(json_extract(i.content, '$.date'), '') AS date,
                        CASE WHEN s.start_at > s.created_at THEN s.start_at ELSE s.created_at END
                            AS published_at
                 FROM issues i JOIN sends s ON s.issue_id = i.id
                 WHERE i.status IN ('sending', 'sent'))
             WHERE status = 'sent' OR published_at <= ?1
             ORDER BY published_at DESC, number DESC",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let changed: Option<String> = sqlx::query_scalar(
            "SELECT max(updated_at) FROM issues WHERE status IN ('sending', 'sent', 'cancelled')",
        )
        .fetch_one(self.pool())
        .await?;
        let issues: Vec<Published> = rows
            .into_iter()
            .map(
                |(number, title, subject, preheader, date, published_at)| Published {
                    number,
                    title,
                    subject,
                    preheader,
                    date,
                    published_at,
                },
            )
            .collect();
        // A scheduled send becomes public when its time comes, with no write at all.
        let newest = issues.iter().map(|p| p.published_at.clone()).max();
        Ok(PublishedList {
            changed_at: changed.into_iter().chain(newest).max(),
            issues,
        })
    }
}
