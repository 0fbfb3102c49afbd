//! Builds one personalized MIME message from a rendered issue, and the double opt-in
//! confirmation messages.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use lettre::address::Envelope;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MessageBuilder, MultiPart};
use lettre::{Address, Message};

use crate::config::{DkimAlgorithm, DkimSettings, Settings};
use crate::domain::message_id;
use crate::render::{ClickLinks, Personal, RenderedConfirmation, RenderedIssue};
use crate::token::{ClickClaim, TokenKeys, UnsubscribeClaim};

/// Who a message goes to, and the delivery it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub delivery_id: i64,
    pub subscriber_id: i64,
    pub email: &'a str,
    pub name: &'a str,
    /// Random per delivery; with the id it makes the Message-ID.
    pub nonce: &'a str,
    /// The subscriber's attributes as stored (a JSON object), for the templates.
    pub attributes: &'a str,
}

/// A message and its personalized parts before MIME encoding.
pub struct Preview {
    pub message: Outgoing,
    pub html: String,
    pub text: String,
}

/// A finished message and its SMTP envelope.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: Envelope,
    pub bytes: Vec<u8>,
    /// Without angle brackets.
    pub message_id: String,
    pub unsubscribe_url: String,
}

/// Everything per-newsletter that goes into each message.
#[derive(Debug, Clone)]
pub struct MessageFactory {
    from: Mailbox,
    reply_to: Option<Mailbox>,
    list_id: String,
    list_slug: String,
    base_url: String,
    /// `{base_url}/c/`, as is and escaped for an HTML attribute.
    click_prefix: String,
    click_prefix_html: String,
    unsubscribe_domain: String,
    bounce_domain: String,
    id_domain: String,
    default_name: String,
    keys: TokenKeys,
    dkim: Option<Arc<Dkim>>,
}

