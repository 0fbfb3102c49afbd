//! SendGrid's Event Webhook, signed (ECDSA P-256 over timestamp + body).

use axum::http::HeaderMap;
use data_encoding::BASE64;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde_json::Value;

use super::der::{self, PublicKey};
use super::{Events, Rejection, failure, payload_key};
use crate::config::SendgridWebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent, Target};
use crate::domain::Provider;

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

pub struct Sendgrid {
    /// The uncompressed P-256 point of the verification key.
    point: Vec<u8>,
    max_age: u64,
}

impl Sendgrid {
    /// `s.public_key`: base64 DER SubjectPublicKeyInfo, as SendGrid shows it.
    pub fn new(s: &SendgridWebhookSettings) -> anyhow::Result<Option<Self>> {
        let public_key = s.public_key.trim();
        if public_key.is_empty() {
            return Ok(None);
        }
        let spki = BASE64
            .decode(public_key.as_bytes())
            .map_err(|_| anyhow::anyhow!("webhooks.sendgrid.public_key is not base64"))?;
        match der::spki_key(&spki) {
            Some(PublicKey::P256(point)) => Ok(Some(Self {
                point,
                max_age: s.max_age_seconds,
            })),
            _ => anyhow::bail!("webhooks.sendgrid.public_key is not a P-256 public key"),
        }
    }

    pub fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        let header = |name| headers.get(name).map(|v| v.as_bytes());
        let (Some(signature), Some(timestamp)) = (header(SIGNATURE), header(TIMESTAMP)) else {
            return Err(Rejection::Unauthorized(
                "SendGrid signature headers required",
            ));
        };
        let signature = BASE64
            .decode(signature.trim_ascii())
            .map_err(|_| Rejection::Unauthorized("SendGrid signature is not base64"))?;
        let mut signed = Vec::with_capacity(timestamp.len() + body.len());
        signed.extend_from_slice(timestamp);
        signed.extend_from_slice(body);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(&signed, &signature)
            .map_err(|_| Rejection::Unauthorized("bad SendGrid signature"))?;
        // The signature never expires by itself: without this, a captured request could be
        // replayed for ever (the event ids only stop replays of events already applied).
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let fresh = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
            .is_some_and(|t| now.abs_diff(t) <= self.max_age);
        if !fresh {
            return Err(Rejection::Unauthorized("stale SendGrid signature"));
        }
        Ok(())
    }

    pub fn read(&self, body: &[u8]) -> Result<Events, Rejection> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| Rejection::BadRequest(format!("malformed JSON: {e}")))?;
        let Some(list) = json.as_array() else {
            return Err(Rejection::BadRequest(
                "expected a JSON array of events".into(),
            ));
        };
        Ok(list.iter().filter_map(event).collect())
    }
}

fn event(e: &Value) -> Option<ProviderEvent> {
    let text = |name: &str| e[name].as_str().unwrap_or_default();
    let status = e["status"].as_str().map(str::to_string);
    let diagnostic = if text("reason").is_empty() {
        text("response")
    } else {
        text("reason")
    };
    let (class, reason) = match (text("event"), text("type")) {
        ("bounce", "blocked") => failure(false, status.as_deref(), diagnostic),
        ("bounce", _) => failure(true, status.as_deref(), diagnostic),
        // Not sent at all: SendGrid's own suppression lists say why.
        ("dropped", _) => match diagnostic {
            "Bounced Address" | "Invalid" => (EventClass::Hard, "userunknown".to_string()),
            "Spam Reporting Address" => (EventClass::Complaint, "feedback".to_string()),
            _ => return None,
        },
        ("spamreport", _) => (EventClass::Complaint, "feedback".to_string()),
        ("delivered", _) => (EventClass::Delivered, "delivered".to_string()),
        // processed, deferred (SendGrid retries), opens, clicks, …
        _ => return None,
    };
    let key = match text("sg_event_id") {
        "" => payload_key(e.to_string().as_bytes()),
        id => id.to_string(),
    };
    Some(ProviderEvent {
        provider: Provider::Sendgrid,
        class,
        reason,
        status,
        diagnostic: diagnostic.to_string(),
        feedback_type: (class == EventClass::Complaint).then(|| "abuse".to_string()),
        target: Target {
            delivery_id: None,
            // Over SMTP, `smtp-id` is the Message-ID we wrote; sg_message_id is SendGrid's.
            message_id: e["smtp-id"]
                .as_str()
                .map(|id| id.trim().trim_matches(['<', '>']).to_string()),
            email: e["email"].as_str().map(str::to_string),
        },
        replay_keys: vec![key],
    })
}
