//! Turns an [`Issue`] into a responsive HTML email and its plain-text twin, once per issue.
//!
//! minijinja fills the MJML template (HTML-escaping every value), mrml renders it, and the
//! result is split around per-subscriber placeholders. Personalizing a message is then a
//! concatenation of stored pieces and escaped values, with no template or MJML work per
//! subscriber.

mod confirm;
mod markdown;
mod templates;

use anyhow::{Context as _, Result};
use minijinja::Value;
use serde::Serialize;

pub use confirm::RenderedConfirmation;
pub use markdown::{to_html as markdown_to_html, to_text as markdown_to_text};
pub use templates::Templates;

use crate::config::{AnalyticsSettings, NewsletterSettings, Settings};
use crate::domain::Issue;

/// Width plain-text parts are wrapped at (RFC 3676 suggests under 78).
pub const TEXT_WIDTH: usize = 72;

/// The per-subscriber values a rendered issue leaves open.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Name,
    Email,
    UnsubscribeUrl,
    /// `subscriber.attributes.KEY`: the marker carries the key in hex, ended by `z`.
    Attribute(String),
    /// An item's link when click counts are on: the marker carries the item's index in
    /// decimal, ended by `z`. `url` is the item's own, written when no [`ClickLinks`] is
    /// given (a message built without a delivery to name).
    Click {
        item: u16,
        url: String,
    },
}

/// Marks an attribute placeholder after the prefix; not a prefix of any name in `VARS`.
const ATTRIBUTE: &str = "attr";
/// Marks an item link's placeholder after the prefix.
const CLICK: &str = "click";

const VARS: [(Var, &str); 3] = [
    (Var::Name, "name"),
    (Var::Email, "email"),
    (Var::UnsubscribeUrl, "unsub"),
];

/// Values for one recipient.
#[derive(Debug, Clone, Copy)]
pub struct Personal<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub unsubscribe_url: &'a str,
    /// The subscriber's attributes (a JSON object); `None` or a missing key fills in nothing.
    pub attributes: Option<&'a serde_json::Map<String, serde_json::Value>>,
    /// Writes the recipient's counted link for an item; `None` leaves item links direct.
    pub clicks: Option<&'a dyn ClickLinks>,
}

/// Writes one recipient's link for an item whose link is counted (`/c/TOKEN`), straight
/// into the message: it runs once per item per message, on the delivery's hot path.
pub trait ClickLinks: std::fmt::Debug {
    /// Appends the link for item `item`; `html`: escaped for an attribute value.
    fn write_link(&self, out: &mut String, item: u16, html: bool);
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Var(Var),
}

/// Rendered output with holes for per-subscriber values.
#[derive(Debug, Clone)]
pub struct Personalizable {
    pieces: Vec<Piece>,
    literal_len: usize,
    escape_html: bool,
}

