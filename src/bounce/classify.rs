//! From what a message says about a recipient to a [`Reason`] and a [`Class`].
//!
//! Our own SMTP replies are judged by their codes alone (`src/outcome.rs`); a bounce is a
//! third party's account of someone else's reply, often with no code or a generic one, so
//! here the words count too. Order of evidence:
//!
//! 1. enhanced status codes whose meaning is narrow (5.2.2 is a full mailbox whatever
//!    the words say);
//! 2. phrases that name a cause outright ("relay access denied", "DMARC");
//! 3. a local delivery program's failure (`X-Unix`), and x.1.1 "bad mailbox";
//! 4. hint words ("blocked", "spam");
//! 5. the refused SMTP command (a refusal at connection or MAIL FROM is no address
//!    problem);
//! 6. what broad codes such as 5.7.1 or 4.4.1 mean on their own;
//! 7. a DSN's `Action: delayed`, and last `onhold` (there was text we could not place)
//!    or `undefined` (there was none).

use super::codes::{Command, find_status, is_reply_code};
use super::{Class, Finding, Original, Reason, Report, phrases};

pub fn report(finding: Finding, original: Original) -> Report {
    let reason = finding.reason.unwrap_or_else(|| reason(&finding));
    let class = class(reason, &finding);
    Report {
        recipient: finding.recipient,
        class,
        reason,
        status: finding.status,
        reply_code: finding.reply_code,
        feedback_type: finding.feedback_type,
        action: finding.action,
        diagnostic: finding.diagnostic,
        original,
    }
}

fn class(reason: Reason, finding: &Finding) -> Class {
    use Reason::*;
    match reason {
        Feedback | Vacation | Delivered => Class::None,
        UserUnknown | HostUnknown | HasMoved => Class::Hard,
        NotAccept if !temporary(finding) => Class::Hard,
        _ => Class::Soft,
    }
}

fn temporary(finding: &Finding) -> bool {
    finding
        .status
        .as_deref()
        .is_some_and(|s| s.starts_with('4'))
        || finding.reply_code.is_some_and(|c| (400..500).contains(&c))
}

pub fn reason(f: &Finding) -> Reason {
    let action = f.action.as_deref().unwrap_or_default();
    if matches!(action, "delivered" | "relayed" | "expanded")
        || f.status.as_deref().is_some_and(|s| s.starts_with("2."))
    {
        return Reason::Delivered;
    }
    match failure_reason(f, action) {
        // A temporary failure cannot prove that a host is gone: DNS may be having a bad day.
        Reason::HostUnknown if temporary(f) => Reason::NetworkError,
        // Google Groups refuses posts from non-members with a notice in the sender's own
        // language and no SMTP code to go by.
        Reason::OnHold | Reason::Undefined if f.recipient.ends_with("@googlegroups.com") => {
            Reason::Rejected
        }
        reason => reason,
    }
}

fn failure_reason(f: &Finding, action: &str) -> Reason {
    let status = f.status.as_deref().unwrap_or_default();
    if let Some(reason) = narrow_status(status) {
        return reason;
    }
    let text = normalize(&f.diagnostic);
    match phrases::find_specific(&text) {
        Some(Reason::UserUnknown) => return user_unknown(status, f.command),
        Some(reason) => return reason,
        None => {}
    }
    // The local delivery program failed (procmail, a pipe) and said nothing more telling:
    // its words are not the recipient server's.
    if matches!(f.diag_type.as_deref(), Some("x-unix")) {
        return Reason::MailerError;
    }
    // "Bad destination mailbox address" outweighs a hint word such as "inactive".
    if status.split('.').skip(1).eq(["1", "1"]) {
        return Reason::UserUnknown;
    }
    match phrases::find_generic(&text) {
        Some(Reason::UserUnknown) => return user_unknown(status, f.command),
        Some(reason) => return reason,
        None => {}
    }
    // Refused before any recipient was named: the connection or the sender was the
    // problem, not the address.
    match f.command {
        Some(Command::Connect | Command::Helo) => return Reason::Blocked,
        Some(Command::MailFrom) => return Reason::Rejected,
        _ => {}
    }
    if let Some(reason) = broad_status(status) {
        return reason;
    }
    if action.starts_with("delayed") || action.starts_with("expired") {
        return Reason::Expired;
    }
    if matches!(f.diag_type.as_deref(), Some("x-postfix")) {
        return Reason::MailerError;
    }
    if text.is_empty() {
        Reason::Undefined
    } else {
        Reason::OnHold
    }
}

