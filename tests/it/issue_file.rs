//! The issue-file parser: the sample in full, then every class of bad input.

use mailroom::issue_file::{MAX_FILE_BYTES, parse_bytes};

use crate::helpers::{Instance, Sql, repo_path};

const HEAD: &str = "+++\nnumber = 7\ntitle = \"T\"\ndate = 2021-08-06\n+++\n";

#[test]
fn sample_issue_parses_into_the_full_model() {
    let bytes = std::fs::read(repo_path("samples/issue-210.md")).unwrap();
    let issue = parse_bytes("issue-210.md", &bytes).unwrap();
    assert_eq!(issue.number, 210);
    assert_eq!(issue.title, "Deep Learning Weekly: Issue #210");
    assert!(issue.subject.starts_with("On-device speech"));
    assert!(issue.preheader.starts_with("Small models"));
    assert_eq!(issue.date.to_string(), "2026-11-27");
    assert!(issue.intro.starts_with("Hey folks,"));
    assert!(
        issue.intro.contains("**running speech models on a phone**"),
        "inline Markdown kept"
    );
    let names: Vec<_> = issue.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Industry",
            "Mobile & Edge",
            "Learning Resources",
            "Libraries & Code",
            "Papers & Publications"
        ]
    );
    assert_eq!(issue.item_count(), 20);
    let paper = &issue.sections[4].items[0];
    assert_eq!(
        paper.url.as_deref(),
        Some("https://example.org/papers/sparse-attention-revisited")
    );
    assert_eq!(
        paper.blurb.split("\n\n").count(),
        3,
        "multi-paragraph abstract: {}",
        paper.blurb
    );
    let unlinked = &issue.sections[2].items[3];
    assert_eq!(
        unlinked.title,
        "Reading group notes: scaling laws in practice"
    );
    assert_eq!(unlinked.url, None);
}

#[test]
fn crlf_and_bom_are_accepted_and_subject_defaults_to_title() {
    let text = format!("\u{feff}{HEAD}Intro.\n\n## S\n\n### [A](https://a.example)\nBlurb.\n")
        .replace('\n', "\r\n");
    let issue = parse_bytes("x.md", text.as_bytes()).unwrap();
    assert_eq!(issue.subject, "T");
    assert_eq!(issue.intro, "Intro.");
    assert_eq!(issue.sections[0].items[0].blurb, "Blurb.");
}

#[test]
fn lists_and_inline_formatting_in_blurbs_are_kept() {
    let text = format!(
        "{HEAD}## S\n### Item\nSee *this* and `code`:\n\n- one\n- [two](https://two.example)\n"
    );
    let issue = parse_bytes("x.md", text.as_bytes()).unwrap();
    assert_eq!(
        issue.sections[0].items[0].blurb,
        "See *this* and `code`:\n\n- one\n- [two](https://two.example)"
    );
}

