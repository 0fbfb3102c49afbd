//! The MIME structure of a returned message, as the classifier needs it: mail-parser does
//! the decoding (transfer encodings, charsets, nesting); this module sorts the parts into
//! the human-readable notice, machine-readable reports and the returned original.

use mail_parser::decoders::html::html_to_text;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::fields::Fields;

/// The pieces of one message that bounce parsing looks at.
#[derive(Debug, Default)]
pub struct Mail {
    /// Top-level header fields of the report itself.
    pub headers: Fields,
    /// The decoded Subject (encoded words resolved).
    pub subject: String,
    /// Text of the readable parts (text/plain, text/html without tags), in order.
    pub texts: Vec<String>,
    /// Contents of `message/delivery-status` parts (RFC 3464).
    pub status_parts: Vec<String>,
    /// Contents of `message/feedback-report` parts (RFC 5965).
    pub feedback_parts: Vec<String>,
    /// Header fields of the returned message (`message/rfc822` or `text/rfc822-headers`).
    pub returned: Option<Fields>,
    /// The whole returned `message/rfc822` part, for reports forwarded as an attachment.
    pub returned_raw: Option<Vec<u8>>,
}

impl Mail {
    /// Reads a message with LF line endings. Input that has no header block still gives a
    /// `Mail` whose only text is the input.
    pub fn read(raw: &[u8]) -> Self {
        let head_end = header_end(raw);
        let mut mail = Mail {
            headers: Fields::parse(&String::from_utf8_lossy(&raw[..head_end])),
            ..Mail::default()
        };
        // mail-parser is third-party code run on hostile input: if it ever panics, the
        // message is still read as plain text rather than taking the caller down.
        let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
        match parsed {
            Ok(Some(message)) => mail.collect(&message, raw),
            _ => mail
                .texts
                .push(String::from_utf8_lossy(&raw[head_end..]).into_owned()),
        }
        mail
    }

    fn collect(&mut self, message: &Message<'_>, raw: &[u8]) {
        self.subject = message.subject().unwrap_or_default().to_string();
        for part in &message.parts {
            let kind = mime_type(part);
            match (kind.as_str(), &part.body) {
                (_, PartType::Multipart(_)) => {}
                (_, PartType::Message(inner)) => self.returned_message(part, inner, raw),
                ("message/delivery-status" | "message/global-delivery-status", _) => {
                    self.status_parts.push(lossy(part));
                }
                ("message/feedback-report", _) => self.feedback_parts.push(lossy(part)),
                ("text/rfc822-headers" | "text/rfc822-header" | "text/global-headers", _) => {
                    self.returned
                        .get_or_insert_with(|| Fields::parse(&lossy(part)));
                }
                // A returned message mail-parser kept as text or bytes (it gives up on a
                // nested message it finds malformed).
                ("message/rfc822" | "message/global", _) => {
                    let bytes = part.contents();
                    let head_end = header_end(bytes);
                    self.returned.get_or_insert_with(|| {
                        Fields::parse(&String::from_utf8_lossy(&bytes[..head_end]))
                    });
                    self.returned_raw.get_or_insert_with(|| bytes.to_vec());
                }
                (_, PartType::Html(html)) => self.texts.push(html_to_text(html)),
                (_, PartType::Text(text)) => self.texts.push(text.to_string()),

                // A multipart without a usable boundary comes back as raw bytes; its
                // text is still the notice.
                (t, PartType::Binary(bytes) | PartType::InlineBinary(bytes))
                    if t.starts_with("multipart/") || t.starts_with("text/") =>
                {
                    self.texts.push(String::from_utf8_lossy(bytes).into_owned());
                }
                _ => {}
            }
        }
    }

    fn returned_message(&mut self, part: &MessagePart<'_>, inner: &Message<'_>, raw: &[u8]) {
        if self.returned.is_some() {
            return;
        }
        // mail-parser keeps the nested message's own bytes; its part offsets point into the
        // outer message, so the header block is read from the bytes directly.
        let own = inner.raw_message();
        let whole = if own.is_empty() {
            raw.get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default()
        } else {
            own
        };
        let head_end = header_end(whole);
        self.returned = Some(Fields::parse(&String::from_utf8_lossy(&whole[..head_end])));
        self.returned_raw = Some(whole.to_vec());
    }

    /// All readable text of the report, joined.
    pub fn text(&self) -> String {
        self.texts.join("\n")
    }
}

fn mime_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => format!(
            "{}/{}",
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or_default().to_ascii_lowercase()
        ),
        None => "text/plain".to_string(),
    }
}

fn lossy(part: &MessagePart<'_>) -> String {
    String::from_utf8_lossy(part.contents()).into_owned()
}

/// Where the header block ends: after the first empty line, or the whole input.
fn header_end(raw: &[u8]) -> usize {
    if raw.starts_with(b"\n") {
        return 0;
    }
    raw.windows(2)
        .position(|w| w == b"\n\n")
        .map_or(raw.len(), |p| p + 1)
}
