//! Amazon SES notifications delivered by an SNS HTTPS subscription: the SNS envelope's
//! signature, subscription confirmations, and the SES bounce/complaint/delivery JSON.

use data_encoding::BASE64;
use ring::signature::{self, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};

use super::fetch::{FetchError, Fetcher};
use super::{Events, Rejection, Webhooks, failure};
use crate::config::SesWebhookSettings;
use crate::db::webhook_events::{EventClass, ProviderEvent, Target};
use crate::domain::Provider;

/// Recipients per notification at most; SES names one per message we send.
const MAX_RECIPIENTS: usize = 100;
/// rsaEncryption (RFC 8017): SNS signs with RSA keys.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

pub struct Ses {
    topics: Vec<String>,
    fetcher: Fetcher,
    confirm: bool,
}

/// The SNS message envelope. Field names are SNS's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    message_id: String,
    topic_arn: String,
    message: String,
    timestamp: String,
    signature_version: String,
    signature: String,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: String,
    subject: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    token: Option<String>,
}

impl Ses {
    pub fn new(s: &SesWebhookSettings) -> anyhow::Result<Option<Self>> {
        if s.topic_arns.is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(
            !s.cert_hosts.is_empty(),
            "webhooks.ses.cert_hosts is empty: no SNS signature could ever be checked"
        );
        Ok(Some(Self {
            topics: s.topic_arns.clone(),
            fetcher: Fetcher::new(&s.cert_hosts, &s.ca_file)?,
            confirm: s.confirm_subscriptions,
        }))
    }

    pub async fn read(&self, hooks: &Webhooks, body: &[u8]) -> Result<Events, Rejection> {
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| Rejection::BadRequest(format!("not an SNS message: {e}")))?;
        // Before any fetch: a foreign topic's messages may be perfectly signed.
        if !self.topics.contains(&envelope.topic_arn) {
            return Err(Rejection::Unauthorized(
                "topic not in webhooks.ses.topic_arns",
            ));
        }
        self.verify(&envelope).await?;
        match envelope.kind.as_str() {
            "Notification" => Ok(notification(hooks, &envelope)),
            "SubscriptionConfirmation" => {
                self.subscription(&envelope).await?;
                Ok(Vec::new())
            }
            "UnsubscribeConfirmation" => {
                tracing::warn!(topic = %envelope.topic_arn, "SNS subscription ended");
                Ok(Vec::new())
            }
            other => Err(Rejection::BadRequest(format!("unknown SNS type {other:?}"))),
        }
    }

    async fn verify(&self, e: &Envelope) -> Result<(), Rejection> {
        let algorithm: &dyn signature::VerificationAlgorithm = match e.signature_version.as_str() {
            "1" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &signature::RSA_PKCS1_2048_8192_SHA256,
            _ => return Err(Rejection::Unauthorized("unknown SNS SignatureVersion")),
        };
        let signed = string_to_sign(e)?;
        let signature = BASE64
            .decode(e.signature.as_bytes())
            .map_err(|_| Rejection::Unauthorized("SNS signature is not base64"))?;
        let spki = match self.fetcher.signing_key(&e.signing_cert_url).await {
            Ok(spki) => spki,
            Err(FetchError::Refused(why)) => {
                tracing::warn!(reason = %why, "SNS SigningCertURL refused");
                return Err(Rejection::Unauthorized("SigningCertURL not allowed"));
            }
            Err(FetchError::Failed(e)) => return Err(Rejection::Unavailable(e)),
        };
        let key = rsa_key(&spki).ok_or(Rejection::Unauthorized(
            "SNS certificate without an RSA key",
        ))?;
        UnparsedPublicKey::new(algorithm, key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| Rejection::Unauthorized("bad SNS signature"))
    }

    /// Confirms by visiting SubscribeURL, so that adding the subscription in AWS is all an
    /// operator does. The topic is already known to be ours and the URL is host-pinned.
    async fn subscription(&self, e: &Envelope) -> Result<(), Rejection> {
        let raw = e.subscribe_url.as_deref().unwrap_or_default();
        if !self.confirm {
            tracing::warn!(topic = %e.topic_arn, url = raw, "SNS subscription awaits confirmation: open the URL to confirm");
            return Ok(());
        }
        let url = self.fetcher.check(raw).map_err(|why| {
            tracing::warn!(reason = %why, "SNS SubscribeURL refused");
            Rejection::Unauthorized("SubscribeURL not allowed")
        })?;
        match self.fetcher.get(&url).await {
            Ok((200, _)) => {
                tracing::info!(topic = %e.topic_arn, "SNS subscription confirmed");
                Ok(())
            }
            Ok((status, _)) => Err(Rejection::Unavailable(anyhow::anyhow!(
                "confirming the SNS subscription: HTTP status {status}"
            ))),
            Err(e) => Err(Rejection::Unavailable(e)),
        }
    }
}

