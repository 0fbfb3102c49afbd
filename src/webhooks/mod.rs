//! Bounce and complaint webhooks of ESP relays: each provider's authentication, and its
//! events read into [`ProviderEvent`]s for [`crate::db::Db::apply_provider_event`].
//!
//! # Layout
//!
//! - `ses`: Amazon SES through SNS (RSA signatures, certificates fetched by `fetch`).
//! - `postmark`: HTTP Basic credentials. `sendgrid`: ECDSA P-256 signatures.
//!   `mailgun`: HMAC-SHA256 over timestamp and a one-time token.

mod fetch;
mod mailgun;
mod postmark;
mod sendgrid;
mod ses;

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::bounce::{self, Reason};
use crate::config::WebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent};
use crate::domain::Provider;
use crate::token::TokenKeys;

/// A request's events, one per recipient.
pub type Events = Vec<ProviderEvent>;

/// Why a request is refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// Unknown provider, or one not configured: the endpoint does not exist.
    #[error("no such webhook")]
    NotFound,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    BadRequest(String),
    /// Authentication needs something that failed for now (fetching SNS's certificate):
    /// the provider should retry.
    #[error("{0:#}")]
    Unavailable(anyhow::Error),
}

/// The configured providers.
pub struct Webhooks {
    keys: TokenKeys,
    /// Requests per client IP (`webhooks.rate_per_second`, `webhooks.burst`).
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    ses: Option<ses::Ses>,
    postmark: Option<postmark::Postmark>,
    sendgrid: Option<sendgrid::Sendgrid>,
    mailgun: Option<mailgun::Mailgun>,
}

impl Webhooks {
    pub fn new(s: &WebhookSettings, keys: TokenKeys) -> anyhow::Result<Self> {
        let rate = NonZeroU32::new(s.rate_per_second)
            .ok_or_else(|| anyhow::anyhow!("webhooks.rate_per_second must be at least 1"))?;
        let burst = NonZeroU32::new(s.burst.max(1)).expect("max(1) is non-zero");
        Ok(Self {
            keys,
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            ses: ses::Ses::new(&s.ses)?,
            postmark: postmark::Postmark::new(&s.postmark),
            sendgrid: sendgrid::Sendgrid::new(&s.sendgrid)?,
            mailgun: mailgun::Mailgun::new(&s.mailgun),
        })
    }

    /// The per-client-IP limit the HTTP layer applies before a request is read: it bounds
    /// the work forged requests can cause (SNS certificate fetches among it).
    pub fn limiter(&self) -> &DefaultKeyedRateLimiter<IpAddr> {
        &self.limiter
    }

    /// Authenticates a request and reads its events. Nothing is read before the request
    /// is known to come from the provider (SNS: from one of our topics).
    pub async fn read(
        &self,
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Events, Rejection> {
        match provider {
            Provider::Ses => {
                let ses = self.ses.as_ref().ok_or(Rejection::NotFound)?;
                ses.read(self, body).await
            }
            Provider::Postmark => {
                let postmark = self.postmark.as_ref().ok_or(Rejection::NotFound)?;
                postmark.authenticate(headers)?;
                postmark.read(body)
            }
            Provider::Sendgrid => {
                let sendgrid = self.sendgrid.as_ref().ok_or(Rejection::NotFound)?;
                sendgrid.authenticate(headers, body)?;
                sendgrid.read(body)
            }
            Provider::Mailgun => {
                let mailgun = self.mailgun.as_ref().ok_or(Rejection::NotFound)?;
                mailgun.read(self, body)
            }
        }
    }

    /// The delivery named by our VERP envelope sender, `bounces+TOKEN@…`.
    fn verp_delivery(&self, address: &str) -> Option<i64> {
        let address = address.trim().trim_matches(['<', '>']);
        let (local, _) = address.rsplit_once('@')?;
        let token = local.strip_prefix("bounces+")?;
        self.keys.verify_bounce(&token.to_ascii_lowercase())
    }
}

/// Class and reason of a failed delivery. The relay says whether it is permanent; the
/// reason says whether that is the address's fault. A permanent refusal that speaks of
/// our message or reputation (a block list, DMARC, content) only counts as soft, as it
/// does in returned mail: a provider blocking us must not empty the list of its users.
fn failure(permanent: bool, status: Option<&str>, diagnostic: &str) -> (EventClass, String) {
    let reason = bounce::failure_reason(status, diagnostic);
    use Reason::*;
    let address_fault = matches!(
        reason,
        UserUnknown | HostUnknown | HasMoved | NotAccept | Undefined | OnHold
    );
    let class = if permanent && address_fault {
        EventClass::Hard
    } else {
        EventClass::Soft
    };
    (class, reason.as_str().to_string())
}

/// A replay key for events without an id of their own.
fn payload_key(bytes: &[u8]) -> String {
    format!(
        "sha256:{}",
        data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_failures_are_hard_only_when_the_address_is_at_fault() {
        assert_eq!(
            failure(true, Some("5.1.1"), "smtp; 550 5.1.1 user unknown"),
            (EventClass::Hard, "userunknown".into())
        );
        assert_eq!(
            failure(true, None, "").0,
            EventClass::Hard,
            "no detail: trust the relay"
        );
        assert_eq!(
            failure(false, Some("5.1.1"), "550 5.1.1 user unknown").0,
            EventClass::Soft
        );
        let (class, reason) = failure(
            true,
            Some("5.7.1"),
            "550 5.7.1 Service unavailable; client host blocked using Spamhaus",
        );
        assert_eq!((class, reason.as_str()), (EventClass::Soft, "blocked"));
    }
}
