//! Reads an editor's issue file (TOML front matter + Markdown) into an [`Issue`].
//!
//! The format is strict on purpose: every construct is either part of the model (intro,
//! `##` sections, `###` items, paragraphs and lists with inline formatting) or refused with
//! `file:line`, so nothing an editor wrote is silently lost on the way to the inbox.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use pulldown_cmark::{Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

use crate::domain::{Issue, Item, Section, describe_control, is_forbidden_control};

/// Issue files are hand-written text; anything larger is a mistake (a pasted binary, a log).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

const RAW_HTML: &str = "raw HTML is not supported; use Markdown (*emphasis*, **bold**, \
     [links](https://…)), or write `<tag>` in backticks or as \\<tag> to show it as text";

const FRONT_MATTER_KEYS: &str = "number, title, subject, preheader, date";

/// One problem found in an issue file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: Option<usize>,
    pub message: String,
}

/// Every problem found in one file, reported together so an editor fixes them in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFileError {
    pub file: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for IssueFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match d.line {
                Some(line) => write!(f, "{}:{}: {}", self.file, line, d.message)?,
                None => write!(f, "{}: {}", self.file, d.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for IssueFileError {}

/// Reads and parses an issue file from disk.
pub fn read(path: &Path) -> anyhow::Result<Issue> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    Ok(parse_bytes(&path.display().to_string(), &bytes)?)
}

/// Parses raw file bytes; `file` names the source in diagnostics.
pub fn parse_bytes(file: &str, bytes: &[u8]) -> Result<Issue, IssueFileError> {
    let fail = |line, message: String| IssueFileError {
        file: file.to_string(),
        diagnostics: vec![Diagnostic { line, message }],
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(fail(
            None,
            format!(
                "the file is {} bytes; issue files are limited to {} bytes (1 MiB)",
                bytes.len(),
                MAX_FILE_BYTES
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        fail(
            Some(line),
            format!(
                "not valid UTF-8 (byte {}); save the file as UTF-8",
                e.valid_up_to()
            ),
        )
    })?;
    parse_str(file, text)
}

/// Parses issue-file text; `file` names the source in diagnostics.
pub fn parse_str(file: &str, text: &str) -> Result<Issue, IssueFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Line numbers count '\n', so CRLF files keep their numbering after normalizing.
    let text = text.replace("\r\n", "\n");
    let mut ctx = Ctx::default();
    // Refused before parsing: Markdown passes them through, and rendering fails on them
    // only at send time, long after the editor has gone home.
    for (n, line) in text.split('\n').enumerate() {
        if let Some(c) = line.chars().find(|c| is_forbidden_control(*c)) {
            ctx.error(n + 1, describe_control(c));
        }
    }
    if !ctx.diagnostics.is_empty() {
        return Err(IssueFileError {
            file: file.to_string(),
            diagnostics: ctx.diagnostics,
        });
    }
    let issue = parse_document(&mut ctx, &text);
    match issue {
        Some(issue) if ctx.diagnostics.is_empty() => Ok(issue),
        _ => Err(IssueFileError {
            file: file.to_string(),
            diagnostics: ctx.diagnostics,
        }),
    }
}

/// Checks an issue that arrived as JSON (the admin API) by the rules an issue file
/// follows: single-line titles, intro and blurbs of paragraphs and lists only, absolute
/// http(s)/mailto links. `source` names the request in diagnostics; lines count within
/// each Markdown field.
pub fn validate(source: &str, issue: &Issue) -> Result<(), IssueFileError> {
    let controls = issue.control_characters();
    if !controls.is_empty() {
        return Err(IssueFileError {
            file: source.to_string(),
            diagnostics: controls
                .iter()
                .map(|c| Diagnostic {
                    line: None,
                    message: c.to_string(),
                })
                .collect(),
        });
    }
    let mut ctx = Ctx::default();
    let mut field_errors = Vec::new();
    if issue.number == 0 {
        field_errors.push("number must be a positive whole number".to_string());
    }
    field_errors.extend(line_problem("title", &issue.title, false));
    field_errors.extend(line_problem("subject", &issue.subject, false));
    field_errors.extend(line_problem("preheader", &issue.preheader, true));
    if issue.sections.is_empty() {
        field_errors.push("the issue has no sections".to_string());
    }
    let mut markdown = vec![("intro".to_string(), issue.intro.as_str())];
    for (s, section) in issue.sections.iter().enumerate() {
        field_errors.extend(line_problem(
            &format!("sections[{s}].name"),
            &section.name,
            false,
        ));
        if section.items.is_empty() {
            field_errors.push(format!("sections[{s}] ({}) has no items", section.name));
        }
        for (i, item) in section.items.iter().enumerate() {
            field_errors.extend(line_problem(
                &format!("sections[{s}].items[{i}].title"),
                &item.title,
                false,
            ));
            if let Some(url) = &item.url {
                let before = ctx.diagnostics.len();
                check_url(&mut ctx, 1, url);
                if ctx.diagnostics.len() > before {
                    ctx.diagnostics.pop();
                    field_errors.push(format!("sections[{s}].items[{i}].url {url:?} must be an absolute https://, http:// or mailto: URL"));
                }
            }
            markdown.push((
                format!("sections[{s}].items[{i}].blurb"),
                item.blurb.as_str(),
            ));
        }
    }
    for (field, text) in markdown {
        let lines = Lines::new(text, 1);
        let options =
            Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
        let mut inner = Ctx::default();
        for block in top_level_blocks(Parser::new_ext(text, options).into_offset_iter()) {
            let Some((first, range)) = block.first() else {
                continue;
            };
            match first {
                Event::Start(Tag::Paragraph | Tag::List(_)) => {
                    check_prose(&mut inner, &lines, &block);
                }
                other => inner.error(lines.line(range.start), unsupported_block(other)),
            }
        }
        for d in inner.diagnostics {
            field_errors.push(format!(
                "{field}, line {}: {}",
                d.line.unwrap_or(1),
                d.message
            ));
        }
    }
    if field_errors.is_empty() {
        return Ok(());
    }
    Err(IssueFileError {
        file: source.to_string(),
        diagnostics: field_errors
            .into_iter()
            .map(|message| Diagnostic {
                line: None,
                message,
            })
            .collect(),
    })
}

#[derive(Default)]
struct Ctx {
    diagnostics: Vec<Diagnostic>,
}

impl Ctx {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            line: Some(line),
            message: message.into(),
        });
    }
}

