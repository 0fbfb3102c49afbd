//! Rendering: golden files, escaping, and the responsive layout in a real browser.

use std::path::Path;

use mailroom::config::Settings;
use mailroom::domain::{Issue, Item, Section};
use mailroom::render::{Personal, RenderedIssue, Renderer};

use crate::helpers::{chromium_dump_dom, repo_path};

fn sample_issue() -> Issue {
    let bytes = std::fs::read(repo_path("samples/issue-210.md")).unwrap();
    mailroom::issue_file::parse_bytes("issue-210.md", &bytes).unwrap()
}

fn render(issue: &Issue) -> RenderedIssue {
    let settings = Settings::load(Some(&repo_path("config/default.toml"))).unwrap();
    Renderer::new(&settings.newsletter, settings.archive_url())
        .unwrap()
        .render(issue)
        .unwrap()
}

const READER: Personal<'static> = Personal {
    name: "Ada Lovelace",
    email: "ada@example.org",
    unsubscribe_url: "https://news.example.org/u/TOKEN",
    attributes: None,
    clicks: None,
};

/// Compares with the stored file; on a mismatch writes `NAME.new` beside it for review.
/// `BLESS=1` accepts the new output.
fn assert_golden(name: &str, actual: &str) {
    let path = repo_path(&format!("tests/golden/{name}"));
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let new = path.with_extension(format!(
            "{}.new",
            path.extension().unwrap().to_str().unwrap()
        ));
        std::fs::write(&new, actual).unwrap();
        panic!(
            "{name} differs from the golden file; review `diff {} {}` and bless with BLESS=1",
            path.display(),
            new.display()
        );
    }
}

#[test]
fn html_and_text_match_the_golden_files() {
    let rendered = render(&sample_issue());
    assert_golden("issue-210.html", &rendered.html.personalize(&READER));
    assert_golden("issue-210.txt", &rendered.text.personalize(&READER));
}

#[test]
fn both_parts_carry_header_sections_items_and_footer() {
    let rendered = render(&sample_issue());
    let raw_html = rendered.html.personalize(&READER);
    assert!(raw_html.is_ascii(), "HTML part is 7-bit");
    assert!(
        raw_html.split("\r\n").all(|l| l.len() < 998),
        "HTML lines fit SMTP limits"
    );
    // Long lines are broken at spaces, so compare with whitespace collapsed.
    let html = collapse(&raw_html);
    let text = rendered.text.personalize(&READER);
    for part in [&html, &text] {
        assert!(part.contains("Deep Learning Weekly: Issue #210"));
        assert!(part.contains("Issue #210"));
        assert!(part.contains("27 November 2026"));
        assert!(part.contains("Hi Ada Lovelace,"));
        assert!(part.contains("https://news.example.org/u/TOKEN"));
        assert!(part.contains("You receive this email because you subscribed"));
        assert!(part.contains("1 Sample Street"));
        assert!(part.contains("https://example.org/papers/kv-compression"));
    }
    assert!(
        html.contains("Small models on phones"),
        "preheader in the HTML"
    );
    assert!(html.contains(">Mobile &amp; Edge<"));
    assert!(text.contains("== MOBILE & EDGE =="));
    assert!(html.contains("<strong>running speech models on a phone</strong>"));
    assert!(
        html.contains("64&#215;64"),
        "non-ASCII as character references"
    );
    assert!(text.contains("64×64"));
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn per_subscriber_values_are_escaped() {
    let rendered = render(&sample_issue());
    let sneaky = Personal {
        name: "<img src=x onerror=alert(1)> & \"Bob\"",
        email: "bob@example.org",
        unsubscribe_url: "https://news.example.org/u/a?b=1&c=\"2\"",
        attributes: None,
        clicks: None,
    };
    let html = collapse(&rendered.html.personalize(&sneaky));
    assert!(html.contains("Hi &lt;img src=x onerror=alert(1)&gt; &amp; &quot;Bob&quot;,"));
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("href=\"https://news.example.org/u/a?b=1&amp;c=&quot;2&quot;\""));
    let text = rendered.text.personalize(&sneaky);
    assert!(
        text.contains("Hi <img src=x onerror=alert(1)> & \"Bob\","),
        "text is not HTML-escaped"
    );
}

fn hostile_issue() -> Issue {
    Issue {
        number: 1,
        title: "Title <script>alert(1)</script>".into(),
        subject: "S".into(),
        preheader: "{{ x }}".into(),
        date: time::macros::date!(2021 - 08 - 06),
        intro: "Intro with {{ x }} and {% if true %}tag{% endif %}".into(),
        sections: vec![Section {
            name: "</mj-column></mj-section>".into(),
            items: vec![Item {
                title: "<script>alert('t')</script> {{ x }} </mj-text>".into(),
                url: Some("https://example.org/?a=1&b=\"2\"".into()),
                blurb: "Blurb <script>alert('b')</script>, {{ x }} and </mj-text> end.".into(),
            }],
        }],
    }
}

