//! SendGrid's Event Webhook, signed (ECDSA P-256 over timestamp + body).

use axum::http::HeaderMap;
use data_encoding::BASE64;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use serde_json::Value;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::{Events, Rejection, failure, payload_key};
use crate::config::SendgridWebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent, Target};
use crate::domain::Provider;

const SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
const TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";
/// id-ecPublicKey on the curve prime256v1 (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

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
        match p256_point(&spki) {
            Some(point) => Ok(Some(Self {
                point,
                max_age: s.max_age_seconds,
            })),
            None => anyhow::bail!("webhooks.sendgrid.public_key is not a P-256 public key"),
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

/// The public point of a P-256 SubjectPublicKeyInfo (DER), as ring takes it.
fn p256_point(spki: &[u8]) -> Option<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef::try_from(spki).ok()?;
    spki.algorithm.assert_oids(EC_PUBLIC_KEY, P256).ok()?;
    spki.subject_public_key.as_bytes().map(<[u8]>::to_vec)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_p256_key_and_refuses_garbage() {
        // SPKI header of every P-256 key, then a (dummy) uncompressed point.
        let mut spki = vec![
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let point: Vec<u8> = std::iter::once(4).chain(1..=64).collect();
        spki.extend_from_slice(&point);
        assert_eq!(p256_point(&spki), Some(point));
        for cut in 0..spki.len() {
            assert_eq!(p256_point(&spki[..cut]), None, "truncated at {cut}");
        }
        // The same key on P-384's OID (1.3.132.0.34) is not a P-256 key.
        let mut p384 = spki.clone();
        p384.splice(13..23, [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]);
        p384[1] -= 3;
        p384[3] -= 3;
        assert!(
            SubjectPublicKeyInfoRef::try_from(&p384[..]).is_ok(),
            "well-formed, only the curve differs"
        );
        assert_eq!(p256_point(&p384), None);
        assert_eq!(p256_point(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }
}