fn parse_document(ctx: &mut Ctx, text: &str) -> Option<Issue> {
    let (front, body, body_line) = split_front_matter(ctx, text)?;
    let header = parse_front_matter(ctx, front);
    let body = parse_body(ctx, body, body_line);
    let header = header?;
    let (intro, sections) = body?;
    Some(Issue {
        number: header.number,
        subject: header.subject.unwrap_or_else(|| header.title.clone()),
        title: header.title,
        preheader: header.preheader.unwrap_or_default(),
        date: header.date,
        intro,
        sections,
    })
}

/// The front matter's text (with its first line number) and the body (with its first line).
struct FrontMatter<'a> {
    text: &'a str,
    first_line: usize,
}

fn split_front_matter<'a>(
    ctx: &mut Ctx,
    text: &'a str,
) -> Option<(FrontMatter<'a>, &'a str, usize)> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "+++" {
        ctx.error(
            1,
            "missing TOML front matter: the file must start with a line `+++`, then keys such \
             as `number = 210` and `title = \"…\"`, then a closing `+++`",
        );
        return None;
    }
    let mut offset = first.len();
    for (i, line) in lines.enumerate() {
        if line.trim_end() == "+++" {
            let front = FrontMatter {
                text: &text[first.len()..offset],
                first_line: 2,
            };
            return Some((front, &text[offset + line.len()..], i + 3));
        }
        offset += line.len();
    }
    ctx.error(
        1,
        "the front matter opened with `+++` is never closed; add a line `+++` after it",
    );
    None
}

struct Header {
    number: u32,
    title: String,
    subject: Option<String>,
    preheader: Option<String>,
    date: time::Date,
}