impl Personalizable {
    /// `item_urls[i]` is item `i`'s URL (items numbered across sections, in order).
    fn split(
        rendered: &str,
        marker_prefix: &str,
        escape_html: bool,
        item_urls: &[Option<&str>],
    ) -> Self {
        let mut pieces = Vec::new();
        let mut rest = rendered;
        while let Some(at) = rest.find(marker_prefix) {
            let after = &rest[at + marker_prefix.len()..];
            if let Some((key, len)) = attribute_marker(after) {
                pieces.push(Piece::Literal(rest[..at].to_string()));
                pieces.push(Piece::Var(Var::Attribute(key)));
                rest = &after[len..];
                continue;
            }
            if let Some((item, url, len)) = click_marker(after, item_urls) {
                pieces.push(Piece::Literal(rest[..at].to_string()));
                pieces.push(Piece::Var(Var::Click {
                    item,
                    url: url.to_string(),
                }));
                rest = &after[len..];
                continue;
            }
            let Some((var, name)) = VARS.iter().find(|(_, n)| after.starts_with(n)) else {
                // Not one of ours (cannot happen with a random prefix); keep it as text.
                pieces.push(Piece::Literal(rest[..at + marker_prefix.len()].to_string()));
                rest = after;
                continue;
            };
            pieces.push(Piece::Literal(rest[..at].to_string()));
            pieces.push(Piece::Var(var.clone()));
            rest = &after[name.len()..];
        }
        pieces.push(Piece::Literal(rest.to_string()));
        pieces.retain(|p| !matches!(p, Piece::Literal(s) if s.is_empty()));
        let literal_len = pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(s) => s.len(),
                Piece::Var(_) => 0,
            })
            .sum();
        Self {
            pieces,
            literal_len,
            escape_html,
        }
    }

    /// The finished text for one recipient.
    pub fn personalize(&self, p: &Personal<'_>) -> String {
        let mut out = String::with_capacity(self.literal_len + 256);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                Piece::Var(Var::Click { item, url }) => match p.clicks {
                    Some(links) => links.write_link(&mut out, *item, self.escape_html),
                    None if self.escape_html => escape_html_into(&mut out, url),
                    None => out.push_str(url),
                },
                Piece::Var(var) => {
                    let attribute;
                    let value = match var {
                        Var::Name => p.name,
                        Var::Email => p.email,
                        Var::UnsubscribeUrl => p.unsubscribe_url,
                        Var::Attribute(key) => {
                            attribute = match p.attributes.and_then(|a| a.get(key)) {
                                Some(serde_json::Value::String(s)) => s.clone(),
                                Some(serde_json::Value::Null) | None => String::new(),
                                Some(other) => other.to_string(),
                            };
                            &attribute
                        }
                        Var::Click { .. } => unreachable!("matched above"),
                    };
                    if self.escape_html {
                        escape_html_into(&mut out, value);
                    } else {
                        out.push_str(value);
                    }
                }
            }
        }
        out
    }
}

/// Escapes text for HTML element content and quoted attribute values alike. Non-ASCII
/// becomes character references so the HTML part stays 7-bit (see [`seven_bit_html`]).
pub fn escape_html_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii() => out.push(c),
            c => push_char_ref(out, c),
        }
    }
}

fn push_char_ref(out: &mut String, c: char) {
    use std::fmt::Write;
    let _ = write!(out, "&#{};", u32::from(c));
}

/// Longest HTML line we emit: well under the 998 octets RFC 5322 allows, leaving room for
/// substituted values.
const MAX_HTML_LINE: usize = 700;

/// Rewrites rendered HTML so it is pure ASCII with short lines, which lets every message
/// go out as 7bit: no per-message quoted-printable pass over ~30 KB of HTML. Non-ASCII
/// characters become character references; long lines are broken at a space outside
/// attribute values, where HTML treats a newline exactly like the space it replaces.
/// Lines end in CRLF, as they must on the wire.
pub fn seven_bit_html(html: &str, max_line: usize) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut line_start = 0usize;
    let mut in_tag = false;
    let mut quote: Option<char> = None;
    for c in html.chars() {
        match c {
            '<' if quote.is_none() => in_tag = true,
            '>' if quote.is_none() => in_tag = false,
            '"' | '\'' if in_tag => match quote {
                None => quote = Some(c),
                Some(q) if q == c => quote = None,
                Some(_) => {}
            },
            _ => {}
        }
        if c == '\n' || (c == ' ' && quote.is_none() && out.len() - line_start >= max_line) {
            out.push_str("\r\n");
            line_start = out.len();
        } else if c == '\r' {
            // Dropped: every line ending is written as CRLF above.
        } else if c.is_ascii() {
            out.push(c);
        } else {
            push_char_ref(&mut out, c);
        }
    }
    out
}

/// An issue rendered once, ready to personalize per subscriber.
#[derive(Debug, Clone)]
pub struct RenderedIssue {
    pub number: u32,
    pub subject: String,
    pub html: Personalizable,
    pub text: Personalizable,
}

/// Fills templates and runs MJML. Built once per process from the newsletter settings.
pub struct Renderer {
    templates: Templates,
    newsletter: NewsletterSettings,
    /// The public archive's address, for each issue's "View in your browser" link.
    archive_url: Option<String>,
    /// Which parts' item links become per-recipient counted links.
    click_links: ClickParts,
}

/// The parts whose item links are counted (`analytics.clicks`, `analytics.text_links`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClickParts {
    pub html: bool,
    pub text: bool,
}

impl ClickParts {
    pub fn from_settings(a: &AnalyticsSettings) -> Self {
        Self {
            html: a.clicks,
            text: a.clicks && a.text_links,
        }
    }
}

