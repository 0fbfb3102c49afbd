//! Markdown (already checked by the issue-file parser) to email HTML and to plain text.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

const OPTIONS: Options = Options::ENABLE_STRIKETHROUGH;

/// HTML for a blurb or intro. Raw HTML in the Markdown is shown as text, never passed
/// through: the issue-file parser refuses it, but content can arrive by other paths, and an
/// email must never carry markup (or a stray `</mj-text>`) that an editor did not mean.
pub fn to_html(markdown: &str) -> String {
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    let events = Parser::new_ext(markdown, OPTIONS).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Plain text wrapped at `width`: links become `text (url)`, lists keep their markers.
pub fn to_text(markdown: &str, width: usize) -> String {
    let mut out = TextWriter {
        width,
        blocks: Vec::new(),
        line: String::new(),
        lists: Vec::new(),
        new_list: false,
    };
    let mut links: Vec<(String, usize)> = Vec::new();
    for event in Parser::new_ext(markdown, OPTIONS) {
        match event {
            Event::Start(Tag::List(first)) => {
                out.flush();
                out.new_list |= out.lists.is_empty();
                out.lists.push(first);
            }
            Event::End(TagEnd::List(_)) => {
                out.flush();
                out.lists.pop();
            }
            Event::Start(Tag::Item) => {
                out.flush();
                let marker = match out.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}. ", *n - 1)
                    }
                    _ => "- ".to_string(),
                };
                out.line.push_str(&marker);
            }
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::HtmlBlock) => out.flush(),
            Event::Start(Tag::Link { dest_url, .. }) => {
                links.push((dest_url.to_string(), out.line.len()));
            }
            Event::End(TagEnd::Link) => {
                if let Some((url, start)) = links.pop() {
                    let text = &out.line[start..];
                    let shown = url.strip_prefix("mailto:").unwrap_or(&url);
                    if text != url && text != shown {
                        out.line.push_str(&format!(" ({url})"));
                    }
                }
            }
            // Raw HTML is shown as typed, as in the HTML part.
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.line.push_str(&t)
            }
            Event::SoftBreak => out.line.push(' '),
            Event::HardBreak => out.line.push('\n'),
            _ => {}
        }
    }
    out.flush();
    out.blocks.join("\n\n")
}

struct TextWriter {
    width: usize,
    blocks: Vec<String>,
    line: String,
    lists: Vec<Option<u64>>,
    /// Set when a top-level list starts, so it opens a block of its own.
    new_list: bool,
}

impl TextWriter {
    /// Wraps the pending paragraph or list item and stores it as a block.
    fn flush(&mut self) {
        let text = std::mem::take(&mut self.line);
        if text.trim().is_empty() {
            return;
        }
        let depth = self.lists.len();
        let indent = "  ".repeat(depth.saturating_sub(1));
        let hang = if depth > 0 {
            format!("{indent}  ")
        } else {
            String::new()
        };
        // URLs must survive intact, so words are never broken.
        let options = textwrap::Options::new(self.width)
            .break_words(false)
            .initial_indent(&indent)
            .subsequent_indent(&hang);
        let wrapped: Vec<String> = text
            .split('\n')
            .map(|part| textwrap::fill(part.trim(), &options))
            .collect();
        let block = wrapped.join("\n");
        // Consecutive list items read better without blank lines between them.
        match self.blocks.last_mut() {
            Some(last) if depth > 0 && !self.new_list => {
                last.push('\n');
                last.push_str(&block);
            }
            _ => self.blocks.push(block),
        }
        self.new_list = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_target_in_text() {
        let text = to_text("Read [the paper](https://arxiv.org/abs/1) today.", 72);
        assert_eq!(text, "Read the paper (https://arxiv.org/abs/1) today.");
    }

    #[test]
    fn autolinks_are_not_doubled() {
        assert_eq!(to_text("<https://example.org>", 72), "https://example.org");
    }

    #[test]
    fn lists_and_paragraphs() {
        let text = to_text("First para.\n\n- one\n- two\n\n1. a\n2. b\n\nLast.", 72);
        assert_eq!(text, "First para.\n\n- one\n- two\n\n1. a\n2. b\n\nLast.");
    }

    #[test]
    fn wraps_without_breaking_urls() {
        let long = format!("word {} word", "https://example.org/".repeat(5));
        let text = to_text(&long, 20);
        assert!(
            text.lines().any(|l| l == "https://example.org/".repeat(5)),
            "{text}"
        );
    }
}