fn parse_front_matter(ctx: &mut Ctx, front: FrontMatter<'_>) -> Option<Header> {
    let table: toml::Table = match front.text.parse() {
        Ok(t) => t,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            let line = front.first_line + count_lines(&front.text[..at.min(front.text.len())]);
            ctx.error(
                line,
                format!("invalid TOML front matter: {}", e.message().trim()),
            );
            return None;
        }
    };
    let key_line = |key: &str| {
        front
            .text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map_or(1, |i| front.first_line + i)
    };
    let before = ctx.diagnostics.len();
    let (mut number, mut title, mut subject, mut preheader, mut date) =
        (None, None, None, None, None);
    for (key, value) in &table {
        let line = key_line(key);
        match key.as_str() {
            "number" => match value.as_integer().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => number = Some(n),
                _ => ctx.error(
                    line,
                    "`number` must be a positive whole number, like `number = 210`",
                ),
            },
            "title" => title = single_line(ctx, line, key, value, false),
            "subject" => subject = single_line(ctx, line, key, value, false),
            "preheader" => preheader = single_line(ctx, line, key, value, true),
            "date" => match value.as_datetime() {
                Some(dt) if dt.time.is_none() && dt.offset.is_none() => {
                    date = dt.date.and_then(|d| {
                        let month = time::Month::try_from(d.month).ok()?;
                        time::Date::from_calendar_date(i32::from(d.year), month, d.day).ok()
                    });
                }
                _ => ctx.error(
                    line,
                    "`date` must be a date without quotes, like `date = 2021-08-06`",
                ),
            },
            other => ctx.error(
                line,
                format!("unknown front-matter key `{other}`; expected one of {FRONT_MATTER_KEYS}"),
            ),
        }
    }
    let opening = front.first_line - 1;
    if !table.contains_key("number") {
        ctx.error(
            opening,
            "front matter has no `number`; add the issue number, like `number = 210`",
        );
    }
    if !table.contains_key("title") {
        ctx.error(
            opening,
            "front matter has no `title`; add one, like `title = \"Issue #210\"`",
        );
    }
    if !table.contains_key("date") {
        ctx.error(
            opening,
            "front matter has no `date`; add one, like `date = 2021-08-06`",
        );
    }
    if ctx.diagnostics.len() > before {
        return None;
    }
    Some(Header {
        number: number?,
        title: title?,
        subject,
        preheader,
        date: date?,
    })
}

fn single_line(
    ctx: &mut Ctx,
    line: usize,
    key: &str,
    value: &toml::Value,
    may_be_empty: bool,
) -> Option<String> {
    let Some(s) = value.as_str() else {
        ctx.error(line, format!("`{key}` must be a quoted string"));
        return None;
    };
    let s = s.trim();
    match line_problem(&format!("`{key}`"), s, may_be_empty) {
        Some(problem) => {
            ctx.error(line, problem);
            None
        }
        None => Some(s.to_string()),
    }
}

/// What is wrong with a one-line text field, if anything.
fn line_problem(field: &str, value: &str, may_be_empty: bool) -> Option<String> {
    if value.chars().any(char::is_control) {
        Some(format!("{field} must be a single line of text"))
    } else if !may_be_empty && value.trim().is_empty() {
        Some(format!("{field} must not be empty"))
    } else if value.chars().count() > 250 {
        Some(format!("{field} is longer than 250 characters"))
    } else {
        None
    }
}

fn count_lines(s: &str) -> usize {
    s.bytes().filter(|b| *b == b'\n').count()
}

/// Maps byte offsets in the body to file line numbers.
struct Lines {
    starts: Vec<usize>,
    first: usize,
}

impl Lines {
    fn new(body: &str, first: usize) -> Self {
        let starts = std::iter::once(0)
            .chain(body.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts, first }
    }
    fn line(&self, offset: usize) -> usize {
        self.first + self.starts.partition_point(|s| *s <= offset) - 1
    }
}

type Block<'a> = Vec<(Event<'a>, Range<usize>)>;

fn parse_body(ctx: &mut Ctx, body: &str, first_line: usize) -> Option<(String, Vec<Section>)> {
    let lines = Lines::new(body, first_line);
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    let mut builder = BodyBuilder::new(body);
    for block in top_level_blocks(Parser::new_ext(body, options).into_offset_iter()) {
        builder.block(ctx, &lines, block);
    }
    builder.finish(ctx, &lines)
}