/// (what, file contents, expected line, expected words in the message)
fn bad_inputs() -> Vec<(&'static str, String, Option<usize>, &'static str)> {
    let body = "## S\n### I\nb\n";
    vec![
        (
            "no front matter",
            format!("# Title\n{body}"),
            Some(1),
            "missing TOML front matter",
        ),
        (
            "unclosed front matter",
            "+++\nnumber = 1\n".to_string(),
            Some(1),
            "never closed",
        ),
        (
            "invalid TOML",
            format!("+++\nnumber = = 1\n+++\n{body}"),
            Some(2),
            "invalid TOML",
        ),
        (
            "no number",
            format!("+++\ntitle = \"T\"\ndate = 2021-08-06\n+++\n{body}"),
            Some(1),
            "no `number`",
        ),
        (
            "number not positive",
            format!("+++\nnumber = 0\ntitle = \"T\"\ndate = 2021-08-06\n+++\n{body}"),
            Some(2),
            "positive whole number",
        ),
        (
            "unknown key",
            format!(
                "+++\nnumber = 1\ntitle = \"T\"\ndate = 2021-08-06\nauthor = \"me\"\n+++\n{body}"
            ),
            Some(5),
            "unknown front-matter key `author`",
        ),
        (
            "date as string",
            format!("+++\nnumber = 1\ntitle = \"T\"\ndate = \"yesterday\"\n+++\n{body}"),
            Some(4),
            "`date` must be a date",
        ),
        (
            "multi-line subject",
            format!(
                "+++\nnumber = 1\ntitle = \"T\"\nsubject = \"a\\nBcc: x@y.org\"\ndate = 2021-08-06\n+++\n{body}"
            ),
            Some(4),
            "single line",
        ),
        (
            "item outside a section",
            format!("{HEAD}Intro\n\n### Lost item\nb\n"),
            Some(8),
            "outside any section",
        ),
        (
            "section without items",
            format!("{HEAD}## Empty\n\n## Full\n### I\nb\n"),
            Some(6),
            "section `Empty` has no items",
        ),
        (
            "no sections",
            format!("{HEAD}Only an intro.\n"),
            Some(7),
            "no sections",
        ),
        (
            "text before first item",
            format!("{HEAD}## S\nstray text\n### I\nb\n"),
            Some(7),
            "text between `## S` and its first `###` item",
        ),
        (
            "h4 heading",
            format!("{HEAD}## S\n### I\n#### Sub\nb\n"),
            Some(8),
            "`####` headings are not supported",
        ),
        (
            "h1 heading",
            format!("{HEAD}# Big\n{body}"),
            Some(6),
            "`#` heading is not part of the issue format",
        ),
        (
            "table",
            format!("{HEAD}## S\n### I\n| a | b |\n|---|---|\n| 1 | 2 |\n"),
            Some(8),
            "tables are not supported",
        ),
        (
            "raw HTML block",
            format!("{HEAD}## S\n### I\n<div>hi</div>\n"),
            Some(8),
            "raw HTML is not supported",
        ),
        (
            "inline HTML",
            format!("{HEAD}## S\n### I\nsome <b>bold</b> text\n"),
            Some(8),
            "raw HTML is not supported",
        ),
        (
            "code block",
            format!("{HEAD}## S\n### I\n```\ncode\n```\n"),
            Some(8),
            "code blocks are not supported",
        ),
        (
            "block quote",
            format!("{HEAD}## S\n### I\n> quoted\n"),
            Some(8),
            "block quotes are not supported",
        ),
        (
            "image",
            format!("{HEAD}## S\n### I\n![alt](https://x.example/a.png)\n"),
            Some(8),
            "images are not supported",
        ),
        (
            "javascript link",
            format!("{HEAD}## S\n### I\n[x](javascript:alert(1))\n"),
            Some(8),
            "must be an absolute https://",
        ),
        (
            "reference link",
            format!("{HEAD}## S\n### I\n[x][r]\n\n[r]: https://x.example\n"),
            Some(8),
            "reference-style links",
        ),
        (
            "heading with two links",
            format!("{HEAD}## S\n### [a](https://a.example) and [b](https://b.example)\nb\n"),
            Some(7),
            "either `### [Title](https://…)` or plain text",
        ),
        (
            "rule",
            format!("{HEAD}## S\n### I\nb\n\n---\n"),
            Some(10),
            "horizontal rules",
        ),
    ]
}

#[test]
fn each_bad_input_class_is_refused_with_its_line() {
    for (what, text, line, words) in bad_inputs() {
        let err = parse_bytes("bad.md", text.as_bytes()).expect_err(what);
        let found = err.diagnostics.iter().find(|d| d.message.contains(words));
        let Some(d) = found else {
            panic!("{what}: expected a diagnostic containing {words:?}, got:\n{err}");
        };
        assert_eq!(d.line, line, "{what}: wrong line in:\n{err}");
        assert!(
            err.to_string()
                .contains(&format!("bad.md:{}:", line.unwrap())),
            "{what}: {err}"
        );
    }
}