#[derive(Serialize)]
struct TemplateContext<'a> {
    newsletter: NewsletterView<'a>,
    issue: IssueView,
    subscriber: SubscriberView,
    unsubscribe_url: String,
}

#[derive(Serialize)]
struct NewsletterView<'a> {
    name: &'a str,
    postal_address: &'a str,
    why_line: &'a str,
    base_url: &'a str,
}

#[derive(Serialize)]
struct IssueView {
    number: u32,
    /// The issue's public page; empty when the archive is off.
    web_url: String,
    title: String,
    subject: String,
    preheader: String,
    date: String,
    intro: Value,
    sections: Vec<SectionView>,
}

#[derive(Serialize)]
struct SectionView {
    name: String,
    items: Vec<ItemView>,
}

#[derive(Serialize)]
struct ItemView {
    title: String,
    /// The link to put in the message: the counted link's placeholder when clicks are
    /// counted in this part.
    url: Option<String>,
    /// The item's own URL, for templates that show it as text.
    direct_url: Option<String>,
    blurb: Value,
}

#[derive(Serialize)]
struct SubscriberView {
    name: String,
    email: String,
    attributes: Value,
}

/// `subscriber.attributes` while an issue renders once for everyone: any key a template
/// asks for becomes a placeholder filled per subscriber. (So attributes can be shown, not
/// tested in `{% if %}`: the template never sees a subscriber's actual values.)
#[derive(Debug)]
struct AttributeMarkers {
    prefix: String,
}

impl minijinja::value::Object for AttributeMarkers {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        Some(Value::from(format!(
            "{}{ATTRIBUTE}{}z",
            self.prefix,
            data_encoding::HEXLOWER.encode(key.as_bytes())
        )))
    }
}

/// Reads `click<decimal>z` at the start of `after`: the item, its URL and the marker's
/// length. An index with no URL is not ours, and stays text.
fn click_marker<'u>(after: &str, item_urls: &[Option<&'u str>]) -> Option<(u16, &'u str, usize)> {
    let digits = after.strip_prefix(CLICK)?;
    let end = digits.find('z')?;
    let item: u16 = digits[..end].parse().ok()?;
    let url = (*item_urls.get(usize::from(item))?)?;
    Some((item, url, CLICK.len() + end + 1))
}

/// Reads `attr<hex>z` at the start of `after`: the key and the marker's length.
fn attribute_marker(after: &str) -> Option<(String, usize)> {
    let hex = after.strip_prefix(ATTRIBUTE)?;
    let end = hex.find('z')?;
    let key = data_encoding::HEXLOWER
        .decode(&hex.as_bytes()[..end])
        .ok()?;
    Some((String::from_utf8(key).ok()?, ATTRIBUTE.len() + end + 1))
}

impl Renderer {
    /// `archive_url` is [`crate::config::Settings::archive_url`]: with it every issue links
    /// to its public page.
    pub fn new(newsletter: &NewsletterSettings, archive_url: Option<String>) -> Result<Self> {
        let templates = Templates::load(&newsletter.templates_dir)?;
        Ok(Self {
            templates,
            newsletter: newsletter.clone(),
            archive_url,
            click_links: ClickParts::default(),
        })
    }

    /// The renderer of list mail as `settings` configure it: the archive link, and item
    /// links counted when `analytics.clicks` is on.
    pub fn for_list_mail(settings: &Settings) -> Result<Self> {
        Ok(Self::new(&settings.newsletter, settings.archive_url())?
            .with_click_links(ClickParts::from_settings(&settings.analytics)))
    }

    /// Item links in `parts` become placeholders for per-recipient counted links.
    pub fn with_click_links(mut self, parts: ClickParts) -> Self {
        self.click_links = parts;
        self
    }

    /// Where issue `number` can be read on the web, if the archive is on.
    pub fn web_url(&self, number: u32) -> Option<String> {
        self.archive_url
            .as_ref()
            .map(|base| format!("{base}/{number}"))
    }

