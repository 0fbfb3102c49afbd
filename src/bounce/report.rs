//! The machine-readable reports: RFC 3464 delivery status (one block per recipient after a
//! per-message block) and RFC 5965 feedback reports (ARF complaints).

use super::codes::{
    best_status, find_command, find_host, find_reply_code, find_status, is_host_name,
};
use super::fields::{Fields, addresses, first_address, typed_value};
use super::mime::Mail;
use super::{Finding, Reason, body};

/// Complaints: one finding per complaining recipient the report names.
pub fn feedback(mail: &Mail) -> Option<Vec<Finding>> {
    let Some(part) = mail.feedback_parts.first() else {
        return junk_report(mail);
    };
    let report = all_fields(part);
    let feedback_type = report
        .get_nonempty("feedback-type")
        .map(|t| t.to_ascii_lowercase());
    let mut recipients: Vec<String> = report
        .all("original-rcpt-to")
        .chain(report.all("removal-recipient"))
        .filter_map(first_address)
        .collect();
    if recipients.is_empty()
        && let Some(returned) = &mail.returned
    {
        recipients = returned.all("to").flat_map(addresses).collect();
    }
    dedup(&mut recipients);
    recipients.truncate(super::MAX_RECIPIENTS);
    Some(complaints(mail, recipients, feedback_type))
}

/// Outlook.com's junk mail reports (JMRP) predate ARF: the complained-about message comes
/// back whole, with the complaining address in a header of its own.
fn junk_report(mail: &Mail) -> Option<Vec<Finding>> {
    let returned = mail.returned.as_ref()?;
    let recipients: Vec<String> = returned
        .all("x-hmxmroriginalrecipient")
        .filter_map(first_address)
        .take(super::MAX_RECIPIENTS)
        .collect();
    if recipients.is_empty() {
        return None;
    }
    Some(complaints(mail, recipients, Some("abuse".to_string())))
}

fn complaints(
    mail: &Mail,
    mut recipients: Vec<String>,
    feedback_type: Option<String>,
) -> Vec<Finding> {
    if recipients.is_empty() {
        // A report whose recipient is redacted still tells the sender about a complaint.
        recipients.push(String::new());
    }
    let diagnostic = mail.texts.first().cloned().unwrap_or_default();
    recipients
        .into_iter()
        .map(|recipient| Finding {
            recipient,
            reason: Some(Reason::Feedback),
            feedback_type: feedback_type.clone(),
            diagnostic: diagnostic.trim().to_string(),
            ..Finding::default()
        })
        .collect()
}

/// Delivery status notifications: one finding per recipient block that names an address.
pub fn delivery_status(mail: &Mail) -> Option<Vec<Finding>> {
    let source = if mail.status_parts.is_empty() {
        // Some servers put the delivery-status fields into the text part itself.
        mail.texts.iter().find(|t| looks_like_status(t)).cloned()?
    } else {
        mail.status_parts.join("\n\n")
    };
    let blocks = recipient_blocks(&source);
    let body = body::body(mail);
    let notice = body::Notice::new(&body);
    let findings: Vec<Finding> = blocks
        .iter()
        .filter_map(|block| finding(block, mail, &notice))
        .take(super::MAX_RECIPIENTS)
        .collect();
    (!findings.is_empty()).then_some(findings)
}

/// The original sender a report names (a Postfix DSN's `X-Postfix-Sender`, ARF's
/// `Original-Mail-From`), for when the returned message's headers are missing.
pub fn reported_sender(mail: &Mail) -> Option<String> {
    let status = mail.status_parts.first().map(|p| all_fields(p));
    let feedback = mail.feedback_parts.first().map(|p| all_fields(p));
    status
        .and_then(|f| f.get("x-postfix-sender").and_then(first_address))
        .or_else(|| feedback.and_then(|f| f.get("original-mail-from").and_then(first_address)))
}

fn looks_like_status(text: &str) -> bool {
    let has = |name: &str| {
        text.lines().any(|l| {
            l.get(..name.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(name))
        })
    };
    (has("final-recipient:") || has("original-recipient:")) && (has("action:") || has("status:"))
}

/// Every field of a part, across blank lines.
fn all_fields(text: &str) -> Fields {
    let mut fields = Fields::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        fields.push_line(line);
    }
    fields
}

/// Splits delivery-status text into per-recipient field sets. A recipient starts at a
/// `Final-Recipient` or `Original-Recipient` field; servers that leave out the blank line
/// between recipients are handled the same way.
fn recipient_blocks(text: &str) -> Vec<Fields> {
    let mut blocks: Vec<Fields> = Vec::new();
    let mut current = Fields::default();
    let mut in_recipient = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            if in_recipient {
                blocks.push(std::mem::take(&mut current));
                in_recipient = false;
            } else {
                current = Fields::default();
            }
            continue;
        }
        let name = line
            .split_once(':')
            .map(|(n, _)| n.trim().to_ascii_lowercase());
        let starts = matches!(
            name.as_deref(),
            Some("final-recipient" | "original-recipient")
        );
        if starts && in_recipient && current.has(name.as_deref().unwrap_or_default()) {
            blocks.push(std::mem::take(&mut current));
        }
        in_recipient |= starts;
        current.push_line(line);
    }
    if in_recipient {
        blocks.push(current);
    }
    blocks
}