/// "User unknown" is trusted as a dead address when the status code is about the address
/// (x.1.x) or the server refused RCPT TO. Said after DATA, or with a code about a mailbox
/// that exists (x.2.x), the mail system (x.3.x) or policy (x.7.x), it is as often a
/// content filter speaking; suppressing a live address is the costlier mistake.
fn user_unknown(status: &str, command: Option<Command>) -> Reason {
    let subject = status.split('.').nth(1).unwrap_or_default();
    match (subject, command) {
        // Refused at MAIL FROM, "does not exist" speaks of the sender's address.
        (_, Some(Command::MailFrom)) => Reason::Rejected,
        ("1", _) | (_, Some(Command::RcptTo)) => Reason::UserUnknown,
        (_, Some(Command::Data)) | ("2" | "3" | "7", _) => Reason::Filtered,
        _ => Reason::UserUnknown,
    }
}

/// Codes whose meaning does not depend on the wording around them (RFC 3463, RFC 7372,
/// RFC 7505, RFC 8098).
fn narrow_status(status: &str) -> Option<Reason> {
    use Reason::*;
    let (_, rest) = status.split_once('.')?;
    Some(match rest {
        "1.6" => HasMoved,
        "1.2" => HostUnknown,
        "1.7" | "1.8" => Rejected,
        "2.2" => MailboxFull,
        "2.3" => ExceedLimit,
        "3.4" => MesgTooBig,
        "7.13" => Suspend,
        "7.20" | "7.21" | "7.22" | "7.23" | "7.24" | "7.26" => AuthFailure,
        "7.25" => RequirePtr,
        "7.27" => NotAccept,
        _ => return None,
    })
}

/// What the broader codes mean when the words did not say (RFC 3463's subjects: 1
/// address, 2 mailbox, 3 mail system, 4 network and routing, 5 protocol, 6 content,
/// 7 security and policy).
fn broad_status(status: &str) -> Option<Reason> {
    use Reason::*;
    let (class, rest) = status.split_once('.')?;
    let (subject, detail) = rest.split_once('.')?;
    Some(match (subject, detail) {
        ("1", "1" | "3" | "4" | "5") => UserUnknown,
        // RFC 7505: the domain publishes a null MX.
        ("1", "10") => NotAccept,
        // The mailbox exists but takes nothing (2.1) or something unspecified (2.0).
        ("2", "1") => Suspend,
        ("2", "0") => Filtered,
        ("2", "4") => SystemError,
        ("3", "1") => SystemFull,
        ("3", "2") => NotAccept,
        ("3", "3") => ContentError,
        ("3", "0" | "5") => SystemError,
        // No answer or a broken connection, still being retried: the message is late.
        ("4", "1" | "2") if class == "4" => Expired,
        ("4", "0" | "1" | "2" | "3" | "6") => NetworkError,
        ("4", "4") => HostUnknown,
        ("4", "5") => SystemFull,
        ("4", "7") => Expired,
        ("5", "3") => ExceedLimit,
        ("5", _) => SyntaxError,
        ("6", _) => ContentError,
        ("7", _) => SecurityError,
        _ => return None,
    })
}

/// Lower case, addresses and URL paths dropped (a help link's path or a test address's
/// local part often names a reason of its own; a link's host, such as a block list's,
/// is kept), white space collapsed.
pub fn normalize(text: &str) -> String {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let mut out = String::with_capacity(lower.len());
    for (i, word) in words.iter().enumerate() {
        let word = match word.split_once("://") {
            Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
            None if word.contains('@') => continue,
            // Codes repeated inside a folded multi-line reply ("… multiple 550 5.7.1
            // addresses …") would split a phrase in two.
            None if is_code_word(word) => continue,
            None if is_reply_code(word) && words.get(i + 1).is_some_and(|w| is_code_word(w)) => {
                continue;
            }
            None => *word,
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `5.7.1`, `550-5.7.1` or `550-`: the codes of a reply line.
fn is_code_word(word: &str) -> bool {
    let word = word.trim_end_matches([',', ';', ':']);
    let status = match word.split_once('-') {
        Some((code, rest)) if is_reply_code(code) => rest,
        _ => word,
    };
    status.is_empty() && word.ends_with('-') || find_status(status).is_some_and(|s| s == status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_codes_beat_words_broad_codes_do_not() {
        let f = |status: &str, text: &str| Finding {
            status: Some(status.into()),
            diagnostic: text.into(),
            ..Finding::default()
        };
        assert_eq!(reason(&f("5.2.2", "user unknown")), Reason::MailboxFull);
        assert_eq!(
            reason(&f("5.7.1", "Relay access denied")),
            Reason::NoRelaying
        );
        assert_eq!(reason(&f("5.7.1", "")), Reason::SecurityError);
        assert_eq!(reason(&f("2.0.0", "ok")), Reason::Delivered);
    }
}