impl MessageFactory {
    pub fn new(settings: &Settings, keys: TokenKeys) -> Result<Self> {
        let n = &settings.newsletter;
        let d = &settings.delivery;
        let from_address: Address = n.from_address.parse().with_context(|| {
            format!(
                "newsletter.from_address {:?} is not an address",
                n.from_address
            )
        })?;
        let reply_to = if n.reply_to.is_empty() {
            None
        } else {
            Some(Mailbox::new(
                None,
                n.reply_to
                    .parse()
                    .with_context(|| format!("newsletter.reply_to {:?}", n.reply_to))?,
            ))
        };
        // The domain parts must form valid addresses, checked once here rather than per message.
        for (key, domain) in [
            ("delivery.bounce_domain", &d.bounce_domain),
            ("delivery.unsubscribe_domain", &d.unsubscribe_domain),
        ] {
            format!("x@{domain}")
                .parse::<Address>()
                .with_context(|| format!("{key} {domain:?} is not a valid mail domain"))?;
        }
        anyhow::ensure!(
            !n.list_id.is_empty()
                && n.list_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)),
            "newsletter.list_id must be a dotted name like weekly.example.org"
        );
        let dkim =
            dkim_config(&settings.dkim, from_address.domain(), reply_to.is_some())?.map(Arc::new);
        let click_prefix = format!("{}/c/", n.base_url.trim_end_matches('/'));
        let mut click_prefix_html = String::new();
        crate::render::escape_html_into(&mut click_prefix_html, &click_prefix);
        Ok(Self {
            click_prefix,
            click_prefix_html,
            dkim,
            id_domain: from_address.domain().to_string(),
            from: Mailbox::new(
                Some(n.from_name.clone()).filter(|s| !s.is_empty()),
                from_address,
            ),
            reply_to,
            list_id: format!("{} <{}>", quote_phrase(&n.name), n.list_id),
            list_slug: n.list_id.split('.').next().unwrap_or("list").to_string(),
            base_url: n.base_url.trim_end_matches('/').to_string(),
            unsubscribe_domain: d.unsubscribe_domain.clone(),
            bounce_domain: d.bounce_domain.clone(),
            default_name: n.default_name.clone(),
            keys,
        })
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    /// The one-click unsubscribe URL for a subscriber and issue.
    pub fn unsubscribe_url(&self, subscriber_id: i64, issue_number: u32) -> String {
        let token = self.keys.unsubscribe(UnsubscribeClaim {
            subscriber_id,
            issue_number,
        });
        format!("{}/u/{token}", self.base_url)
    }

    /// Builds the complete message for one recipient.
    pub fn build(&self, issue: &RenderedIssue, r: &Recipient<'_>) -> Result<Outgoing> {
        Ok(self.compose(issue, r, false)?.0)
    }

    /// The message as [`MessageFactory::build`] makes it, with its personalized HTML and
    /// text parts as they read before MIME encoding: what `issue preview` writes.
    pub fn preview(&self, issue: &RenderedIssue, r: &Recipient<'_>) -> Result<Preview> {
        let (message, parts) = self.compose(issue, r, true)?;
        let (text, html) = parts.expect("kept when asked");
        Ok(Preview {
            message,
            html,
            text,
        })
    }

    /// Builds the message; with `keep_parts`, also returns copies of the personalized text
    /// and HTML (a preview's; the worker's path does not pay for the copies).
    fn compose(
        &self,
        issue: &RenderedIssue,
        r: &Recipient<'_>,
        keep_parts: bool,
    ) -> Result<(Outgoing, Option<(String, String)>)> {
        let to_address: Address = r
            .email
            .parse()
            .with_context(|| format!("stored address {:?} is invalid", r.email))?;
        let token = self.keys.unsubscribe(UnsubscribeClaim {
            subscriber_id: r.subscriber_id,
            issue_number: issue.number,
        });
        let unsubscribe_url = format!("{}/u/{token}", self.base_url);
        let mailto = format!("mailto:unsubscribe+{token}@{}", self.unsubscribe_domain);
        let bounce: Address = format!(
            "bounces+{}@{}",
            self.keys.bounce(r.delivery_id),
            self.bounce_domain
        )
        .parse()
        .context("VERP address")?;
        let message_id = message_id::format(issue.number, r.delivery_id, r.nonce, &self.id_domain);
        // A preview (delivery 0) names no delivery; every real one reads back.
        debug_assert!(
            r.delivery_id == 0 || message_id::delivery(&message_id) == Some(r.delivery_id)
        );

        // Most subscribers have none; skip the parse for them.
        let attributes: Option<serde_json::Map<String, serde_json::Value>> =
            match r.attributes.trim() {
                "" | "{}" => None,
                json => serde_json::from_str(json).ok(),
            };
        let clicks = DeliveryClicks {
            factory: self,
            issue_number: issue.number,
            delivery_id: r.delivery_id,
        };
        let personal = Personal {
            clicks: Some(&clicks),
            attributes: attributes.as_ref(),
            name: if r.name.is_empty() {
                &self.default_name
            } else {
                r.name
            },
            email: r.email,
            unsubscribe_url: &unsubscribe_url,
        };
        let to = Mailbox::new(
            Some(r.name.to_string()).filter(|s| !s.is_empty()),
            to_address.clone(),
        );
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(issue.subject.clone())
            .date(SystemTime::now())
            .message_id(Some(format!("<{message_id}>")))
            .raw_header(header("List-Id", self.list_id.clone()))
            .raw_header(header(
                "List-Unsubscribe",
                format!("<{unsubscribe_url}>, <{mailto}>"),
            ))
            .raw_header(header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ))
            .raw_header(header(
                "Feedback-ID",
                format!("{}:{}:newsletter:mailroom", issue.number, self.list_slug),
            ));
        let envelope = Envelope::new(Some(bounce), vec![to_address]).context("envelope")?;
        let (text, html) = (
            issue.text.personalize(&personal),
            issue.html.personalize(&personal),
        );
        let parts = keep_parts.then(|| (text.clone(), html.clone()));
        let bytes = self
            .finish(builder, text, html, self.dkim.as_ref().map(|d| &d.list))
            .context("assembling the message")?;
        let message = Outgoing {
            envelope,
            bytes,
            message_id,
            unsubscribe_url,
        };
        Ok((message, parts))
    }

    /// The part every message shares once its headers are set: Reply-To, the plain-text
    /// and 7-bit HTML alternatives, the DKIM signature (the configuration for the kind of
    /// message, see [`signed_headers`]), and the bytes to send.
    fn finish(
        &self,
        mut builder: MessageBuilder,
        text: String,
        html: String,
        dkim: Option<&DkimConfig>,
    ) -> Result<Vec<u8>, lettre::error::Error> {
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let mut message =
            builder.multipart(MultiPart::alternative_plain_html(text, html_body(html)))?;
        if let Some(dkim) = dkim {
            message.sign(dkim);
        }
        Ok(message.formatted())
    }

    /// The confirmation message for one address. It is not list mail: no List-Unsubscribe
    /// (the person is not on the list) and no VERP token (there is no delivery to name).
    pub fn confirmation(
        &self,
        rendered: &RenderedConfirmation,
        subscriber_id: i64,
        email: &str,
    ) -> Result<Outgoing> {
        let to_address: Address = email
            .parse()
            .with_context(|| format!("stored address {email:?} is invalid"))?;
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).context("operating system random source")?;
        let message_id = format!(
            "confirm.{subscriber_id}.{}@{}",
            data_encoding::HEXLOWER.encode(&nonce),
            self.id_domain
        );
        // Bounces of confirmations come back with the list's, where the relay's SPF is set up.
        let bounce: Address = format!("bounces@{}", self.bounce_domain)
            .parse()
            .context("bounce address")?;
        // Anyone can type anyone's address into the form, so the confirmation carries
        // no text the requester chose: not even the name as To's display name, where
        // `"Eve" <eve@evil.example>, x` would read as a message from us to a stranger with
        // the requester's words in it. The name waits in the database until confirmed.
        let to = Mailbox::new(None, to_address.clone());
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject.clone())
            .date(SystemTime::now())
            .message_id(Some(format!("<{message_id}>")))
            // RFC 3834: vacation responders must not answer it.
            .raw_header(header("Auto-Submitted", "auto-generated".into()));
        let envelope = Envelope::new(Some(bounce), vec![to_address]).context("envelope")?;
        let bytes = self
            .finish(
                builder,
                rendered.text.clone(),
                rendered.html.clone(),
                self.dkim.as_ref().map(|d| &d.confirmation),
            )
            .context("assembling the confirmation")?;
        Ok(Outgoing {
            envelope,
            bytes,
            message_id,
            unsubscribe_url: String::new(),
        })
    }
}

