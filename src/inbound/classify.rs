//! What a message sent back to mailroom is, decided from its bytes alone: a mailto
//! unsubscribe, a bounce or complaint and the delivery it names, mail for someone else,
//! or something to refuse unread. No database, so the fuzzer drives it directly.

use mail_parser::{HeaderValue, Message, MessageParser, PartType};
use sha2::{Digest, Sha256};

use crate::bounce::{self, Parsed, Report};
use crate::domain::message_id;
use crate::token::{TokenKeys, UnsubscribeClaim};

/// MIME nesting deeper than this is refused. Real reports nest four levels at most
/// (report → returned message → alternative → text), six when forwarded to a postmaster.
pub const MAX_MIME_DEPTH: usize = 12;

/// Why a message was refused unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over `bounces.max_message_bytes`: its size, or as much of it as was read.
    TooLarge(u64),
    /// No header block: not an e-mail message at all.
    NotMail,
    /// MIME parts nested deeper than [`MAX_MIME_DEPTH`].
    TooDeep,
    /// A MIME structure the MIME parser gave up on.
    Malformed,
    /// Sent to our bounce address but no report could be read from it (cut short or
    /// mangled); an operator should look.
    Unreadable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(size) => write!(f, "too large: {size} bytes or more"),
            Self::NotMail => f.write_str("not an e-mail message (no header block)"),
            Self::TooDeep => write!(f, "MIME parts nested deeper than {MAX_MIME_DEPTH}"),
            Self::Malformed => f.write_str("a MIME structure the parser gave up on"),
            Self::Unreadable => f.write_str("sent to the bounce address but no report in it"),
        }
    }
}

/// What names the delivery a bounce is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A VERP token that verified.
    Token(i64),
    /// No token at all, but the returned Message-ID has our shape: the delivery it claims,
    /// which holds only if that delivery's stored Message-ID is the same.
    MessageId {
        delivery_id: i64,
        message_id: String,
    },
    /// A token that does not verify (forged or altered), or valid tokens that disagree.
    Forged,
    /// Nothing names a delivery of ours.
    Unknown,
}

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Refused(Refusal),
    /// Sent to `unsubscribe+TOKEN@…`; `None` when the token does not verify.
    Unsubscribe(Option<UnsubscribeClaim>),
    /// A bounce, complaint or auto-reply. `key` identifies the message for idempotence.
    Bounce {
        reports: Vec<Report>,
        origin: Origin,
        key: String,
    },
    /// Neither: mail for some other address, left where it is.
    NotOurs,
}

/// Classifies messages for one mailroom instance.
#[derive(Debug, Clone)]
pub struct Classifier<'a> {
    pub keys: &'a TokenKeys,
    /// Domain of `unsubscribe+TOKEN@…` addresses.
    pub unsubscribe_domain: &'a str,
    /// Domain of `bounces+TOKEN@…` (VERP) addresses.
    pub bounce_domain: &'a str,
    pub max_bytes: u64,
}

