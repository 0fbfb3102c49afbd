//! Amazon SES notifications delivered by SNS e-mail: a JSON document
//! (`notificationType` Bounce, Complaint or Delivery) as the body of an ordinary message.

use serde_json::Value;

use super::codes::{find_reply_code, find_status};
use super::fields::{first_address, typed_value};
use super::mime::Mail;
use super::rules::SES_BOUNCE_TYPES;
use super::{Finding, MAX_RECIPIENTS, Original, Reason, body};

/// The findings of an SES notification and what it says about our message.
pub fn notification(mail: &Mail) -> Option<(Vec<Finding>, Original)> {
    let json = document(&body::body(mail))?;
    let kind = json.get("notificationType")?.as_str()?;
    let findings: Vec<Finding> = match kind {
        "Bounce" => {
            let bounce = &json["bounce"];
            let kind = (
                bounce["bounceType"].as_str().unwrap_or_default(),
                bounce["bounceSubType"].as_str().unwrap_or_default(),
            );
            let reason = SES_BOUNCE_TYPES
                .iter()
                .find(|(t, s, _)| (*t, *s) == kind)
                .map(|(_, _, r)| *r);
            entries(&bounce["bouncedRecipients"])
                .filter_map(bounced)
                .map(|f| Finding { reason, ..f })
                .collect()
        }
        "Complaint" => {
            let feedback_type = json["complaint"]["complaintFeedbackType"]
                .as_str()
                .map(str::to_ascii_lowercase);
            entries(&json["complaint"]["complainedRecipients"])
                .filter_map(|r| r["emailAddress"].as_str().and_then(first_address))
                .map(|recipient| Finding {
                    recipient,
                    reason: Some(Reason::Feedback),
                    feedback_type: feedback_type.clone(),
                    ..Finding::default()
                })
                .collect()
        }
        "Delivery" => {
            let response = json["delivery"]["smtpResponse"]
                .as_str()
                .unwrap_or_default();
            entries(&json["delivery"]["recipients"])
                .filter_map(|r| r.as_str().and_then(first_address))
                .map(|recipient| Finding {
                    recipient,
                    status: find_status(response),
                    reply_code: find_reply_code(response),
                    diagnostic: response.to_string(),
                    reason: Some(Reason::Delivered),
                    ..Finding::default()
                })
                .collect()
        }
        _ => return None,
    };
    if findings.is_empty() {
        return None;
    }
    Some((findings, original(&json["mail"])))
}

fn entries(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .take(MAX_RECIPIENTS)
}

fn bounced(entry: &Value) -> Option<Finding> {
    let recipient = entry["emailAddress"].as_str().and_then(first_address)?;
    let (diag_type, diagnostic) = entry["diagnosticCode"]
        .as_str()
        .map(typed_value)
        .map(|(t, d)| (t.map(str::to_ascii_lowercase), d.to_string()))
        .unwrap_or_default();
    Some(Finding {
        recipient,
        status: entry["status"].as_str().and_then(find_status),
        reply_code: find_reply_code(&diagnostic),
        action: entry["action"].as_str().map(str::to_ascii_lowercase),
        diag_type,
        diagnostic,
        ..Finding::default()
    })
}

fn original(mail: &Value) -> Original {
    let header = |name: &str| {
        mail["headers"].as_array().and_then(|headers| {
            headers
                .iter()
                .find(|h| {
                    h["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
                .and_then(|h| h["value"].as_str())
        })
    };
    Original {
        message_id: mail["commonHeaders"]["messageId"]
            .as_str()
            .or_else(|| header("Message-ID"))
            .and_then(super::message_id),
        envelope_from: mail["source"].as_str().and_then(first_address),
        to: entries(&mail["commonHeaders"]["to"])
            .filter_map(|t| t.as_str().and_then(first_address))
            .collect(),
    }
}

/// The JSON document of the body. SNS wraps long lines by ending them with `!` and
/// starting the next with a space; the wrap is undone before parsing.
fn document(body: &str) -> Option<Value> {
    let body = body.trim_start();
    if !body.starts_with('{') {
        return None;
    }
    let mut json = String::new();
    for line in body.lines() {
        if line.trim().is_empty() || line.trim() == "--" {
            break;
        }
        let line = match json.strip_suffix('!') {
            Some(kept) if line.starts_with(' ') => {
                json.truncate(kept.len());
                &line[1..]
            }
            _ => line,
        };
        json.push_str(line);
    }
    let value: Value = serde_json::from_str(&json).ok()?;
    // Raw message delivery off: the SES notification is a string inside SNS's envelope.
    match value["Message"].as_str() {
        Some(inner) if value.get("notificationType").is_none() => serde_json::from_str(inner).ok(),
        _ => value.is_object().then_some(value),
    }
}