/// One delivery's counted item links, `{base_url}/c/TOKEN`, written only for the parts
/// whose item links the renderer left as placeholders (`analytics.clicks`).
#[derive(Debug)]
struct DeliveryClicks<'a> {
    factory: &'a MessageFactory,
    issue_number: u32,
    delivery_id: i64,
}

impl ClickLinks for DeliveryClicks<'_> {
    fn write_link(&self, out: &mut String, item: u16, html: bool) {
        let f = self.factory;
        out.push_str(if html {
            &f.click_prefix_html
        } else {
            &f.click_prefix
        });
        // Base32 in lower case: nothing to escape.
        f.keys.click_into(
            out,
            ClickClaim {
                issue_number: self.issue_number,
                item,
                delivery_id: self.delivery_id,
            },
        );
    }
}

/// The headers a receiver shows or acts on, the one-click unsubscribe pair included (Gmail
/// and Yahoo require it signed). Each is over-signed: named in `h=` once more than the
/// message carries it. A verifier hashes a name's instances from the bottom up and an
/// instance that is not there as nothing (RFC 6376 §5.4.2), so a copy added in transit
/// (a second From or List-Unsubscribe above ours, which many readers would show or use)
/// breaks the signature instead of riding on it.
const OVERSIGNED: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Signed once: informative, and a second copy misleads nobody.
/// Content-Type is not among them: lettre writes a multipart's Content-Type while
/// formatting, after signing, so a signature over it could never verify.
const SIGNED: &[&str] = &["List-Id", "Feedback-ID", "MIME-Version"];

/// The two kinds of message, which carry different headers and so over-sign differently.
#[derive(Debug)]
struct Dkim {
    list: DkimConfig,
    confirmation: DkimConfig,
}

/// The `h=` list for a message that has exactly one of each header in `present` and none
/// of the other signed ones.
///
/// lettre hashes each named header once, in the order it is first named (a name named
/// again replaces the same header in place), and writes every name into `h=`. So a name
/// listed twice hashes exactly as a verifier reads it when the message carries it once:
/// the instance, then nothing. Headers the message lacks are listed once, which already
/// makes any added copy break the signature.
fn signed_headers(present: &[&str]) -> Vec<HeaderName> {
    let mut names: Vec<&'static str> = OVERSIGNED.iter().chain(SIGNED).copied().collect();
    names.extend(
        OVERSIGNED
            .iter()
            .copied()
            .filter(|name| present.iter().any(|p| p.eq_ignore_ascii_case(name))),
    );
    names
        .into_iter()
        .map(HeaderName::new_from_ascii_str)
        .collect()
}

