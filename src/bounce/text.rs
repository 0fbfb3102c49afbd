//! Free-text bounce notices (Postfix, Exim, qmail, Sendmail, Exchange, Gmail, …). No two
//! servers word their notice alike, but nearly all follow one shape:
//! a preamble, then each failed address at the start of a line followed by the remote
//! server's reply, then a copy of the returned message. We read that shape rather than
//! keep a parser per server.

use super::Finding;
use super::autoreply::is_auto_reply;
use super::body::{body, inline_returned_headers, returned_start};
use super::codes::{best_status, find_command, find_host, find_reply_code};
use super::fields::{addresses, first_address};
use super::lines::{anchor, paragraph};
use super::mime::Mail;

/// Bounces that are no RFC 3464 report: one finding per failed address in the notice.
pub fn notice(mail: &Mail) -> Option<Vec<Finding>> {
    if let Some(findings) = list_refusal(mail) {
        return Some(findings);
    }
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

/// A mailing list manager's refusal of a post (fml: `X-MLServer`, its `-admin` sender
/// and its Message-ID): the list's address is the recipient that refused, and the
/// Subject is part of the verdict ("… are not member").
fn list_refusal(mail: &Mail) -> Option<Vec<Finding>> {
    let h = &mail.headers;
    let fml = h.has("x-mlserver")
        && h.get("from").is_some_and(|f| f.contains("-admin@"))
        && h.get("message-id").is_some_and(|m| m.contains(".FML"));
    if !fml {
        return None;
    }
    let body = body(mail);
    let notice = body
        .split("Original mail as follows:")
        .next()
        .unwrap_or_default();
    let recipient = notice.lines().find_map(|line| {
        let (_, rest) = line.split_once('<')?;
        first_address(rest.rsplit_once('>')?.0)
    })?;
    let block = format!("{}\n{}", mail.subject, notice);
    Some(vec![Finding {
        context: collapse(&block),
        ..finding(recipient, notice)
    }])
}

fn finding(recipient: String, block: &str) -> Finding {
    let reply_code = find_reply_code(block);
    Finding {
        status: best_status(None, block, reply_code),
        reply_code,
        command: find_command(block),
        remote_host: find_host(block),
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

/// Each failed address with the text about it.
fn recipients(notice: &[&str], excluded: &[Vec<String>; 2]) -> Vec<(String, String)> {
    let [lenient, strict] = excluded;
    let keep = |list: &[String], a: &str| !list.iter().any(|e| e == a) && !is_daemon(a);
    let anchors: Vec<(usize, String)> = notice
        .iter()
        .enumerate()
        .filter_map(|(i, l)| anchor(l).map(|a| (i, a)))
        .collect();
    let mentions = || -> Vec<(usize, String)> {
        notice
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.split_whitespace()
                    .filter(|word| !word.contains("://"))
                    .flat_map(addresses)
                    .map(move |a| (i, a))
            })
            .filter(|(_, a)| keep(strict, a))
            .collect()
    };
    // Addresses at the start of a line that are nobody we know; else any address in the
    // prose; else a line-starting address that is the notice's own addressee after all
    // (a message someone sent to themselves).
    let mut marks: Vec<(usize, String)> = anchors
        .iter()
        .filter(|(_, a)| keep(strict, a))
        .cloned()
        .collect();
    if marks.is_empty() {
        marks = mentions();
    }
    if marks.is_empty() {
        marks = anchors
            .into_iter()
            .filter(|(_, a)| keep(lenient, a))
            .collect();
    }
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