/// The PKCS#1 RSAPublicKey of an RSA SubjectPublicKeyInfo, as ring takes it.
fn rsa_key(spki: &SubjectPublicKeyInfoOwned) -> Option<&[u8]> {
    spki.algorithm.assert_algorithm_oid(RSA_ENCRYPTION).ok()?;
    spki.subject_public_key.as_bytes()
}

/// The canonical string SNS signs: `Name\nvalue\n` for each documented field, in order.
fn string_to_sign(e: &Envelope) -> Result<String, Rejection> {
    let mut fields: Vec<(&str, &str)> = vec![("Message", &e.message), ("MessageId", &e.message_id)];
    match e.kind.as_str() {
        "Notification" => {
            if let Some(subject) = &e.subject {
                fields.push(("Subject", subject));
            }
            fields.extend([("Timestamp", e.timestamp.as_str())]);
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
            let (Some(url), Some(token)) = (&e.subscribe_url, &e.token) else {
                return Err(Rejection::BadRequest(
                    "SNS confirmation without SubscribeURL or Token".into(),
                ));
            };
            fields.extend([
                ("SubscribeURL", url.as_str()),
                ("Timestamp", e.timestamp.as_str()),
                ("Token", token.as_str()),
            ]);
        }
        other => return Err(Rejection::BadRequest(format!("unknown SNS type {other:?}"))),
    }
    fields.extend([
        ("TopicArn", e.topic_arn.as_str()),
        ("Type", e.kind.as_str()),
    ]);
    Ok(fields
        .iter()
        .map(|(name, value)| format!("{name}\n{value}\n"))
        .collect())
}

