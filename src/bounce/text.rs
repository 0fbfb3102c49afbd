//! Free-text bounce notices (Postfix, Exim, qmail, Sendmail, Exchange, Gmail, …) and
//! auto-replies. No two servers word their notice alike, but nearly all follow one shape:
//! a preamble, then each failed address at the start of a line followed by the remote
//! server's reply, then a copy of the returned message. We read that shape rather than
//! keep a parser per server.

use super::classify::{best_status, find_command, find_reply_code};
use super::fields::{Fields, addresses, first_address};
use super::mime::Mail;
use super::{Finding, Reason};

/// Bounces that are no RFC 3464 report: one finding per failed address in the notice.
pub fn notice(mail: &Mail) -> Option<Vec<Finding>> {
    if !is_bounce(mail) {
        return None;
    }
    let body = body(mail);
    let lines: Vec<&str> = body.lines().collect();
    let notice = &lines[..returned_start(&lines)];
    let excluded = [not_recipients(mail, false), not_recipients(mail, true)];
    let mut findings: Vec<Finding> = recipients(notice, &excluded)
        .into_iter()
        .take(super::MAX_RECIPIENTS)
        .map(|(recipient, block)| finding(recipient, &block))
        .collect();
    if findings.is_empty() {
        let whole = notice.join("\n");
        findings = fallback_recipients(mail)
            .into_iter()
            .take(super::MAX_RECIPIENTS)
            .map(|r| finding(r, &whole))
            .collect();
    }
    (!findings.is_empty()).then_some(findings)
}

/// Auto-replies (RFC 3834 and the vacation responders that predate it): the replying
/// address is the recipient.
pub fn auto_reply(mail: &Mail) -> Option<Vec<Finding>> {
    if !is_auto_reply(mail) {
        return None;
    }
    let h = &mail.headers;
    let recipient = h.get("from").and_then(first_address)?;
    Some(vec![Finding {
        recipient,
        reason: Some(Reason::Vacation),
        diagnostic: mail.subject.clone(),
        ..Finding::default()
    }])
}

fn is_auto_reply(mail: &Mail) -> bool {
    let h = &mail.headers;
    let header_says = h
        .get("auto-submitted")
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("auto-replied"))
        || h.has("x-autoreply")
        || h.has("x-autorespond")
        || h.get("x-apple-action")
            .is_some_and(|v| v.eq_ignore_ascii_case("vacation"))
        || h.get("precedence")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("auto_reply"));
    let subject = mail.subject.to_lowercase();
    let subject_says = [
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "auto response",
        "autoresponse",
        "out of office",
        "out of the office",
        "vacation",
        "abwesenheit",
    ]
    .iter()
    .any(|p| subject.contains(p))
        || subject.starts_with("auto:");
    header_says || subject_says
}

/// A report's readable text split into lines, with where the notice proper ends (the
/// copy of the returned message starts), computed once for all recipients.
pub struct Notice<'a> {
    lines: Vec<&'a str>,
    lower: Vec<String>,
    end: usize,
}

impl<'a> Notice<'a> {
    pub fn new(body: &'a str) -> Self {
        let lines: Vec<&str> = body.lines().collect();
        let end = returned_start(&lines);
        let lower = lines[..end].iter().map(|l| l.to_lowercase()).collect();
        Notice { lines, lower, end }
    }

    /// Every line, the copy of the returned message included.
    pub fn all_lines(&self) -> &[&'a str] {
        &self.lines
    }

    /// The part of the notice that speaks of `recipient`: for a delivery-status report
    /// whose Diagnostic-Code is missing, or to learn the refused command.
    pub fn about(&self, recipient: &str) -> Option<String> {
        let lines = &self.lines[..self.end];
        let start = self.lower.iter().position(|l| l.contains(recipient))?;
        let stop = lines[start + 1..]
            .iter()
            .position(|l| anchor(l).is_some_and(|a| a != recipient))
            .map_or(lines.len(), |p| start + 1 + p);
        let block = paragraph(&lines[start..stop]);
        (!block.trim().is_empty()).then_some(block)
    }
}

