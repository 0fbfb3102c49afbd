//! From what a message says about a recipient to a [`Reason`] and a [`Class`].
//!
//! Order of evidence: enhanced status codes whose meaning is narrow (5.2.2 is a full
//! mailbox whatever the words say) decide first; then the remote server's own words, since
//! broad codes such as 5.0.0, 5.1.0 or 5.7.1 are used for almost anything; then what the
//! broad codes mean on their own; then the SMTP command that was refused.

use super::{Class, Finding, Original, Reason, Report, phrases};

/// The SMTP command a remote server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Connect,
    Helo,
    MailFrom,
    RcptTo,
    Data,
}

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

/// What the broader codes mean when the words did not say.
fn broad_status(status: &str) -> Option<Reason> {
    use Reason::*;
    let (class, rest) = status.split_once('.')?;
    let (subject, detail) = rest.split_once('.')?;
    Some(match (subject, detail) {
        ("1", "1" | "3" | "4" | "5") => UserUnknown,
        // RFC 7505: the domain publishes a null MX.
        ("1", "10") => NotAccept,
        ("2", "1") => Suspend,
        ("2", "0") => Filtered,
        ("2", "4") => SystemError,
        ("3", "1") => SystemFull,
        ("3", "2") => NotAccept,
        ("3", "3") => ContentError,
        ("3", "0" | "5") => SystemError,
        ("4", "1" | "2") if class == "4" => Expired,
        ("4", "0" | "1" | "2" | "3" | "6") => NetworkError,
        ("4", "4") => HostUnknown,
        ("4", "5") => SystemFull,
        ("4", "7") => Expired,
        ("5", "3") => ExceedLimit,
        ("5", _) => SyntaxError,
        ("6", _) => ContentError,
        ("7", "1") => SecurityError,
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

fn is_reply_code(word: &str) -> bool {
    word.len() == 3
        && word.bytes().all(|b| b.is_ascii_digit())
        && matches!(word.as_bytes()[0], b'2' | b'4' | b'5')
}

/// The status code to report: the declared one (a DSN's Status field, else the first in
/// the text), unless it is a generic `x.y.0` summary and the text holds a more precise code
/// of the same class — the remote server's own, preferably not generic itself.
pub fn best_status(declared: Option<String>, text: &str) -> Option<String> {
    let mut in_text = Vec::new();
    let mut rest = text;
    while let Some(code) = find_status(rest) {
        let Some(at) = rest.find(code.as_str()) else {
            break;
        };
        rest = &rest[at + code.len()..];
        in_text.push(code);
    }
    let declared = declared.or_else(|| in_text.first().cloned())?;
    if !declared.ends_with(".0") {
        return Some(declared);
    }
    let candidates: Vec<String> = in_text
        .into_iter()
        .filter(|t| *t != declared && t.get(..1) == declared.get(..1))
        .collect();
    let precise = candidates
        .iter()
        .find(|t| !t.ends_with(".0"))
        .or(candidates.first())
        .cloned();
    Some(precise.unwrap_or(declared))
}

/// The first RFC 3463 code in a text (`5.1.1`, `#4.4.7`), skipping dotted numbers that
/// are IP addresses or versions.
pub fn find_status(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if boundary && matches!(c, b'2' | b'4' | b'5') && bytes.get(i + 1) == Some(&b'.') {
            let (subject, after_subject) = digits(bytes, i + 2, 3);
            if subject > 0 && bytes.get(after_subject) == Some(&b'.') {
                let (detail, end) = digits(bytes, after_subject + 1, 3);
                let clean_end = bytes.get(end).is_none_or(|b| {
                    !(b.is_ascii_alphanumeric()
                        || *b == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit))
                });
                if detail > 0 && clean_end {
                    return Some(text[i..end].to_string());
                }
            }
        }
        i += 1;
    }
    None
}

/// `(count of digits, index after them)`, reading at most `max` digits.
fn digits(bytes: &[u8], from: usize, max: usize) -> (usize, usize) {
    let n = bytes
        .iter()
        .skip(from)
        .take(max + 1)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n > max { (0, from) } else { (n, from + n) }
}

/// The first SMTP reply code in a text: three digits starting 2, 4 or 5, standing alone
/// or followed by `-`.
pub fn find_reply_code(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        let before_ok = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || matches!(bytes[i - 1], b'.' | b'-' | b':' | b'#' | b'/'));
        let code = &bytes[i..i + 3];
        let after_ok = bytes
            .get(i + 3)
            .is_none_or(|b| matches!(b, b' ' | b'-' | b'\n' | b'\t' | b')' | b']'));
        (before_ok
            && after_ok
            && matches!(code[0], b'2' | b'4' | b'5')
            && code[1..].iter().all(u8::is_ascii_digit)
            && code[1] <= b'5')
            .then(|| {
                u16::from(code[0] - b'0') * 100
                    + u16::from(code[1] - b'0') * 10
                    + u16::from(code[2] - b'0')
            })
    })
}

