//! Mailgun's webhooks: HMAC-SHA256 over timestamp + token, each token accepted once.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::{Events, Rejection, Webhooks, failure, payload_key};
use crate::config::MailgunWebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent, Target};
use crate::domain::Provider;

pub struct Mailgun {
    key: Hmac<Sha256>,
    max_age: u64,
}

impl Mailgun {
    pub fn new(s: &MailgunWebhookSettings) -> Option<Self> {
        if s.signing_key.is_empty() {
            return None;
        }
        Some(Self {
            key: Hmac::new_from_slice(s.signing_key.expose().as_bytes())
                .expect("HMAC takes any key length"),
            max_age: s.max_age_seconds,
        })
    }

    pub fn read(&self, hooks: &Webhooks, body: &[u8]) -> Result<Events, Rejection> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| Rejection::BadRequest(format!("malformed JSON: {e}")))?;
        let token = self.authenticate(&json["signature"])?;
        let data = &json["event-data"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let status = &data["delivery-status"];
        let diagnostic = [&status["message"], &status["description"]]
            .into_iter()
            .map(text)
            .find(|s| !s.is_empty())
            .unwrap_or_default();
        let enhanced = status["enhanced-code"].as_str();
        let (class, reason) = match data["event"].as_str().unwrap_or_default() {
            "failed" => {
                let permanent = data["severity"].as_str() == Some("permanent");
                failure(permanent, enhanced, &diagnostic)
            }
            "complained" => (EventClass::Complaint, "feedback".to_string()),
            "delivered" => (EventClass::Delivered, "delivered".to_string()),
            _ => return Ok(Vec::new()),
        };
        let event_key = match data["id"].as_str() {
            Some(id) if !id.is_empty() => format!("event:{id}"),
            _ => payload_key(data.to_string().as_bytes()),
        };
        Ok(vec![ProviderEvent {
            provider: Provider::Mailgun,
            class,
            reason,
            status: enhanced.map(str::to_string),
            diagnostic,
            feedback_type: (class == EventClass::Complaint).then(|| "abuse".to_string()),
            target: Target {
                delivery_id: data["envelope"]["sender"]
                    .as_str()
                    .and_then(|s| hooks.verp_delivery(s)),
                message_id: data["message"]["headers"]["message-id"]
                    .as_str()
                    .map(|id| id.trim().trim_matches(['<', '>']).to_string()),
                email: data["recipient"].as_str().map(str::to_string),
            },
            // The signature covers only timestamp and token, not the event: a captured
            // request must not be replayable with another event inside.
            replay_keys: vec![format!("token:{token}"), event_key],
        }])
    }

    /// The request's token, if the signature is genuine and recent.
    fn authenticate(&self, signature: &Value) -> Result<String, Rejection> {
        let field = |name: &str| match &signature[name] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let (Some(timestamp), Some(token), Some(given)) =
            (field("timestamp"), field("token"), field("signature"))
        else {
            return Err(Rejection::Unauthorized("Mailgun signature required"));
        };
        if token.len() > 256 {
            return Err(Rejection::Unauthorized("Mailgun token too long"));
        }
        let given = data_encoding::HEXLOWER_PERMISSIVE
            .decode(given.as_bytes())
            .map_err(|_| Rejection::Unauthorized("Mailgun signature is not hex"))?;
        let mut mac = self.key.clone();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        mac.verify_slice(&given)
            .map_err(|_| Rejection::Unauthorized("bad Mailgun signature"))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let fresh = timestamp
            .parse::<i64>()
            .is_ok_and(|t| now.abs_diff(t) <= self.max_age);
        if !fresh {
            return Err(Rejection::Unauthorized("stale Mailgun signature"));
        }
        Ok(token)
    }
}