/// Header fields of a message returned inline, after the notice text.
pub fn inline_returned_headers(mail: &Mail) -> Option<Fields> {
    let body = body(mail);
    let lines: Vec<&str> = body.lines().collect();
    let start = returned_start(&lines);
    // Delivery-status fields may come first; the copy starts with a message header.
    let first_header = (start..lines.len())
        .find(|&i| starts_header_block(&lines, i))
        .or_else(|| {
            (start..lines.len()).find(|&i| {
                is_header_line(lines[i])
                    && !REPORT_FIELDS
                        .iter()
                        .any(|f| lines[i].to_ascii_lowercase().starts_with(f))
            })
        })?;
    let fields = Fields::parse(&lines[first_header..].join("\n"));
    (!fields.is_empty()).then_some(fields)
}

/// How much readable text is searched for failed addresses. Notices are a few kilobytes;
/// the cap keeps a hostile multi-megabyte "notice" from costing more than a real one.
const MAX_NOTICE_BYTES: usize = 128 * 1024;

/// The readable text of a report. A notice someone forwarded inline arrives quoted
/// (`> ` before every line); unquoted, it reads like the original.
pub fn body(mail: &Mail) -> String {
    let mut text = mail.text();
    if text.len() > MAX_NOTICE_BYTES {
        let mut end = MAX_NOTICE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let quoted = lines.iter().filter(|l| l.starts_with('>')).count();
    if lines.is_empty() || quoted * 2 < lines.len() {
        return text;
    }
    text.lines()
        .map(|l| {
            let l = l.strip_prefix('>').unwrap_or(l);
            l.strip_prefix(' ').unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn finding(recipient: String, block: &str) -> Finding {
    Finding {
        status: best_status(None, block),
        reply_code: find_reply_code(block),
        command: find_command(block),
        diagnostic: collapse(block),
        recipient,
        ..Finding::default()
    }
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the message is a delivery failure notice at all.
fn is_bounce(mail: &Mail) -> bool {
    let h = &mail.headers;
    if h.has("x-failed-recipients") {
        return true;
    }
    let from = h.get("from").unwrap_or_default().to_ascii_lowercase();
    let from_daemon = [
        "mailer-daemon",
        "mailer_daemon",
        "postmaster",
        "post_master",
        "mail delivery",
        "maildelivery",
        "mail administrator",
        "mail system",
        "mdaemon",
        "mail.delivery",
        "delivery subsystem",
    ]
    .iter()
    .any(|p| from.contains(p))
        || from.trim() == "<>";
    let subject = mail.subject.to_lowercase();
    let subject_bounce = [
        "undeliver",
        "undelivered",
        "delivery status",
        "delivery failure",
        "delivery failed",
        "delivery has failed",
        "delivery notification",
        "delivery problem",
        "failure notice",
        "failed delivery",
        "failed mail",
        "returned mail",
        "returned to sender",
        "mail delivery",
        "non-delivery",
        "nondeliverable",
        "non delivery",
        "could not be delivered",
        "could not send message",
        "delivery report",
        "mail system error",
        "permanent error",
        "delayed mail",
        "message delayed",
        "delivery delayed",
        "not delivered",
        "error sending message",
        "mail could not be delivered",
        "rejected",
        "returned message",
        "message you sent",
        "unable to deliver",
        "warning:",
        "failure delivery",
        "bounce",
        "mail error",
        // "Mail error notice", "returned mail": Japanese carriers' subjects.
        "メールエラー",
        "エラーメール",
        "不達",
    ]
    .iter()
    .any(|p| subject.contains(p));
    // Mail from the null sender is a bounce or an auto-reply (RFC 5321 §4.5.5, RFC 3834);
    // only the former is read as a notice.
    let null_sender = h.get("return-path").is_some_and(|v| v.trim() == "<>");
    from_daemon || subject_bounce || null_sender && !is_auto_reply(mail)
}

/// Where the copy of the returned message starts in a notice (or the end).
fn returned_start(lines: &[&str]) -> usize {
    const MARKERS: &[&str] = &[
        "below this line is a copy of the message",
        "this is a copy of the message",
        "this is a copy of your message",
        "copy of the original message",
        "original message follows",
        "original message headers",
        "original message header",
        "message headers follow",
        "unsent message below",
        "header of the original message",
        "headers of the original message",
        "returned message follows",
        "original message:",
        "content-type: message/rfc822",
        "content-type: text/rfc822-headers",
        "------ original message",
        "----- original message",
        "---- original message",
        "--- original message",
        "-- original message",
        "this is the original message",
        "below is a copy",
        "the headers of your message",
        "headers of your message",
        "header of your message",
        "your message reads",
        "--- the header of the original message",
    ];
    lines
        .iter()
        .enumerate()
        .position(|(i, line)| {
            let lower = line.to_ascii_lowercase();
            MARKERS.iter().any(|m| lower.contains(m))
                || REPORT_FIELDS.iter().any(|f| lower.starts_with(f))
                || starts_header_block(lines, i)
        })
        .unwrap_or(lines.len())
}

/// Fields of a delivery-status report that some servers put into the text part: the
/// readable notice ends where they begin.
const REPORT_FIELDS: &[&str] = &["reporting-mta:", "final-recipient:", "original-recipient:"];

/// A run of header lines that begins with a field only a message's header carries.
fn starts_header_block(lines: &[&str], i: usize) -> bool {
    const FIRST: &[&str] = &[
        "return-path",
        "received",
        "delivered-to",
        "message-id",
        "x-original-to",
        "dkim-signature",
        "mime-version",
    ];
    let Some((name, _)) = lines[i].split_once(':') else {
        return false;
    };
    if !FIRST.contains(&name.trim().to_ascii_lowercase().as_str()) || name.starts_with(' ') {
        return false;
    }
    lines
        .get(i + 1)
        .is_some_and(|l| is_header_line(l) || l.starts_with([' ', '\t']))
}

fn is_header_line(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }
        None => false,
    }
}

/// Addresses that appear in a notice but are not failed recipients: the report's own
/// sender and the returned message's envelope sender. `strict` adds the report's
/// addressee and the returned message's author, which a diagnostic may quote
/// ("<author>... Access denied") but which rarely start a line of their own.
fn not_recipients(mail: &Mail, strict: bool) -> Vec<String> {
    let own: &[&str] = if strict {
        &["from", "to", "return-path", "reply-to"]
    } else {
        &["from", "return-path"]
    };
    let mut out: Vec<String> = own
        .iter()
        .flat_map(|name| mail.headers.all(name).flat_map(addresses))
        .collect();
    if let Some(returned) = mail
        .returned
        .clone()
        .or_else(|| inline_returned_headers(mail))
    {
        out.extend(returned.all("return-path").flat_map(addresses));
        if strict {
            for name in ["from", "sender"] {
                out.extend(returned.all(name).flat_map(addresses));
            }
        }
    }
    out
}

/// The address a line starts with, if the line is about that address: `<a@b>: …`,
/// `a@b`, `a@b... User unknown`, `"a@b"`, `Recipient: a@b`.
fn anchor(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for prefix in [
        "recipient address:",
        "recipient:",
        "failed recipient:",
        "original recipient:",
        "address:",
        "rcpt:",
        "rcpt to:",
        "* ",
        "- ",
        "to:",
    ] {
        if let Some(head) = rest.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            rest = rest[prefix.len()..].trim_start();
            break;
        }
    }
    let rest = rest.trim_start_matches(['<', '"', '\'', '(', '[']);
    let word_end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '>' | '"' | '\'' | ')' | ']' | ','))
        .unwrap_or(rest.len());
    let word = rest[..word_end].trim_end_matches([':', '.', ';']);
    let address = first_address(word)?;
    // The whole leading word must be the address, not e.g. a URL that contains one.
    if word.to_ascii_lowercase() != address {
        return None;
    }
    // `display@name <real@address>`: the bracketed one is where the mail went.
    let after = rest[word_end..]
        .trim_start_matches(['>', '"', '\''])
        .trim_start();
    match after.strip_prefix('<').and_then(|a| a.split_once('>')) {
        Some((inner, _)) => Some(first_address(inner).unwrap_or(address)),
        None => Some(address),
    }
}