/// Which SMTP command a notice says was refused. A session transcript (`>>> DATA`,
/// `<<< 550 …`) is read first: the refused command is the last one sent before the first
/// error reply.
pub fn find_command(text: &str) -> Option<Command> {
    let lower = text.to_ascii_lowercase();
    transcript_command(&lower).or_else(|| mentioned_command(&lower))
}

fn transcript_command(lower: &str) -> Option<Command> {
    let mut last_sent = None;
    for line in lower.lines().map(str::trim_start) {
        if let Some(sent) = line.strip_prefix(">>>") {
            last_sent = Some(sent.trim_start());
        } else if let Some(reply) = line.strip_prefix("<<<")
            && reply.trim_start().starts_with(['4', '5'])
        {
            return last_sent.and_then(sent_command);
        }
    }
    None
}

fn sent_command(line: &str) -> Option<Command> {
    let verb = line.split([' ', ':']).next().unwrap_or_default();
    Some(match verb {
        "mail" => Command::MailFrom,
        "rcpt" => Command::RcptTo,
        "data" | "." => Command::Data,
        "helo" | "ehlo" => Command::Helo,
        _ => return mentioned_command(line),
    })
}

fn mentioned_command(lower: &str) -> Option<Command> {
    const TABLE: &[(&str, Command)] = &[
        ("rcpt", Command::RcptTo),
        ("does not like recipient", Command::RcptTo),
        ("end of data", Command::Data),
        ("final data", Command::Data),
        ("data command", Command::Data),
        ("after data", Command::Data),
        ("data", Command::Data),
        // A bare "MAIL FROM:" is as often a line of message details as the refused
        // command, so only phrasings that say it was refused count.
        ("after mail from", Command::MailFrom),
        ("to mail from", Command::MailFrom),
        ("our mail from", Command::MailFrom),
        ("mail from command", Command::MailFrom),
        ("helo", Command::Helo),
        ("ehlo", Command::Helo),
        ("initial connection", Command::Connect),
        ("greeting", Command::Connect),
        ("banner", Command::Connect),
    ];
    TABLE
        .iter()
        .filter_map(|(p, c)| find_word(lower, p).map(|at| (at, *c)))
        .min_by_key(|(at, _)| *at)
        .map(|(_, c)| c)
}

/// Position of `word` in `text` where it is not part of a longer word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find(word).map(|p| p + from) {
        let end = at + word.len();
        let before = at == 0 || !bytes[at - 1].is_ascii_alphanumeric();
        let after = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
        if before && after {
            return Some(at);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_in_text() {
        assert_eq!(
            find_status("550 5.1.1 <a@b>: user unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(find_status("(#5.5.0)").as_deref(), Some("5.5.0"));
        assert_eq!(
            find_status("host 192.0.2.5 said 4.4.1").as_deref(),
            Some("4.4.1")
        );
        assert_eq!(
            find_status("Exim 4.80 and 5.7.509 Access").as_deref(),
            Some("5.7.509")
        );
        assert_eq!(find_status("version 2.3.4.5"), None);
    }

    #[test]
    fn reply_codes_in_text() {
        assert_eq!(find_reply_code("said: 550-5.1.1 x"), Some(550));
        assert_eq!(find_reply_code("port 25 553 5.1.1"), Some(553));
        assert_eq!(find_reply_code("id 1234567 and 999"), None);
    }

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