fn finding(block: &Fields, mail: &Mail, notice: &body::Notice<'_>) -> Option<Finding> {
    let recipient = [
        "final-recipient",
        "original-recipient",
        "x-actual-recipient",
    ]
    .iter()
    .filter_map(|n| block.get_nonempty(n))
    .find_map(|v| first_address(typed_value(v).1))
    .or_else(|| local_only_recipient(block, mail))?;
    let (diag_type, diagnostic) = block
        .get_nonempty("diagnostic-code")
        .map(typed_value)
        .map(|(t, d)| (t.map(str::to_ascii_lowercase), d.to_string()))
        .unwrap_or((None, String::new()));
    let action = block
        .get_nonempty("action")
        .map(|a| a.trim().to_ascii_lowercase());
    let from_notice = notice.about(&recipient);
    let diagnostic = if diagnostic.trim().is_empty() {
        from_notice.clone().unwrap_or_default()
    } else {
        complete_reply(&diagnostic, notice.all_lines()).unwrap_or(diagnostic)
    };
    let declared = block.get_nonempty("status").and_then(find_status);
    let reply_code =
        find_reply_code(&diagnostic).or_else(|| from_notice.as_deref().and_then(find_reply_code));
    let mut status = best_status(declared, &diagnostic, reply_code);
    let command =
        find_command(&diagnostic).or_else(|| from_notice.as_deref().and_then(find_command));
    let remote_host = block
        .get_nonempty("remote-mta")
        .map(|v| typed_value(v).1)
        .and_then(host_of)
        .or_else(|| find_host(&diagnostic))
        .or_else(|| from_notice.as_deref().and_then(find_host));
    let reporting_host = reporting_mta(mail);
    let mut context = fuller_account(&diagnostic, from_notice.as_deref());
    // The fuller account may carry the precise code a generic Status field lacks.
    if !context.is_empty() && status.as_deref().is_none_or(|s| s.ends_with(".0.0")) {
        status = best_status(status, &context, reply_code);
    }
    // PowerMTA classifies each failure itself, in a field of the recipient's block.
    if let Some(category) = block.get_nonempty("x-powermta-bouncecategory") {
        let said = if context.is_empty() {
            &diagnostic
        } else {
            &context
        };
        context = format!("{said}\nX-PowerMTA-BounceCategory: {category}");
    }
    Some(Finding {
        recipient,
        status,
        reply_code,
        diagnostic: diagnostic.trim().to_string(),
        action,
        diag_type,
        command,
        remote_host,
        reporting_host,
        context,
        ..Finding::default()
    })
}

/// The notice's paragraph about the recipient when it quotes the whole Diagnostic-Code
/// and adds the refused command, as Postfix's does ("… (in reply to RCPT TO command)").
fn fuller_account(diagnostic: &str, notice: Option<&str>) -> String {
    let squeeze = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let (diag, Some(notice)) = (squeeze(diagnostic), notice) else {
        return String::new();
    };
    let fuller = squeeze(notice);
    if diag.is_empty() || !fuller.contains("in reply to ") || !fuller.contains(&diag) {
        return String::new();
    }
    notice.to_string()
}

/// A host name from a DSN host field (`mx.example.com`, `mx.example.com [192.0.2.1]`).
fn host_of(value: &str) -> Option<String> {
    let name = value
        .split(|c: char| c.is_whitespace() || c == '[')
        .next()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    is_host_name(&name).then_some(name)
}

/// The `Reporting-MTA` of a delivery status report.
fn reporting_mta(mail: &Mail) -> Option<String> {
    let fields = all_fields(mail.status_parts.first()?);
    fields
        .get_nonempty("reporting-mta")
        .map(|v| typed_value(v).1)
        .and_then(host_of)
}

/// Sendmail copies only the first line of a multi-line reply (`552-5.7.0 …`) into the
/// Diagnostic-Code; the session transcript in the notice has all of it (`<<< 552-…`).
fn complete_reply(diagnostic: &str, notice: &[&str]) -> Option<String> {
    let first = diagnostic.trim();
    if !is_reply_line(first) || first.as_bytes().get(3) != Some(&b'-') {
        return None;
    }
    let lines: Vec<&str> = notice
        .iter()
        .map(|l| l.trim().trim_start_matches("<<<").trim())
        .collect();
    let start = lines.iter().position(|l| *l == first)?;
    let mut reply = Vec::new();
    for line in lines[start..].iter().take_while(|l| is_reply_line(l)) {
        reply.push(*line);
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    (reply.len() > 1).then(|| reply.join(" "))
}

fn is_reply_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 4 && bytes[..3].iter().all(u8::is_ascii_digit) && matches!(bytes[3], b'-' | b' ')
}

/// `Final-Recipient: rfc822; kijitora` without a domain: the returned message's `To`
/// usually completes it.
fn local_only_recipient(block: &Fields, mail: &Mail) -> Option<String> {
    let local = block
        .get_nonempty("final-recipient")
        .or_else(|| block.get_nonempty("original-recipient"))
        .map(|v| {
            typed_value(v)
                .1
                .trim_matches(['<', '>', ' '])
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty() && !l.contains(' '))?;
    let returned = mail.returned.as_ref()?;
    returned
        .all("to")
        .flat_map(addresses)
        .find(|a| a.split('@').next() == Some(local.as_str()))
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|a| seen.insert(a.clone()));
}
