//! RSS 2.0, Atom (RFC 4287), JSON Feed 1.1 and the sitemap, written directly.
//!
//! The `rss` and `atom_syndication` crates would bring quick-xml, derive_builder (with
//! darling and its proc macros) and, for Atom, chrono, to write four small documents of
//! fixed shape. The one thing to get right by hand is escaping, which [`escape`] does for
//! text and attribute values alike; the tests read the feeds back with a real parser and
//! validate the Atom feed against the RFC's schema.

use std::fmt::Write as _;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

/// What the feeds say about the archive itself.
#[derive(Debug, Clone)]
pub struct Channel<'a> {
    pub title: &'a str,
    pub description: &'a str,
    /// The archive's first index page.
    pub home_url: &'a str,
    pub author: &'a str,
    /// When the archive last changed.
    pub updated: OffsetDateTime,
}

/// One issue in a feed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub url: String,
    pub title: String,
    /// The preheader, or the subject.
    pub summary: String,
    /// The whole issue as HTML.
    pub content_html: String,
    pub published: OffsetDateTime,
}

/// Escapes text for XML (and HTML) element content and quoted attribute values. Characters
/// XML 1.0 forbids (C0 controls other than tab and line breaks, lone surrogates cannot
/// occur in a `str`, U+FFFE/U+FFFF) become U+FFFD: one would make the whole feed unreadable.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `<name>text</name>`, escaped, on a line of its own.
fn leaf(out: &mut String, name: &str, text: &str) {
    let _ = writeln!(out, "<{name}>{}</{name}>", escape(text));
}

/// RFC 3339 to the second, in UTC: `2026-12-04T07:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is valid");
    t.format(&Rfc3339).expect("a UTC time formats")
}

/// RFC 822 (as RFC 2822 writes it), which RSS 2.0 requires: `Fri, 04 Dec 2026 07:00:00 +0000`.
fn rfc822(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("0 is valid");
    t.format(&Rfc2822).expect("a UTC time after 1900 formats")
}

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// RSS 2.0 with the full content in `content:encoded` and the summary in `description`.
pub fn rss(channel: &Channel<'_>, self_url: &str, entries: &[Entry]) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push_str(
        "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n<channel>\n",
    );
    leaf(&mut out, "title", channel.title);
    leaf(&mut out, "link", channel.home_url);
    leaf(&mut out, "description", channel.description);
    leaf(&mut out, "language", "en");
    leaf(&mut out, "generator", "mailroom");
    leaf(&mut out, "lastBuildDate", &rfc822(channel.updated));
    let _ = writeln!(
        out,
        "<atom:link href=\"{}\" rel=\"self\" type=\"application/rss+xml\"/>",
        escape(self_url)
    );
    for e in entries {
        out.push_str("<item>\n");
        leaf(&mut out, "title", &e.title);
        leaf(&mut out, "link", &e.url);
        let _ = writeln!(out, "<guid isPermaLink=\"true\">{}</guid>", escape(&e.url));
        leaf(&mut out, "pubDate", &rfc822(e.published));
        leaf(&mut out, "description", &e.summary);
        leaf(&mut out, "content:encoded", &e.content_html);
        out.push_str("</item>\n");
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// Atom (RFC 4287): ids are the pages' permanent URLs, the content is escaped HTML.
pub fn atom(channel: &Channel<'_>, self_url: &str, entries: &[Entry]) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n");
    leaf(&mut out, "id", channel.home_url);
    leaf(&mut out, "title", channel.title);
    leaf(&mut out, "subtitle", channel.description);
    leaf(&mut out, "updated", &rfc3339(channel.updated));
    let _ = writeln!(
        out,
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
        escape(channel.home_url)
    );
    let _ = writeln!(
        out,
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        escape(self_url)
    );
    out.push_str("<author>\n");
    leaf(&mut out, "name", channel.author);
    leaf(&mut out, "uri", channel.home_url);
    out.push_str("</author>\n");
    leaf(&mut out, "generator", "mailroom");
    for e in entries {
        out.push_str("<entry>\n");
        leaf(&mut out, "id", &e.url);
        leaf(&mut out, "title", &e.title);
        let _ = writeln!(
            out,
            "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            escape(&e.url)
        );
        leaf(&mut out, "published", &rfc3339(e.published));
        // The content is frozen at finalize, so it changed last when it was published.
        leaf(&mut out, "updated", &rfc3339(e.published));
        leaf(&mut out, "summary", &e.summary);
        let _ = writeln!(
            out,
            "<content type=\"html\">{}</content>",
            escape(&e.content_html)
        );
        out.push_str("</entry>\n");
    }
    out.push_str("</feed>\n");
    out
}

/// JSON Feed 1.1 (<https://jsonfeed.org/version/1.1>).
pub fn json_feed(channel: &Channel<'_>, self_url: &str, entries: &[Entry]) -> String {
    let items: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.url,
                "url": e.url,
                "title": e.title,
                "summary": e.summary,
                "content_html": e.content_html,
                "date_published": rfc3339(e.published),
                "date_modified": rfc3339(e.published),
            })
        })
        .collect();
    let feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": channel.title,
        "description": channel.description,
        "home_page_url": channel.home_url,
        "feed_url": self_url,
        "language": "en",
        "authors": [{ "name": channel.author, "url": channel.home_url }],
        "items": items,
    });
    let mut text = serde_json::to_string_pretty(&feed).expect("JSON values serialize");
    text.push('\n');
    text
}

