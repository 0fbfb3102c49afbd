//! Where things are in a report's readable text: the notice proper, the session
//! transcript, and the copy of the returned message that servers append after it.

use super::fields::Fields;
use super::lines::{anchor, paragraph};
use super::mime::Mail;

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

/// Where the copy of the returned message starts in a notice (or the end).
pub fn returned_start(lines: &[&str]) -> usize {
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
