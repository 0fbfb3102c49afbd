//! Operations on issues that the CLI, the admin API and the dashboard share, so that each
//! interface only reads its input and shows the result: rendering a preview for a sample
//! subscriber, and queueing a send.

use anyhow::{Context as _, Result};

use crate::config::Settings;
use crate::db::issues::StoredIssue;
use crate::db::{Db, Source};
use crate::domain::{Schedule, ScheduleError, SubscriberEmail};
use crate::message::{MessageFactory, Recipient};
use crate::render::Renderer;

/// An issue as a sample subscriber would get it.
pub struct IssuePreview {
    pub html: String,
    pub text: String,
    /// The whole message (.eml).
    pub eml: Vec<u8>,
    /// The filled MJML before rendering.
    pub mjml: String,
}

/// Renders `stored` for a sample subscriber (`email`, `name`). The sample has delivery and
/// subscriber id 0: its links' tokens verify but name no one.
pub fn preview(
    settings: &Settings,
    factory: &MessageFactory,
    stored: &StoredIssue,
    email: &str,
    name: &str,
) -> Result<IssuePreview> {
    let email = SubscriberEmail::parse(email).with_context(|| format!("--email {email:?}"))?;
    let renderer = Renderer::for_list_mail(settings)?;
    let rendered = renderer.render(&stored.issue)?;
    let preview = factory.preview(
        &rendered,
        &Recipient {
            delivery_id: 0,
            subscriber_id: 0,
            email: email.as_str(),
            name,
            nonce: "preview",
            attributes: "{}",
        },
    )?;
    Ok(IssuePreview {
        html: preview.html,
        text: preview.text,
        eml: preview.message.bytes,
        mjml: renderer.mjml_source(&stored.issue)?,
    })
}

/// A send that was queued.
#[derive(Debug, Clone)]
pub struct Queued {
    pub deliveries: i64,
    pub schedule: Schedule,
}

/// Why a send was not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A start time or expiry that is not one; the caller names the field its way.
    #[error("{0}")]
    Schedule(ScheduleError),
    /// The settings would send unsubscribe links that providers ignore.
    #[error("{0:#}")]
    Settings(anyhow::Error),
    #[error(transparent)]
    Db(#[from] crate::db::Error),
}

/// Queues issue `number` for every active subscriber, starting at `at` (RFC 3339) or now,
/// cancelled if not started `expire_after` (e.g. "6h") after that.
pub async fn queue_send(
    settings: &Settings,
    db: &Db,
    number: u32,
    at: Option<&str>,
    expire_after: Option<&str>,
    from: Source,
) -> std::result::Result<Queued, QueueError> {
    let schedule = Schedule::parse(at, expire_after).map_err(QueueError::Schedule)?;
    settings
        .check_unsubscribe_links()
        .map_err(QueueError::Settings)?;
    let (_, deliveries) = db.schedule_send(number, &schedule, from).await?;
    Ok(Queued {
        deliveries,
        schedule,
    })
}