/// Groups the event stream into top-level blocks (a heading, a paragraph, a list, …).
fn top_level_blocks<'a>(events: impl Iterator<Item = (Event<'a>, Range<usize>)>) -> Vec<Block<'a>> {
    let mut blocks = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    for (event, range) in events {
        match &event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        current.push((event, range));
        if depth == 0 {
            blocks.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

struct OpenSection {
    name: String,
    line: usize,
    items: Vec<Item>,
}

struct OpenItem {
    title: String,
    url: Option<String>,
    blurb: Option<Range<usize>>,
}

struct BodyBuilder<'a> {
    body: &'a str,
    intro: Option<Range<usize>>,
    sections: Vec<Section>,
    section: Option<OpenSection>,
    item: Option<OpenItem>,
}

impl<'a> BodyBuilder<'a> {
    fn new(body: &'a str) -> Self {
        Self {
            body,
            intro: None,
            sections: Vec::new(),
            section: None,
            item: None,
        }
    }

    fn block(&mut self, ctx: &mut Ctx, lines: &Lines, block: Block<'_>) {
        let Some((first, range)) = block.first() else {
            return;
        };
        let line = lines.line(range.start);
        let range = range.clone();
        match first {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                self.close_section(ctx, lines);
                if let Some(name) = heading_text(ctx, line, &block, false).map(|(t, _)| t) {
                    self.section = Some(OpenSection {
                        name,
                        line,
                        items: Vec::new(),
                    });
                }
            }
            Event::Start(Tag::Heading {
                level: HeadingLevel::H3,
                ..
            }) => {
                self.close_item();
                if self.section.is_none() {
                    ctx.error(
                        line,
                        "`###` item outside any section; add a `## Section` heading above it",
                    );
                    return;
                }
                if let Some((title, url)) = heading_text(ctx, line, &block, true) {
                    self.item = Some(OpenItem {
                        title,
                        url,
                        blurb: None,
                    });
                }
            }
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }) => ctx.error(
                line,
                "a `#` heading is not part of the issue format; the title comes from the front \
                 matter, sections are `##`, items are `###`",
            ),
            Event::Start(Tag::Heading { level, .. }) => ctx.error(
                line,
                format!(
                    "`{}` headings are not supported; use `##` for a section, `###` for an item, \
                     or **bold** text inside a blurb",
                    "#".repeat(*level as usize)
                ),
            ),
            Event::Start(Tag::Paragraph | Tag::List(_)) => {
                if check_prose(ctx, lines, &block) {
                    self.prose(ctx, line, range);
                }
            }
            other => ctx.error(line, unsupported_block(other)),
        }
    }

    fn prose(&mut self, ctx: &mut Ctx, line: usize, range: Range<usize>) {
        let extend = |slot: &mut Option<Range<usize>>| {
            let start = slot.as_ref().map_or(range.start, |r| r.start);
            *slot = Some(start..range.end);
        };
        match (&mut self.section, &mut self.item) {
            (None, _) => extend(&mut self.intro),
            (Some(_), Some(item)) => extend(&mut item.blurb),
            (Some(section), None) => ctx.error(
                line,
                format!(
                    "text between `## {}` and its first `###` item; move it into an item or the intro",
                    section.name
                ),
            ),
        }
    }

    fn close_item(&mut self) {
        if let (Some(section), Some(item)) = (&mut self.section, self.item.take()) {
            let blurb = item
                .blurb
                .map(|r| self.body[r].trim().to_string())
                .unwrap_or_default();
            section.items.push(Item {
                title: item.title,
                url: item.url,
                blurb,
            });
        }
    }

    fn close_section(&mut self, ctx: &mut Ctx, _lines: &Lines) {
        self.close_item();
        if let Some(section) = self.section.take() {
            if section.items.is_empty() {
                ctx.error(
                    section.line,
                    format!(
                        "section `{}` has no items; add `### Item` headings under it or remove it",
                        section.name
                    ),
                );
            }
            self.sections.push(Section {
                name: section.name,
                items: section.items,
            });
        }
    }

    fn finish(mut self, ctx: &mut Ctx, lines: &Lines) -> Option<(String, Vec<Section>)> {
        self.close_section(ctx, lines);
        if self.sections.is_empty() {
            ctx.error(
                lines.line(self.body.len()),
                "the issue has no sections; add at least one `## Section` with `### Item`s",
            );
            return None;
        }
        let intro = self
            .intro
            .map(|r| self.body[r].trim().to_string())
            .unwrap_or_default();
        Some((intro, self.sections))
    }
}

