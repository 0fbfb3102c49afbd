//! Postmark's bounce, spam-complaint and delivery webhooks, behind HTTP Basic auth.

use axum::http::{HeaderMap, header};
use data_encoding::BASE64;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Events, Rejection, failure, payload_key};
use crate::config::PostmarkWebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent, Target};
use crate::domain::Provider;

pub struct Postmark {
    /// SHA-256 of `username:password`, compared in constant time.
    credentials: [u8; 32],
}

impl Postmark {
    pub fn new(s: &PostmarkWebhookSettings) -> Option<Self> {
        if s.password.is_empty() {
            return None;
        }
        let pair = format!("{}:{}", s.username, s.password.expose());
        Some(Self {
            credentials: Sha256::digest(pair.as_bytes()).into(),
        })
    }

    pub fn authenticate(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| BASE64.decode(b64.trim().as_bytes()).ok())
            .map(|pair| -> [u8; 32] { Sha256::digest(&pair).into() });
        match given {
            Some(given) if bool::from(self.credentials.ct_eq(&given)) => Ok(()),
            _ => Err(Rejection::Unauthorized("Postmark credentials required")),
        }
    }

    pub fn read(&self, body: &[u8]) -> Result<Events, Rejection> {
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| Rejection::BadRequest(format!("malformed JSON: {e}")))?;
        if !json.is_object() {
            return Err(Rejection::BadRequest("expected one JSON object".into()));
        }
        let record = json["RecordType"].as_str().unwrap_or_default();
        let kind = json["Type"].as_str().unwrap_or_default();
        let description = json["Description"].as_str().unwrap_or_default();
        let details = json["Details"].as_str().unwrap_or_default();
        let (class, reason) = match (record, kind) {
            ("Delivery", _) => (EventClass::Delivered, "delivered".to_string()),
            ("SpamComplaint", _) | ("Bounce", "SpamComplaint") => {
                (EventClass::Complaint, "feedback".to_string())
            }
            ("Bounce", "HardBounce" | "BadEmailAddress") => failure(true, None, details),
            // Failures Postmark expects to pass, or that speak of us (DMARC, a block).
            ("Bounce", "SoftBounce" | "Transient" | "DnsError" | "Blocked" | "DMARCPolicy") => {
                failure(false, None, details)
            }
            // Auto-replies, subscribe requests, challenge mails, …: nothing for the list.
            _ => return Ok(Vec::new()),
        };
        let email = json["Email"]
            .as_str()
            .or_else(|| json["Recipient"].as_str())
            .unwrap_or_default();
        let id_key = match &json["ID"] {
            Value::Number(n) => Some(format!("{record}:{n}")),
            Value::String(s) if !s.is_empty() => Some(format!("{record}:{s}")),
            _ => None,
        };
        let diagnostic = if details.is_empty() {
            description
        } else {
            details
        };
        Ok(vec![ProviderEvent {
            provider: Provider::Postmark,
            class,
            reason,
            status: None,
            diagnostic: diagnostic.to_string(),
            feedback_type: (class == EventClass::Complaint).then(|| "abuse".to_string()),
            // Postmark names its own MessageID, not ours: the address is what matches.
            target: Target {
                email: (!email.is_empty()).then(|| email.to_string()),
                ..Target::default()
            },
            replay_keys: vec![id_key.unwrap_or_else(|| payload_key(body))],
        }])
    }
}