#[test]
fn markup_in_issue_content_arrives_as_visible_text() {
    // The Markdown parser would refuse raw HTML in a blurb; the JSON path and titles must
    // still never turn content into markup, so render unchecked hostile text directly.
    let rendered = render(&hostile_issue());
    let html = collapse(&rendered.html.personalize(&READER));
    assert!(!html.contains("<script>"), "no script element in:\n{html}");
    assert!(html.contains("&lt;script&gt;alert("), "title shown as text");
    assert!(
        html.contains("{{ x }}"),
        "template syntax shown as text, not evaluated"
    );
    assert!(html.contains("{% if true %}tag{% endif %}"));
    assert!(
        html.contains("&lt;/mj-text&gt;"),
        "closing MJML tag shown as text"
    );
    assert!(html.contains("&lt;/mj-column&gt;&lt;/mj-section&gt;"));
    assert!(html.contains("href=\"https://example.org/?a=1&amp;b=&quot;2&quot;\""));
    assert_eq!(
        html.matches("end.").count(),
        1,
        "the blurb after </mj-text> is not cut off"
    );
    let text = collapse(&rendered.text.personalize(&READER));
    assert!(
        text.contains("<script>alert('t')</script> {{ x }} </mj-text>"),
        "text part shows it verbatim"
    );
    assert!(text.contains("Blurb <script>alert('b')</script>, {{ x }} and </mj-text> end."));
}

#[test]
fn markup_written_as_text_in_an_issue_file_stays_text() {
    let file = "+++\nnumber = 3\ntitle = \"Escapes\"\ndate = 2021-08-06\n+++\n## S\n\
                ### Why `</mj-text>` and {{ x }} matter\n\
                Write `<script>` or \\<script> or {{ x }} or \\</mj-text> and it shows as typed.\n";
    let issue = mailroom::issue_file::parse_bytes("escapes.md", file.as_bytes()).unwrap();
    let rendered = render(&issue);
    let html = collapse(&rendered.html.personalize(&READER));
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains("Why &lt;/mj-text&gt; and {{ x }} matter"),
        "title as text"
    );
    assert!(html.contains("<code>&lt;script&gt;</code> or &lt;script&gt; or {{ x }} or &lt;/mj-text&gt; and it shows as typed."));
    let text = collapse(&rendered.text.personalize(&READER));
    assert!(
        text.contains("Write <script> or <script> or {{ x }} or </mj-text> and it shows as typed."),
        "{text}"
    );
}

/// Appended to the email for the browser check: measures layout and writes it into the DOM.
const PROBE: &str = r#"<script>
(function () {
  var doc = document.documentElement;
  var columns = [];
  document.querySelectorAll('div').forEach(function (el) {
    if (el.style.maxWidth === '640px') {
      var r = el.getBoundingClientRect();
      columns.push([r.left, r.right]);
    }
  });
  var textRight = 0;
  var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    var node = walker.currentNode;
    if (!node.textContent.trim() || node.parentElement.closest('script')) continue;
    var range = document.createRange();
    range.selectNodeContents(node);
    var rect = range.getBoundingClientRect();
    if (rect.width > 0) textRight = Math.max(textRight, rect.right);
  }
  var out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    viewport: window.innerWidth, scrollWidth: doc.scrollWidth, columns: columns, textRight: textRight
  });
  document.body.appendChild(out);
})();
</script>"#;

#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct Layout {
    viewport: f64,
    scroll_width: f64,
    columns: Vec<(f64, f64)>,
    text_right: f64,
}

/// Headless Chromium will not make a window narrower than 500 px, so the email is laid out
/// in an iframe of exactly `width` px (srcdoc keeps it same-origin for reading the probe).
fn layout_at(html: &str, width: u32, dir: &Path) -> Layout {
    let probed = html.replace("</body>", &format!("{PROBE}</body>"));
    let srcdoc = probed.replace('&', "&amp;").replace('"', "&quot;");
    let page = format!(
        "<!doctype html><html><body style=\"margin:0\">\
         <iframe id=\"mail\" style=\"border:0;width:{width}px;height:900px\" srcdoc=\"{srcdoc}\"></iframe>\
         <script>document.getElementById('mail').onload = function () {{\
           var probe = this.contentDocument.getElementById('probe');\
           var out = document.createElement('pre'); out.id = 'probe';\
           out.textContent = probe ? probe.textContent : 'missing';\
           document.body.appendChild(out);\
         }};</script></body></html>"
    );
    let file = dir.join(format!("issue-{width}.html"));
    std::fs::write(&file, page).unwrap();
    let dom = chromium_dump_dom(&file, width.max(500) + 100);
    let start = dom.find("<pre id=\"probe\">").expect("probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end].replace("&quot;", "\"");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("probe output {json}: {e}"))
}

#[test]
fn layout_is_responsive_in_headless_chromium() {
    let html = render(&sample_issue()).html.personalize(&READER);
    let dir = tempfile::tempdir().unwrap();

    let phone = layout_at(&html, 375, dir.path());
    assert_eq!(
        phone.viewport, 375.0,
        "Chromium honoured the 375 px viewport: {phone:?}"
    );
    assert!(
        phone.scroll_width <= 375.0,
        "horizontal scrolling at 375 px: {phone:?}"
    );
    assert!(
        phone.text_right <= 375.0,
        "text overflows the phone screen: {phone:?}"
    );

    let desktop = layout_at(&html, 1024, dir.path());
    assert_eq!(desktop.viewport, 1024.0, "{desktop:?}");
    assert!(
        !desktop.columns.is_empty(),
        "no content column found: {desktop:?}"
    );
    for (left, right) in &desktop.columns {
        let width = right - left;
        assert!(
            width <= 640.0,
            "column {width} px wide at 1024 px: {desktop:?}"
        );
        let (margin_left, margin_right) = (*left, 1024.0 - right);
        assert!(
            (margin_left - margin_right).abs() <= 1.0,
            "column not centred: {desktop:?}"
        );
    }
    assert!(
        desktop.columns.iter().any(|(l, r)| r - l == 640.0),
        "the column uses its 640 px: {desktop:?}"
    );
}
