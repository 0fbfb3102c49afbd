//! The append-only event log: what happened, to whom, from where.

use super::Result;
use serde::Serialize;
use sqlx::SqliteConnection;

use crate::domain::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    IssueImported,
    IssueUpdated,
    IssueFinalized,
    SendCreated,
    SendFinished,
    SendPaused,
    SendResumed,
    SendCancelled,
    /// Suppressed: a hard bounce, or the soft-bounce limit reached.
    Bounced,
    /// A soft bounce, counted toward the limit or (our message's fault) only recorded.
    SoftBounce,
    /// A complaint (ARF report or an ESP's spam report): suppressed.
    Complained,
    Subscribed,
    /// Name or attributes changed (import, admin API).
    SubscriberUpdated,
    /// Erased on request; the event keeps no address.
    SubscriberRemoved,
    /// A double opt-in link was confirmed: the subscriber became active.
    Confirmed,
    Unsubscribed,
    Resubscribed,
    Sent,
    Retry,
    Failed,
    Suppressed,
    /// A dashboard operator account was created, changed or removed (detail: `operator`).
    OperatorAdded,
    OperatorPasswordChanged,
    OperatorRemoved,
    /// Dashboard sessions: sign-in, a refused sign-in, sign-out, sign-out everywhere.
    OperatorSignedIn,
    OperatorSignInRefused,
    OperatorSignedOut,
    OperatorSignedOutEverywhere,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IssueImported => "issue_imported",
            Self::IssueUpdated => "issue_updated",
            Self::IssueFinalized => "issue_finalized",
            Self::SendCreated => "send_created",
            Self::SendFinished => "send_finished",
            Self::SendPaused => "send_paused",
            Self::SendResumed => "send_resumed",
            Self::SendCancelled => "send_cancelled",
            Self::Bounced => "bounced",
            Self::SoftBounce => "soft_bounce",
            Self::Complained => "complained",
            Self::Subscribed => "subscribed",
            Self::SubscriberUpdated => "subscriber_updated",
            Self::SubscriberRemoved => "subscriber_removed",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
            Self::Resubscribed => "resubscribed",
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::OperatorAdded => "operator_added",
            Self::OperatorPasswordChanged => "operator_password_changed",
            Self::OperatorRemoved => "operator_removed",
            Self::OperatorSignedIn => "operator_signed_in",
            Self::OperatorSignInRefused => "operator_sign_in_refused",
            Self::OperatorSignedOut => "operator_signed_out",
            Self::OperatorSignedOutEverywhere => "operator_signed_out_everywhere",
        }
    }
}

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    CsvImport,
    Worker,
    Smtp,
    Http,
    /// RFC 8058 one-click POST from a mail client's unsubscribe button.
    OneClick,
    /// The button on the unsubscribe page.
    Page,
    /// A message to the List-Unsubscribe mailto address.
    Mailto,
    /// An operator, through the CLI or the admin API.
    Admin,
    /// An operator signed in to the web dashboard (/admin).
    Dashboard,
    /// The public subscribe form (or its JSON twin) and the confirmation page.
    Form,
    /// An ESP relay's bounce or complaint webhook.
    Webhook(Provider),
    /// Returned mail: a delivery status notification or a mail server's notice.
    Dsn,
    /// A complaint report (RFC 5965) from a mailbox provider's feedback loop.
    Arf,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::CsvImport => "import",
            Self::Worker => "worker",
            Self::Smtp => "smtp",
            Self::Http => "http",
            Self::OneClick => "one-click",
            Self::Page => "page",
            Self::Mailto => "mailto",
            Self::Admin => "admin",
            Self::Dashboard => "dashboard",
            Self::Form => "form",
            Self::Webhook(p) => p.source(),
            Self::Dsn => "dsn",
            Self::Arf => "arf",
        }
    }
}

/// One entry for the log.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventKind,
    pub source: Source,
    pub subscriber_id: Option<i64>,
    pub issue_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub detail: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventKind, source: Source) -> Self {
        Self {
            kind,
            source,
            subscriber_id: None,
            issue_id: None,
            delivery_id: None,
            detail: serde_json::Value::Object(Default::default()),
        }
    }
    pub fn subscriber(mut self, id: i64) -> Self {
        self.subscriber_id = Some(id);
        self
    }
    pub fn issue(mut self, id: i64) -> Self {
        self.issue_id = Some(id);
        self
    }
    pub fn delivery(mut self, id: i64) -> Self {
        self.delivery_id = Some(id);
        self
    }
    pub fn detail(mut self, detail: impl Serialize) -> Self {
        self.detail = serde_json::to_value(detail).unwrap_or_default();
        self
    }
}

/// Appends an event inside the caller's transaction, so the change and its record land together.
pub async fn record(conn: &mut SqliteConnection, event: &Event) -> Result<()> {
    sqlx::query(
        "INSERT INTO events (at, kind, source, subscriber_id, issue_id, delivery_id, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(super::now())
    .bind(event.kind.as_str())
    .bind(event.source.as_str())
    .bind(event.subscriber_id)
    .bind(event.issue_id)
    .bind(event.delivery_id)
    .bind(event.detail.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored event, for audits and tests.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub source: String,
    pub subscriber_id: Option<i64>,
    pub issue_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub detail: String,
}

pub async fn for_issue(pool: &sqlx::SqlitePool, issue_id: i64) -> Result<Vec<StoredEvent>> {
    Ok(
        sqlx::query_as("SELECT * FROM events WHERE issue_id = ? ORDER BY id")
            .bind(issue_id)
            .fetch_all(pool)
            .await?,
    )
}

pub async fn for_subscriber(
    pool: &sqlx::SqlitePool,
    subscriber_id: i64,
) -> Result<Vec<StoredEvent>> {
    Ok(
        sqlx::query_as("SELECT * FROM events WHERE subscriber_id = ? ORDER BY id")
            .bind(subscriber_id)
            .fetch_all(pool)
            .await?,
    )
}
