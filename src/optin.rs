//! Double opt-in confirmations: the policy (how long links live, how often one address may
//! be mailed) and sending them in the background so an HTTP request never waits on a relay.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::db::Db;
use crate::db::optin::Outstanding;
use crate::message::MessageFactory;
use crate::render::Renderer;
use crate::token::ConfirmClaim;
use crate::transport::Transport;

/// How long a confirmation link works: long enough for a week away from the inbox.
pub const LINK_VALID: Duration = Duration::days(7);

/// At most one confirmation per address in this interval, however often it is requested.
pub const RESEND_AFTER: Duration = Duration::hours(1);

/// Confirmations handed to the transport at once; a burst of sign-ups against a slow relay
/// waits its turn instead of opening a connection each.
const SENDING: usize = 4;

/// Confirmations accepted but not yet sent. Beyond this the request is answered as usual
/// but the send is dropped (and logged), so a flood cannot pile up tasks without bound;
/// its stored send time is cleared, so the person can simply try again.
const QUEUED: u32 = 256;

/// Renders, builds and sends confirmation messages.
pub struct Confirmations {
    db: Db,
    transport: Transport,
    renderer: Renderer,
    factory: MessageFactory,
    base_url: String,
    sending: Semaphore,
    queued: Arc<Semaphore>,
}

impl Confirmations {
    /// `settings` choose the transport, the templates and the links' base URL.
    pub fn new(settings: &Settings, db: Db, factory: MessageFactory) -> Result<Self> {
        Ok(Self {
            db,
            transport: Transport::from_settings(settings)?,
            renderer: Renderer::new(&settings.newsletter, None)?,
            factory,
            base_url: settings
                .newsletter
                .base_url
                .trim_end_matches('/')
                .to_string(),
            sending: Semaphore::new(SENDING),
            queued: Arc::new(Semaphore::new(QUEUED as usize)),
        })
    }

    /// The confirmation link for a subscriber, made at `issued_at`.
    pub fn link(&self, subscriber_id: i64, issued_at: OffsetDateTime) -> String {
        let token = self.factory.keys().confirm(ConfirmClaim {
            subscriber_id,
            issued_at,
        });
        format!("{}/confirm/{token}", self.base_url)
    }

    /// Sends the confirmation in the background. A failure is logged and the stored send
    /// time cleared, so the next request for the address sends again instead of an hour on.
    pub fn spawn(self: &Arc<Self>, outstanding: Outstanding) {
        let Ok(slot) = self.queued.clone().try_acquire_owned() else {
            tracing::warn!(
                subscriber = outstanding.subscriber_id,
                "too many confirmations waiting to be sent; dropping this one"
            );
            let this = self.clone();
            tokio::spawn(async move { this.forget(&outstanding).await });
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let result = match this.sending.acquire().await {
                Ok(_sending) => this.send(&outstanding).await,
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::error!(
                    subscriber = outstanding.subscriber_id,
                    error = format!("{e:#}"),
                    "confirmation email not sent"
                );
                this.forget(&outstanding).await;
            }
            drop(slot);
        });
    }

    /// Renders and sends one confirmation now.
    pub async fn send(&self, o: &Outstanding) -> Result<()> {
        let url = self.link(o.subscriber_id, o.sent_at);
        let rendered = self
            .renderer
            .render_confirmation(&o.email, &url, LINK_VALID.whole_days())
            .context("rendering the confirmation")?;
        let message = self
            .factory
            .confirmation(&rendered, o.subscriber_id, &o.email)?;
        let reply = self
            .transport
            .send(&message)
            .await
            .context("handing the confirmation to the transport")?;
        tracing::info!(subscriber = o.subscriber_id, %reply, "confirmation sent");
        Ok(())
    }

    /// Waits, up to `limit`, for the confirmations in flight to be handed over: called at
    /// shutdown, so a request answered just before SIGTERM still gets its email.
    pub async fn drain(&self, limit: std::time::Duration) {
        let all = self.queued.acquire_many(QUEUED);
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("shutting down with confirmation emails still unsent");
        }
    }

    async fn forget(&self, o: &Outstanding) {
        if let Err(e) = self
            .db
            .confirmation_failed(o.subscriber_id, o.sent_at)
            .await
        {
            tracing::error!(
                subscriber = o.subscriber_id,
                error = format!("{e:#}"),
                "clearing the time of an unsent confirmation"
            );
        }
    }
}
