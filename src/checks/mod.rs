//! `mailroom issue check`: what will go wrong in the inbox, found before a send. The
//! message is built as the worker builds it (for a real subscriber of the list when there
//! is one), then checked for Gmail's clipping limit, item links that do not answer, a
//! subject that renders badly, a missing preheader, items missing from the text part, and
//! SpamAssassin's score. Shared by the CLI, the admin API, the dashboard and `issue send`.

mod links;
mod report;
mod spam;
mod text;

use anyhow::{Context as _, Result};
use serde::Serialize;

pub use links::{LinkCheck, check_links};
pub use report::{Finding, Report, Row, Severity, SpamScore, table};
pub use spam::parse as parse_spam_status;

use crate::config::Settings;
use crate::db::Db;
use crate::db::issues::StoredIssue;
use crate::db::subscribers::ListQuery;
use crate::domain::{Issue, SubscriberStatus};
use crate::message::{MessageFactory, Recipient};
use crate::render::{Personal, Renderer};

/// Gmail clips a message whose HTML part is larger than this and hides the rest (the
/// footer with the unsubscribe link among it) behind "[Message clipped] View entire
/// message". Gmail documents no number; 102 KB is the widely measured one, and we read it
/// as 102 × 1024 bytes of the HTML part as transferred (after MIME encoding), the larger
/// reading, so a message we call clipped is clipped under either.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// Under this much margin the size is a warning: a subscriber's longer name or attributes,
/// or a small edit, may push the message over.
const CLIP_MARGIN_WARN: usize = 10 * 1024;

/// Sample values when the list has no active subscriber yet (as `issue preview` uses).
const SAMPLE_EMAIL: &str = "reader@example.org";
const SAMPLE_NAME: &str = "Sample Reader";

/// The size of the HTML part, and each section's share of it.
#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    /// The HTML part's bytes as transferred.
    pub html_bytes: usize,
    pub limit_bytes: usize,
    /// `limit_bytes - html_bytes`; negative when clipped.
    pub margin_bytes: i64,
    pub sections: Vec<SectionSize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionSize {
    pub name: String,
    /// How much smaller the HTML part is without this section.
    pub bytes: usize,
}

/// Checks issue `number` as it would be delivered now.
pub async fn check_issue(
    settings: &Settings,
    db: &Db,
    factory: &MessageFactory,
    stored: &StoredIssue,
) -> Result<Report> {
    let issue = &stored.issue;
    let subscriber = db
        .list_subscribers(&ListQuery {
            status: Some(SubscriberStatus::Active),
            limit: 1,
            ..Default::default()
        })
        .await?
        .into_iter()
        .next();
    let (email, name, attributes, recipient_label) = match &subscriber {
        Some(s) => (
            s.email.clone(),
            s.name.clone(),
            s.attributes.clone(),
            format!("subscriber #{} ({})", s.id, s.email),
        ),
        None => (
            SAMPLE_EMAIL.to_string(),
            SAMPLE_NAME.to_string(),
            "{}".to_string(),
            format!("sample reader {SAMPLE_EMAIL} (the list has no active subscriber)"),
        ),
    };
    let recipient = Recipient {
        // Delivery 0 names no delivery; its tokens are as long as a real one's.
        delivery_id: 0,
        subscriber_id: subscriber.as_ref().map_or(0, |s| s.id),
        email: &email,
        name: &name,
        nonce: "check",
        attributes: &attributes,
    };
    let renderer = Renderer::for_list_mail(settings)?;
    let rendered = renderer.render(issue)?;
    let built = factory.preview(&rendered, &recipient)?;
    let eml = built.message.bytes;

    let mut findings = Vec::new();
    let html_bytes = html_part_bytes(&eml).context("reading back the built message")?;
    let personal_html_len = built.html.len();
    let sections = section_sizes(&renderer, factory, issue, &recipient, personal_html_len)?;
    let size = SizeReport {
        html_bytes,
        limit_bytes: GMAIL_CLIP_BYTES,
        margin_bytes: GMAIL_CLIP_BYTES as i64 - html_bytes as i64,
        sections,
    };
    findings.push(size_finding(&size));

    findings.extend(text::subject(&issue.subject));
    findings.push(text::preheader(&issue.preheader));
    // The text part with each item's own URL where the template put its link: with
    // `analytics.text_links` the delivered text carries a counted /c/ link instead, which
    // stands for the same URL.
    let direct_text = rendered.text.personalize(&Personal {
        name: &name,
        email: &email,
        unsubscribe_url: &built.message.unsubscribe_url,
        attributes: None,
        clicks: None,
    });
    findings.extend(text::items_in_text(issue, &direct_text));

    let timeout = std::time::Duration::from_secs(settings.checks.link_timeout_seconds);
    let links = links::link_items(issue);
    let results = check_links(&links, timeout, settings.checks.link_concurrency).await;
    findings.extend(links::findings(&results));

    let spam = if settings.checks.spamassassin {
        let (finding, score) = spam::score(eml).await;
        findings.push(finding);
        score
    } else {
        findings.push(Finding::ok(
            "spamassassin",
            "skipped: checks.spamassassin = false",
        ));
        None
    };

    Ok(Report::new(
        issue.number,
        recipient_label,
        size,
        spam,
        findings,
    ))
}