/// The events of an SES notification (or of an event-publishing record, which names its
/// kind `eventType`). Other kinds (opens, sends, …) carry nothing for the list.
fn notification(hooks: &Webhooks, e: &Envelope) -> Events {
    let Ok(json) = serde_json::from_str::<Value>(&e.message) else {
        tracing::warn!(message = %e.message_id, "SNS notification is not SES JSON; ignored");
        return Vec::new();
    };
    let kind = json["notificationType"]
        .as_str()
        .or_else(|| json["eventType"].as_str())
        .unwrap_or_default();
    let mail = &json["mail"];
    let target = |email: &str| Target {
        // The envelope sender is our VERP address: exact, and signed by us.
        delivery_id: mail["source"].as_str().and_then(|s| hooks.verp_delivery(s)),
        message_id: original_message_id(mail),
        email: Some(email.to_string()),
    };
    let event =
        |email: &str, class, reason: String, status, diagnostic, feedback_type| ProviderEvent {
            provider: Provider::Ses,
            class,
            reason,
            status,
            diagnostic,
            feedback_type,
            target: target(email),
            replay_keys: vec![format!("{}:{}", e.message_id, email.to_ascii_lowercase())],
        };
    let list = |v: &Value| -> Vec<Value> {
        v.as_array()
            .map(|a| a.iter().take(MAX_RECIPIENTS).cloned().collect())
            .unwrap_or_default()
    };
    match kind {
        "Bounce" => {
            let bounce = &json["bounce"];
            // Undetermined: SES could not tell; not proof the address is dead.
            let permanent = bounce["bounceType"].as_str() == Some("Permanent");
            list(&bounce["bouncedRecipients"])
                .iter()
                .filter_map(|r| {
                    let email = r["emailAddress"].as_str()?;
                    let status = r["status"].as_str().map(str::to_string);
                    let diagnostic = r["diagnosticCode"].as_str().unwrap_or_default();
                    let (class, reason) = failure(permanent, status.as_deref(), diagnostic);
                    Some(event(
                        email,
                        class,
                        reason,
                        status,
                        diagnostic.to_string(),
                        None,
                    ))
                })
                .collect()
        }
        "Complaint" => {
            let complaint = &json["complaint"];
            let feedback_type = complaint["complaintFeedbackType"]
                .as_str()
                .map(str::to_ascii_lowercase);
            list(&complaint["complainedRecipients"])
                .iter()
                .filter_map(|r| {
                    let email = r["emailAddress"].as_str()?;
                    Some(event(
                        email,
                        EventClass::Complaint,
                        "feedback".into(),
                        None,
                        String::new(),
                        feedback_type.clone(),
                    ))
                })
                .collect()
        }
        "Delivery" => {
            let response = json["delivery"]["smtpResponse"]
                .as_str()
                .unwrap_or_default();
            list(&json["delivery"]["recipients"])
                .iter()
                .filter_map(|r| {
                    Some(event(
                        r.as_str()?,
                        EventClass::Delivered,
                        "delivered".into(),
                        None,
                        response.to_string(),
                        None,
                    ))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The Message-ID we gave the message. SES replaces the header with its own on sending,
/// so the original headers (`mail.headers`, when the notification includes them) come
/// first; `commonHeaders.messageId` is the same value in the documented samples.
fn original_message_id(mail: &Value) -> Option<String> {
    let from_headers = mail["headers"].as_array().and_then(|headers| {
        headers
            .iter()
            .find(|h| {
                h["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("message-id"))
            })
            .and_then(|h| h["value"].as_str())
    });
    from_headers
        .or_else(|| mail["commonHeaders"]["messageId"].as_str())
        .map(|id| id.trim().trim_matches(['<', '>']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_certificates_give_a_signing_key() {
        use super::super::fetch::certificate_key;
        let rsa = certificate_key(include_bytes!("../../tests/fixtures/webhooks/rsa-cert.pem"));
        let key = rsa_key(rsa.as_ref().unwrap()).expect("an RSA key");
        // RSAPublicKey of a 2048-bit modulus: SEQUENCE { INTEGER 257 bytes, INTEGER 65537 }.
        assert_eq!((key.len(), &key[..4]), (270, &[0x30, 0x82, 0x01, 0x0a][..]));
        let p256 = certificate_key(include_bytes!(
            "../../tests/fixtures/webhooks/p256-cert.pem"
        ));
        assert_eq!(rsa_key(p256.as_ref().unwrap()), None);
    }

    #[test]
    fn string_to_sign_follows_the_documented_fields() {
        let mut e = Envelope {
            kind: "Notification".into(),
            message_id: "m".into(),
            topic_arn: "arn".into(),
            message: "{}".into(),
            timestamp: "t".into(),
            signature_version: "1".into(),
            signature: String::new(),
            signing_cert_url: String::new(),
            subject: None,
            subscribe_url: Some("ignored for notifications".into()),
            token: None,
        };
        assert_eq!(
            string_to_sign(&e).unwrap(),
            "Message\n{}\nMessageId\nm\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"
        );
        e.subject = Some("s".into());
        assert!(
            string_to_sign(&e)
                .unwrap()
                .contains("MessageId\nm\nSubject\ns\nTimestamp")
        );
        e.kind = "SubscriptionConfirmation".into();
        assert!(string_to_sign(&e).is_err(), "no token");
        e.token = Some("tok".into());
        assert_eq!(
            string_to_sign(&e).unwrap(),
            "Message\n{}\nMessageId\nm\nSubscribeURL\nignored for notifications\nTimestamp\nt\n\
             Token\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"
        );
    }
}