/// A sitemap (sitemaps.org 0.9) of the given pages and when each last changed.
pub fn sitemap(pages: &[(String, OffsetDateTime)]) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push_str("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for (url, modified) in pages {
        out.push_str("<url>");
        let _ = write!(
            out,
            "<loc>{}</loc><lastmod>{}</lastmod>",
            escape(url),
            rfc3339(*modified)
        );
        out.push_str("</url>\n");
    }
    out.push_str("</urlset>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn escaping_covers_markup_quotes_and_forbidden_characters() {
        assert_eq!(
            escape("a < b && \"c\" > 'd' \u{1} \u{ffff} é\n"),
            "a &lt; b &amp;&amp; &quot;c&quot; &gt; &#39;d&#39; \u{fffd} \u{fffd} é\n"
        );
    }

    #[test]
    fn dates_in_each_format() {
        let t = datetime!(2026-12-04 08:00:00.123 +01:00);
        assert_eq!(rfc3339(t), "2026-12-04T07:00:00Z");
        assert_eq!(rfc822(t), "Fri, 04 Dec 2026 07:00:00 +0000");
    }

    #[test]
    fn content_is_escaped_once_in_every_feed() {
        let channel = Channel {
            title: "News & <Views>",
            description: "d",
            home_url: "https://x.example/archive?a=1&b=2",
            author: "A",
            updated: datetime!(2026-12-04 07:00 UTC),
        };
        let entries = [Entry {
            url: "https://x.example/archive/1".into(),
            title: "</title><script>".into(),
            summary: "s".into(),
            content_html: "<p>Tom &amp; Jerry</p>".into(),
            published: datetime!(2026-12-04 07:00 UTC),
        }];
        let rss = rss(&channel, "https://x.example/feed.xml", &entries);
        assert!(
            rss.contains("<title>News &amp; &lt;Views&gt;</title>"),
            "{rss}"
        );
        assert!(rss.contains("<link>https://x.example/archive?a=1&amp;b=2</link>"));
        assert!(rss.contains("&lt;p&gt;Tom &amp;amp; Jerry&lt;/p&gt;"));
        assert!(!rss.contains("<script>"));
        let atom = atom(&channel, "https://x.example/atom.xml", &entries);
        assert!(
            atom.contains("<title>&lt;/title&gt;&lt;script&gt;</title>"),
            "{atom}"
        );
        let json: serde_json::Value = serde_json::from_str(&json_feed(
            &channel,
            "https://x.example/feed.json",
            &entries,
        ))
        .unwrap();
        assert_eq!(json["items"][0]["content_html"], "<p>Tom &amp; Jerry</p>");
    }
}
