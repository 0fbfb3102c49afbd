//! The subject, the preheader and the plain-text part.
//!
//! Subject rules, kept to a small documented set:
//! - empty: error; control characters: error (they end or garble the header line);
//! - U+FFFD (a replacement character: text that was mis-decoded before it reached us): error;
//! - longer than 70 characters: warning (Gmail's inbox on a desktop shows about 70, phones
//!   about 35; the rest is cut);
//! - invisible formatting characters (zero-width spaces and joiners, bidirectional
//!   overrides, the byte-order mark): warning (invisible to the editor, and spam filters
//!   read bidi overrides as disguise);
//! - characters outside the Basic Multilingual Plane, most emoji: warning (older clients
//!   and some phones' fonts show boxes; spam filters weigh emoji subjects).

use super::report::Finding;
use crate::domain::Issue;

/// Characters of a subject that inbox lists show; past it the subject is cut.
pub const SUBJECT_SHOWN: usize = 70;

pub fn subject(subject: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let length = subject.chars().count();
    if subject.trim().is_empty() {
        return vec![Finding::error("subject", "the subject is empty")];
    }
    if let Some(c) = subject.chars().find(|c| c.is_control()) {
        out.push(Finding::error(
            "subject",
            format!("control character U+{:04X} in the subject", u32::from(c)),
        ));
    }
    if subject.contains('\u{FFFD}') {
        out.push(Finding::error(
            "subject",
            "the subject holds U+FFFD, the replacement character: its text was mis-decoded",
        ));
    }
    if let Some(c) = subject.chars().find(|c| is_invisible(*c)) {
        out.push(Finding::warning(
            "subject",
            format!(
                "invisible formatting character U+{:04X} in the subject",
                u32::from(c)
            ),
        ));
    }
    if let Some(c) = subject.chars().find(|c| u32::from(*c) > 0xFFFF) {
        out.push(Finding::warning(
            "subject",
            format!(
                "{c} (U+{:04X}) is outside the Basic Multilingual Plane: older clients show a box",
                u32::from(c)
            ),
        ));
    }
    if length > SUBJECT_SHOWN {
        out.push(Finding::warning(
            "subject",
            format!(
                "{length} characters: inboxes show about {SUBJECT_SHOWN} (phones about 35), the rest is cut"
            ),
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok("subject", format!("{length} characters")));
    }
    out
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

pub fn preheader(preheader: &str) -> Finding {
    if preheader.trim().is_empty() {
        Finding::warning(
            "preheader",
            "no preheader: inboxes show the message's first text (the view-online line) beside the subject",
        )
    } else {
        Finding::ok(
            "preheader",
            format!("{} characters", preheader.chars().count()),
        )
    }
}

/// Every item's title, and its URL when it has one, appear in the text part. Whitespace is
/// compared as single spaces, since the text part wraps lines.
pub fn items_in_text(issue: &Issue, text: &str) -> Vec<Finding> {
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = flat(text);
    let mut out = Vec::new();
    for section in &issue.sections {
        for item in &section.items {
            let label = format!("{} / {}", section.name, item.title);
            if !text.contains(&flat(&item.title)) {
                out.push(
                    Finding::error("text", "the item's title is missing from the text part")
                        .for_item(label.clone(), None),
                );
            }
            if let Some(url) = &item.url
                && !text.contains(url.as_str())
            {
                out.push(
                    Finding::error("text", "the item's link is missing from the text part")
                        .for_item(label, Some(url.clone())),
                );
            }
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            "text",
            format!("the text part carries all {} items", issue.item_count()),
        ));
    }
    out
}
