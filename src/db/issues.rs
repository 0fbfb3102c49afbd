//! Issues: drafts, finalizing (content frozen by hash), and lookups.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::events::{self, Event, EventKind, Source};
use super::{Db, Error, Result, now};
use crate::domain::{Issue, IssueStatus};

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    Updated,
    Unchanged,
}

/// An issue as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StoredIssue {
    pub id: i64,
    pub status: IssueStatus,
    pub content_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finalized_at: Option<String>,
    pub issue: Issue,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    status: IssueStatus,
    content: String,
    content_hash: Option<String>,
    created_at: String,
    updated_at: String,
    finalized_at: Option<String>,
}

impl TryFrom<Row> for StoredIssue {
    type Error = Error;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id,
            status: r.status,
            issue: serde_json::from_str(&r.content)
                .map_err(|e| Error::internal(format!("stored content of issue {}: {e}", r.id)))?,
            content_hash: r.content_hash,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finalized_at: r.finalized_at,
        })
    }
}

const COLUMNS: &str = "id, status, content, content_hash, created_at, updated_at, finalized_at";

impl Db {
    /// Stores `issue` as a draft, or updates the draft with the same number.
    /// A finalized issue is never changed.
    pub async fn import_issue(
        &self,
        issue: &Issue,
        source: &str,
        from: Source,
    ) -> Result<Imported> {
        let content = serde_json::to_string(issue)?;
        let mut tx = self.begin_write().await?;
        let existing: Option<(i64, IssueStatus, String)> =
            sqlx::query_as("SELECT id, status, content FROM issues WHERE number = ?")
                .bind(issue.number)
                .fetch_optional(&mut *tx)
                .await?;
        let at = now();
        let (id, outcome) = match existing {
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO issues (number, title, subject, content, source, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(issue.number)
                .bind(&issue.title)
                .bind(&issue.subject)
                .bind(&content)
                .bind(source)
                .bind(&at)
                .bind(&at)
                .fetch_one(&mut *tx)
                .await?;
                (id, Imported::Created)
            }
            Some((_, status, _)) if status != IssueStatus::Draft => {
                return Err(Error::conflict(format!(
                    "issue #{} is {status}: its content is frozen and cannot be changed; \
                     import the corrected issue under a new number",
                    issue.number
                )));
            }
            Some((id, _, old)) if old == content => (id, Imported::Unchanged),
            Some((id, _, _)) => {
                sqlx::query(
                    "UPDATE issues SET title = ?, subject = ?, content = ?, source = ?, updated_at = ?
                     WHERE id = ? AND status = 'draft'",
                )
                .bind(&issue.title)
                .bind(&issue.subject)
                .bind(&content)
                .bind(source)
                .bind(&at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                (id, Imported::Updated)
            }
        };
        let kind = match outcome {
            Imported::Created => Some(EventKind::IssueImported),
            Imported::Updated => Some(EventKind::IssueUpdated),
            Imported::Unchanged => None,
        };
        if let Some(kind) = kind {
            let detail = serde_json::json!({ "number": issue.number, "source": source });
            events::record(&mut tx, &Event::new(kind, from).issue(id).detail(detail)).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn issue(&self, number: u32) -> Result<Option<StoredIssue>> {
        let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM issues WHERE number = ?"
        )))
        .bind(number)
        .fetch_optional(self.pool())
        .await?;
        row.map(StoredIssue::try_from).transpose()
    }

    /// Like [`Db::issue`], with an operator-facing error when it does not exist.
    pub async fn require_issue(&self, number: u32) -> Result<StoredIssue> {
        self.issue(number)
            .await?
            .ok_or_else(|| Error::not_found(format!("there is no issue #{number}")))
    }

    pub async fn issue_by_id(&self, id: i64) -> Result<StoredIssue> {
        let row: Row = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM issues WHERE id = ?"
        )))
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        row.try_into()
    }

    pub async fn issues(&self) -> Result<Vec<StoredIssue>> {
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM issues ORDER BY number DESC"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(StoredIssue::try_from).collect()
    }

    /// Freezes a draft: records its content hash. Returns false if it was already frozen.
    pub async fn finalize_issue(&self, number: u32, from: Source) -> Result<(bool, StoredIssue)> {
        let stored = self.require_issue(number).await?;
        if stored.status != IssueStatus::Draft {
            return Ok((false, stored));
        }
        // Stored before control characters were refused at import: such content could not
        // be rendered at send time, so it is never frozen.
        if let Some(c) = stored.issue.control_characters().first() {
            return Err(Error::invalid(format!(
                "issue #{number} cannot be finalized: {c}; import a corrected draft"
            )));
        }
        let hash = stored.issue.content_hash().0;
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE issues SET status = 'finalized', content_hash = ?, finalized_at = ?, updated_at = ?
             WHERE id = ? AND status = 'draft'",
        )
        .bind(&hash)
        .bind(now())
        .bind(now())
        .bind(stored.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            let detail = serde_json::json!({ "number": number, "content_hash": hash });
            let event = Event::new(EventKind::IssueFinalized, from)
                .issue(stored.id)
                .detail(detail);
            events::record(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok((changed == 1, self.require_issue(number).await?))
    }
}