impl Classifier<'_> {
    /// `envelope_recipient` is the address the MTA delivered the message to, when it says
    /// (headers can be forged or rewritten; the envelope cannot). Never panics.
    pub fn classify(&self, raw: &[u8], envelope_recipient: Option<&str>) -> Kind {
        let size = raw.len() as u64;
        if size > self.max_bytes {
            return Kind::Refused(Refusal::TooLarge(size));
        }
        let raw = bounce::without_postmark(raw);
        if !starts_with_header_field(raw) {
            return Kind::Refused(Refusal::NotMail);
        }
        // mail-parser is third-party code run on hostile input; a panic in it (0.11 has
        // debug assertions that broken multiparts reach) refuses the message instead of
        // ending the run. The bounce parser guards its own call likewise.
        let message = match std::panic::catch_unwind(|| MessageParser::default().parse(raw)) {
            Ok(Some(message)) => message,
            Ok(None) => return Kind::Refused(Refusal::NotMail),
            Err(_) => return Kind::Refused(Refusal::Malformed),
        };
        if mime_depth(&message) > MAX_MIME_DEPTH {
            return Kind::Refused(Refusal::TooDeep);
        }
        let delivered_to = match envelope_recipient {
            Some(rcpt) => vec![rcpt.to_string()],
            None => recipients(raw),
        };
        if let Some(token) = delivered_to
            .iter()
            .find_map(|a| token_of(a, "unsubscribe+", self.unsubscribe_domain))
        {
            return Kind::Unsubscribe(self.keys.verify_unsubscribe(&token));
        }
        let reports = match bounce::parse(raw) {
            Parsed::Bounce(reports) if !reports.is_empty() => reports,
            _ if delivered_to.iter().any(|a| self.verp_token(a).is_some()) => {
                return Kind::Refused(Refusal::Unreadable);
            }
            _ => return Kind::NotOurs,
        };
        let origin = self.origin(&reports, &delivered_to);
        Kind::Bounce {
            reports,
            origin,
            key: message_key(raw),
        }
    }

    /// Every VERP token the message carries must verify and name the same delivery: one
    /// that does not is a forgery (or damage), and then nothing is trusted, not even the
    /// Message-ID. Only a message with no token at all falls back to the Message-ID.
    fn origin(&self, reports: &[Report], delivered_to: &[String]) -> Origin {
        let senders = reports
            .iter()
            .filter_map(|r| r.original.envelope_from.as_deref());
        let mut named = None;
        for token in delivered_to
            .iter()
            .map(String::as_str)
            .chain(senders)
            .filter_map(|a| self.verp_token(a))
        {
            match self.keys.verify_bounce(&token) {
                Some(id) if named.is_none_or(|n| n == id) => named = Some(id),
                _ => return Origin::Forged,
            }
        }
        if let Some(id) = named {
            return Origin::Token(id);
        }
        reports
            .iter()
            .filter_map(|r| r.original.message_id.as_deref())
            .find_map(|id| {
                Some(Origin::MessageId {
                    delivery_id: message_id::delivery(id)?,
                    message_id: id.to_string(),
                })
            })
            .unwrap_or(Origin::Unknown)
    }

    fn verp_token(&self, address: &str) -> Option<String> {
        token_of(address, "bounces+", self.bounce_domain)
    }
}

/// `prefix+TOKEN@domain` → TOKEN (local parts may have been case-folded on the way).
fn token_of(address: &str, prefix: &str, domain: &str) -> Option<String> {
    let (local, at) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    if !at.eq_ignore_ascii_case(domain) {
        return None;
    }
    let lower = local.to_ascii_lowercase();
    lower.strip_prefix(prefix).map(str::to_string)
}

/// Identifies a message across runs and copies: its own Message-ID, or a hash of its
/// bytes (line endings normalised) when it has none.
fn message_key(raw: &[u8]) -> String {
    let id = MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_string))
        .filter(|id| !id.trim().is_empty());
    match id {
        Some(id) => format!("message-id:{id}"),
        None => {
            let digest = Sha256::digest(bounce::normalize_eol(raw));
            format!("sha256:{}", data_encoding::HEXLOWER.encode(&digest))
        }
    }
}

/// Whether the first line is a header field (`Name: value`), as every message's is.
fn starts_with_header_field(raw: &[u8]) -> bool {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0 && line[..colon].iter().all(|&b| b.is_ascii_graphic())
}

/// How deeply the message's MIME parts nest (1 for a single part), counted up to one past
/// [`MAX_MIME_DEPTH`]. Walked with a stack: the input decides the depth.
fn mime_depth(message: &Message<'_>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(message, 0u32, 1usize)];
    while let Some((msg, part, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth > MAX_MIME_DEPTH {
            break;
        }
        match msg.parts.get(part as usize).map(|p| &p.body) {
            Some(PartType::Multipart(children)) => {
                stack.extend(
                    children
                        .iter()
                        .filter(|&&c| c > part)
                        .map(|&c| (msg, c, depth + 1)),
                );
            }
            Some(PartType::Message(inner)) => stack.push((inner, 0, depth + 1)),
            _ => {}
        }
    }
    deepest
}

/// Where a message says it was delivered to: the MTA's delivery headers first, then To/Cc.
fn recipients(raw: &[u8]) -> Vec<String> {
    let Some(message) = MessageParser::default().parse_headers(raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let HeaderValue::Text(text) = value {
                out.push(text.to_string());
            } else if let HeaderValue::Address(addr) = value {
                out.extend(addr.iter().filter_map(|a| a.address().map(str::to_string)));
            }
        }
    }
    for list in [message.to(), message.cc()].into_iter().flatten() {
        out.extend(list.iter().filter_map(|a| a.address().map(str::to_string)));
    }
    out
}

#[cfg(test)]
mod tests;