/// Each failed address with the text about it.
fn recipients(notice: &[&str], excluded: &[Vec<String>; 2]) -> Vec<(String, String)> {
    let keep = |list: &[String], a: &str| !list.iter().any(|e| e == a) && !is_daemon(a);
    let anchors: Vec<(usize, String)> = notice
        .iter()
        .enumerate()
        .filter_map(|(i, l)| anchor(l).map(|a| (i, a)))
        .filter(|(_, a)| keep(&excluded[0], a))
        .collect();
    let marks = if anchors.is_empty() {
        notice
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.split_whitespace()
                    .filter(|word| !word.contains("://"))
                    .flat_map(addresses)
                    .map(move |a| (i, a))
            })
            .filter(|(_, a)| keep(&excluded[1], a))
            .collect()
    } else {
        anchors
    };
    let Some((_, first)) = marks.first() else {
        return Vec::new();
    };
    // One failed address: the whole notice is about it, whatever order the server wrote
    // the reason and the address in.
    if marks.iter().all(|(_, a)| a == first) {
        return vec![(first.clone(), notice.join("\n"))];
    }
    blocks(notice, &marks)
}

/// Text for each address: from each line that names it to the line where another address
/// starts, joined over all such lines.
fn blocks(notice: &[&str], marks: &[(usize, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, (line, address)) in marks.iter().enumerate() {
        let previous_same = n > 0 && marks[n - 1].1 == *address;
        if previous_same {
            continue;
        }
        let end = marks[n + 1..]
            .iter()
            .find(|(_, a)| a != address)
            .map_or(notice.len(), |(l, _)| *l);
        let text = paragraph(&notice[*line..end.max(*line + 1)]);
        let full = out.len() >= super::MAX_RECIPIENTS;
        match out.iter_mut().find(|(a, _)| a == address) {
            Some((_, existing)) => {
                existing.push('\n');
                existing.push_str(&text);
            }
            None if !full => out.push((address.clone(), text)),
            None => {}
        }
    }
    out
}

/// Lines of a block up to its second paragraph break: the address line, the reply,
/// and the paragraph after it (Exim and qmail put the reply there) — not the boilerplate
/// that closes a notice.
fn paragraph(lines: &[&str]) -> String {
    let mut out = Vec::new();
    let mut breaks = 0;
    let mut seen_text = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            if seen_text && i > 0 {
                breaks += 1;
                if breaks >= 2 {
                    break;
                }
            }
            continue;
        }
        seen_text = true;
        out.push(*line);
    }
    out.join("\n")
}

fn is_daemon(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or_default();
    matches!(local, "mailer-daemon" | "mailer_daemon" | "double-bounce")
}

/// When the notice names no address: the headers some servers add, or the returned
/// message's addressee.
fn fallback_recipients(mail: &Mail) -> Vec<String> {
    let failed: Vec<String> = mail
        .headers
        .all("x-failed-recipients")
        .flat_map(addresses)
        .collect();
    if !failed.is_empty() {
        return failed;
    }
    let returned = mail
        .returned
        .clone()
        .or_else(|| inline_returned_headers(mail));
    let Some(returned) = returned else {
        return Vec::new();
    };
    let to: Vec<String> = returned.all("to").flat_map(addresses).collect();
    if !to.is_empty() {
        return to;
    }
    returned
        .all("received")
        .filter_map(|r| {
            r.to_ascii_lowercase()
                .split_once(" for ")
                .map(|(_, f)| f.to_string())
        })
        .filter_map(|f| first_address(&f))
        .take(1)
        .collect()
}