/// The plain text of a heading, and for item headings the link when the whole title is one.
fn heading_text(
    ctx: &mut Ctx,
    line: usize,
    block: &Block<'_>,
    item: bool,
) -> Option<(String, Option<String>)> {
    let inner = &block[1..block.len().saturating_sub(1)];
    let mut text = String::new();
    let mut links = Vec::new();
    for (event, _) in inner {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::SoftBreak | Event::HardBreak => text.push(' '),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::Html(_) | Event::InlineHtml(_) => {
                ctx.error(
                    line,
                    "raw HTML is not supported in headings; write plain text",
                );
                return None;
            }
            Event::Start(Tag::Image { .. }) => {
                ctx.error(line, "images are not supported in headings");
                return None;
            }
            _ => {}
        }
    }
    let text = text.trim().to_string();
    if text.is_empty() {
        ctx.error(line, "empty heading; give it a title");
        return None;
    }
    let whole_link = matches!(inner.first(), Some((Event::Start(Tag::Link { .. }), _)))
        && matches!(inner.last(), Some((Event::End(TagEnd::Link), _)));
    match (item, links.len()) {
        (_, 0) => Some((text, None)),
        (true, 1) if whole_link => {
            let url = links.remove(0);
            check_url(ctx, line, &url).then_some((text, Some(url)))
        }
        (true, _) => {
            ctx.error(
                line,
                "an item heading is either `### [Title](https://…)` or plain text",
            );
            None
        }
        (false, _) => {
            ctx.error(
                line,
                "section headings cannot contain links; write plain text",
            );
            None
        }
    }
}

/// Checks a paragraph or list for constructs the email cannot carry faithfully.
fn check_prose(ctx: &mut Ctx, lines: &Lines, block: &Block<'_>) -> bool {
    let before = ctx.diagnostics.len();
    for (event, range) in block {
        let line = lines.line(range.start);
        match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) => match link_type {
                LinkType::Inline | LinkType::Autolink | LinkType::Email => {
                    check_url(ctx, line, dest_url);
                }
                _ => ctx.error(
                    line,
                    "reference-style links are not supported; write [text](https://…)",
                ),
            },
            Event::Start(
                Tag::Paragraph
                | Tag::List(_)
                | Tag::Item
                | Tag::Emphasis
                | Tag::Strong
                | Tag::Strikethrough,
            )
            | Event::End(_)
            | Event::Text(_)
            | Event::Code(_)
            | Event::SoftBreak
            | Event::HardBreak => {}
            Event::Html(_) | Event::InlineHtml(_) => ctx.error(line, RAW_HTML),
            Event::Start(Tag::Image { .. }) => ctx.error(
                line,
                "images are not supported yet; link to the image instead",
            ),
            Event::FootnoteReference(_) => ctx.error(
                line,
                "footnotes are not supported; put the note in the text",
            ),
            Event::Start(other) => ctx.error(line, unsupported_block(&Event::Start(other.clone()))),
            other => ctx.error(line, format!("unsupported Markdown construct {other:?}")),
        }
    }
    ctx.diagnostics.len() == before
}

fn check_url(ctx: &mut Ctx, line: usize, url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let ok = ["https://", "http://", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p) && lower.len() > p.len())
        && !url.chars().any(|c| c.is_control() || c.is_whitespace());
    if !ok {
        ctx.error(
            line,
            format!("link target `{url}` must be an absolute https://, http:// or mailto: URL"),
        );
    }
    ok
}

fn unsupported_block(event: &Event<'_>) -> String {
    let what = match event {
        Event::Start(Tag::Table(_)) => "tables are not supported in email; use a list",
        Event::Start(Tag::BlockQuote(_)) => "block quotes are not supported; use a paragraph",
        Event::Start(Tag::CodeBlock(_)) => "code blocks are not supported; use `inline code`",
        Event::Start(Tag::HtmlBlock) | Event::Html(_) => RAW_HTML,
        Event::Start(Tag::FootnoteDefinition(_)) => {
            "footnotes are not supported; put the note in the text"
        }
        Event::Rule => "horizontal rules are not supported; sections are separated automatically",
        Event::Start(Tag::Heading { .. }) => "headings are not allowed inside lists",
        _ => "this Markdown construct is not supported in issue files",
    };
    what.to_string()
}