/// The headers every message has; list mail also has the unsubscribe pair.
const COMMON: &[&str] = &["From", "To", "Subject", "Date", "Message-ID"];

/// The configured DKIM private key: `dkim.private_key` (from the environment) or the
/// file `dkim.private_key_file`.
pub fn dkim_private_key(s: &DkimSettings) -> Result<String> {
    if !s.private_key.is_empty() {
        return Ok(s.private_key.expose().to_string());
    }
    anyhow::ensure!(
        !s.private_key_file.as_os_str().is_empty(),
        "dkim.selector is set but there is no key: set dkim.private_key_file or MAILROOM_DKIM__PRIVATE_KEY"
    );
    std::fs::read_to_string(&s.private_key_file).with_context(|| {
        format!(
            "dkim.private_key_file: reading {}",
            s.private_key_file.display()
        )
    })
}

fn dkim_config(s: &DkimSettings, from_domain: &str, reply_to: bool) -> Result<Option<Dkim>> {
    if s.selector.is_empty() {
        return Ok(None);
    }
    let key = dkim_private_key(s)?;
    let algorithm = match s.algorithm {
        DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
        DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
    };
    // The key is not Clone in lettre; each configuration loads its own.
    let signing_key = || {
        DkimSigningKey::new(key.trim(), algorithm).map_err(|e| {
            anyhow::anyhow!(
                "dkim: the private key does not load as {:?}: {e:?}",
                s.algorithm
            )
        })
    };
    let domain = s.signing_domain(from_domain).to_string();
    let config = |present: &[&str]| -> Result<DkimConfig> {
        let mut headers = signed_headers(present);
        if reply_to {
            headers.push(HeaderName::new_from_ascii_str("Reply-To"));
        }
        Ok(DkimConfig::new(
            s.selector.clone(),
            domain.clone(),
            signing_key()?,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        ))
    };
    let list_headers: Vec<&str> = COMMON
        .iter()
        .chain(&["List-Unsubscribe", "List-Unsubscribe-Post"])
        .copied()
        .collect();
    Ok(Some(Dkim {
        list: config(&list_headers)?,
        confirmation: config(COMMON)?,
    }))
}

/// The HTML part as 7bit when it qualifies (the renderer makes it ASCII with CRLF lines well
/// under 998 octets), which skips re-encoding ~30 KB per message; otherwise lettre picks
/// quoted-printable or base64.
fn html_body(html: String) -> Body {
    if seven_bit_lines(&html) {
        Body::dangerous_pre_encoded(html.into_bytes(), ContentTransferEncoding::SevenBit)
    } else {
        Body::new(html)
    }
}

/// ASCII, every line ended by CRLF, none longer than 998 octets (RFC 5322 2.1.1): what
/// may go as 7bit. One SIMD pass for the line ends, as this runs for every message.
fn seven_bit_lines(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.is_ascii() {
        return false;
    }
    let mut line_start = 0;
    for at in memchr::memchr_iter(b'\n', bytes) {
        if at == 0 || bytes[at - 1] != b'\r' || at - 1 - line_start > 998 {
            return false;
        }
        line_start = at + 1;
    }
    bytes.len() - line_start <= 998
}

fn header(name: &'static str, value: String) -> HeaderValue {
    // HeaderValue::new encodes and folds the value; nothing user-supplied is pre-encoded.
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// Quotes a display phrase for List-Id (RFC 5322 quoted-string).
fn quote_phrase(s: &str) -> String {
    let escaped: String = s
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::{COMMON, signed_headers};

    fn times_named(headers: &[lettre::message::header::HeaderName], name: &str) -> usize {
        headers.iter().filter(|h| *h == &name).count()
    }

    #[test]
    fn each_shown_header_is_named_once_more_than_the_message_has_it() {
        let list = signed_headers(&[
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
        ]);
        for name in ["From", "Date", "Message-ID", "List-Unsubscribe-Post"] {
            assert_eq!(times_named(&list, name), 2, "{name}");
        }
        for name in ["List-Id", "Feedback-ID", "MIME-Version"] {
            assert_eq!(times_named(&list, name), 1, "{name}");
        }
        // A confirmation has no unsubscribe pair: named once, for none.
        let confirmation = signed_headers(COMMON);
        assert_eq!(times_named(&confirmation, "Subject"), 2);
        assert_eq!(times_named(&confirmation, "List-Unsubscribe"), 1);
        assert_eq!(times_named(&confirmation, "List-Unsubscribe-Post"), 1);
    }
}