#[test]
fn non_utf8_and_oversized_files_are_refused() {
    let mut bytes = format!("{HEAD}## S\n### I\n").into_bytes();
    bytes.extend_from_slice(b"caf\xe9\n");
    let err = parse_bytes("latin1.md", &bytes).unwrap_err();
    assert_eq!(err.diagnostics[0].line, Some(8), "{err}");
    assert!(
        err.to_string().contains("latin1.md:8: not valid UTF-8"),
        "{err}"
    );

    let big = vec![b'a'; MAX_FILE_BYTES + 1];
    let err = parse_bytes("big.md", &big).unwrap_err();
    assert!(err.to_string().starts_with("big.md: the file is"), "{err}");
    assert!(err.to_string().contains("limited to"), "{err}");
}

#[test]
fn several_problems_are_reported_together() {
    let text = "+++\nnumber = 1\ntitle = \"T\"\ndate = 2021-08-06\ncolour = 1\n+++\n## A\n## B\n### I\n<p>x</p>\n";
    let err = parse_bytes("multi.md", text.as_bytes()).unwrap_err();
    let lines: Vec<_> = err.diagnostics.iter().map(|d| d.line).collect();
    assert!(
        lines.contains(&Some(5)) && lines.contains(&Some(7)) && lines.contains(&Some(10)),
        "{err}"
    );
}

#[test]
fn the_cli_refuses_a_bad_file_with_file_line_and_stores_nothing() {
    let instance = Instance::new();
    let file = instance.write(
        "bad.md",
        format!("{HEAD}## S\n### I\n<script>x</script>\n").as_bytes(),
    );
    let stderr = instance.fails(&["issue", "import", file.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!("{}:8: raw HTML is not supported", file.display())),
        "{stderr}"
    );
    assert_eq!(instance.query_scalar("SELECT count(*) FROM issues"), 0);
    assert_eq!(instance.query_scalar("SELECT count(*) FROM events"), 0);
}

/// Control characters pass Markdown untouched and only break rendering at send time; they
/// are refused at import, each with its line, and nothing is stored.
#[test]
fn control_characters_are_refused_at_import_with_their_line() {
    let instance = Instance::new();
    for c in ['\0', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}'] {
        let text = format!(
            "{HEAD}Intro.\n\n## S\n\n### [A](https://a.example)\nBlurb with a {c} inside.\n\n### B{c}\nMore.\n"
        );
        let file = instance.write("ctrl.md", text.as_bytes());
        let stderr = instance.fails(&["issue", "import", file.to_str().unwrap()]);
        let code = format!("U+{:04X}", u32::from(c));
        for line in [11, 13] {
            assert!(
                stderr.contains(&format!("ctrl.md:{line}: the control character {code}")),
                "{c:?} on line {line}: {stderr}"
            );
        }
    }
    assert_eq!(instance.query_scalar("SELECT count(*) FROM issues"), 0);
    // Tabs and line breaks (LF or CRLF) are text.
    let text = format!("{HEAD}Intro\twith a tab.\n\n## S\n\n### [A](https://a.example)\nBlurb.\n")
        .replace('\n', "\r\n");
    assert!(parse_bytes("ok.md", text.as_bytes()).is_ok());
}

/// Content stored before the refusal existed cannot be frozen either.
#[test]
fn a_stored_draft_with_a_control_character_cannot_be_finalized() {
    let instance = Instance::new();
    let issue = repo_path("samples/issue-210.md");
    instance.ok(&["issue", "import", issue.to_str().unwrap()]);
    instance
        .execute(r"UPDATE issues SET content = replace(content, 'Hey folks', 'Hey\u001b folks')");
    let stderr = instance.fails(&["issue", "finalize", "210"]);
    assert!(
        stderr.contains("intro, line 1: the control character U+001B"),
        "{stderr}"
    );
    assert_eq!(instance.query_text("SELECT status FROM issues"), "draft");
}