fn size_finding(size: &SizeReport) -> Finding {
    let kb = |b: usize| format!("{:.1} KB", b as f64 / 1024.0);
    let largest = size
        .sections
        .iter()
        .max_by_key(|s| s.bytes)
        .map(|s| format!("; largest section: {} ({})", s.name, kb(s.bytes)))
        .unwrap_or_default();
    let what = format!(
        "HTML part {} of Gmail's {} clipping limit",
        kb(size.html_bytes),
        kb(size.limit_bytes)
    );
    if size.margin_bytes < 0 {
        Finding::error(
            "size",
            format!(
                "{what}: {} over, Gmail will clip it and hide the footer{largest}",
                kb(size.margin_bytes.unsigned_abs() as usize)
            ),
        )
    } else if (size.margin_bytes as usize) < CLIP_MARGIN_WARN {
        Finding::warning(
            "size",
            format!(
                "{what}: only {} to spare{largest}",
                kb(size.margin_bytes as usize)
            ),
        )
    } else {
        Finding::ok(
            "size",
            format!(
                "{what}: {} to spare{largest}",
                kb(size.margin_bytes as usize)
            ),
        )
    }
}

/// Each section's share of the HTML part: the issue rendered without the section, for the
/// same recipient, is that much smaller. Rendering the issue once per section costs a few
/// milliseconds each, and unlike cutting the HTML between markers it needs nothing from the
/// templates and counts everything the section brings (its title, dividers and spacing).
fn section_sizes(
    renderer: &Renderer,
    factory: &MessageFactory,
    issue: &Issue,
    recipient: &Recipient<'_>,
    full_len: usize,
) -> Result<Vec<SectionSize>> {
    let mut sizes = Vec::with_capacity(issue.sections.len());
    for (n, section) in issue.sections.iter().enumerate() {
        let mut without = issue.clone();
        without.sections.remove(n);
        let rendered = renderer.render(&without)?;
        let html_len = factory.preview(&rendered, recipient)?.html.len();
        sizes.push(SectionSize {
            name: section.name.clone(),
            bytes: full_len.saturating_sub(html_len),
        });
    }
    Ok(sizes)
}

/// The HTML part's body as it sits in the message: after its transfer encoding, which is
/// what Gmail counts.
fn html_part_bytes(eml: &[u8]) -> Result<usize> {
    let message = mail_parser::MessageParser::default()
        .parse(eml)
        .context("the message does not parse")?;
    let id = *message
        .html_body
        .first()
        .context("the message has no HTML part")?;
    let part = message.part(id).context("the HTML part")?;
    Ok((part.offset_end as usize).saturating_sub(part.offset_body as usize))
}

/// Whether a send goes ahead after `report`: errors stop it unless forced.
pub fn refuses(report: &Report, force: bool) -> bool {
    report.severity == Severity::Error && !force
}