    /// Renders `issue` to MJML-generated HTML and plain text, each with placeholders.
    pub fn render(&self, issue: &Issue) -> Result<RenderedIssue> {
        let prefix = marker_prefix();
        let mjml = self
            .fill(issue, &prefix, Format::Html)
            .context("filling the MJML template")?;
        let html = seven_bit_html(&mjml_to_html(&mjml)?, MAX_HTML_LINE);
        let text = self
            .fill(issue, &prefix, Format::Text)
            .context("filling the text template")?;
        let item_urls: Vec<Option<&str>> = issue.items().map(|i| i.url.as_deref()).collect();
        Ok(RenderedIssue {
            number: issue.number,
            subject: issue.subject.clone(),
            html: Personalizable::split(&html, &prefix, true, &item_urls),
            text: Personalizable::split(&text, &prefix, false, &item_urls),
        })
    }

    /// The filled MJML source, for template authors debugging their changes.
    pub fn mjml_source(&self, issue: &Issue) -> Result<String> {
        self.fill(issue, &marker_prefix(), Format::Html)
    }

    fn fill(&self, issue: &Issue, prefix: &str, format: Format) -> Result<String> {
        let marker = |name: &str| format!("{prefix}{name}");
        let md = |source: &str| match format {
            Format::Html => Value::from_safe_string(markdown::to_html(source)),
            Format::Text => Value::from(markdown::to_text(source, TEXT_WIDTH)),
        };
        let counted = match format {
            Format::Html => self.click_links.html,
            Format::Text => self.click_links.text,
        };
        // Items are numbered across sections, in order: the index a click token names.
        let mut index = 0usize;
        let mut link = |url: &Option<String>| {
            let n = index;
            index += 1;
            match url {
                Some(_) if counted && n <= usize::from(u16::MAX) => {
                    Some(marker(&format!("{CLICK}{n}z")))
                }
                url => url.clone(),
            }
        };
        let ctx = TemplateContext {
            newsletter: NewsletterView {
                name: &self.newsletter.name,
                postal_address: &self.newsletter.postal_address,
                why_line: &self.newsletter.why_line,
                base_url: &self.newsletter.base_url,
            },
            issue: IssueView {
                number: issue.number,
                web_url: self.web_url(issue.number).unwrap_or_default(),
                title: issue.title.clone(),
                subject: issue.subject.clone(),
                preheader: issue.preheader.clone(),
                date: long_date(issue.date),
                intro: md(&issue.intro),
                sections: issue
                    .sections
                    .iter()
                    .map(|s| SectionView {
                        name: s.name.clone(),
                        items: s
                            .items
                            .iter()
                            .map(|i| ItemView {
                                title: i.title.clone(),
                                url: link(&i.url),
                                direct_url: i.url.clone(),
                                blurb: md(&i.blurb),
                            })
                            .collect(),
                    })
                    .collect(),
            },
            subscriber: SubscriberView {
                name: marker("name"),
                email: marker("email"),
                attributes: Value::from_object(AttributeMarkers {
                    prefix: prefix.to_string(),
                }),
            },
            unsubscribe_url: marker("unsub"),
        };
        let name = match format {
            Format::Html => "issue.mjml",
            Format::Text => "issue.txt",
        };
        self.templates.render(name, &ctx)
    }
}

#[derive(Clone, Copy)]
enum Format {
    Html,
    Text,
}

/// Renders MJML to HTML with mrml.
pub fn mjml_to_html(mjml: &str) -> Result<String> {
    let source = mjml.replace("\r\n", "\n");
    let parsed = mrml::parse(&source).map_err(|e| anyhow::anyhow!("invalid MJML: {e}"))?;
    let options = mrml::prelude::render::RenderOptions {
        // No web fonts: they are fetched from Google by default and most clients block them.
        fonts: Default::default(),
        ..Default::default()
    };
    let html = parsed
        .element
        .render(&options)
        .map_err(|e| anyhow::anyhow!("MJML rendering failed: {e}"))?;
    Ok(html)
}

/// A random marker per rendering, so no issue text can collide with a placeholder.
fn marker_prefix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("operating system random source");
    format!("mrv{}x", data_encoding::HEXLOWER.encode(&bytes))
}

/// "6 August 2021": unambiguous for every reader, unlike 06/08/2021.
pub fn long_date(date: time::Date) -> String {
    format!("{} {} {}", date.day(), date.month(), date.year())
}
