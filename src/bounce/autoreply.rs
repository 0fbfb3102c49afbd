//! Auto-replies (RFC 3834 and the vacation responders that predate it): not failures, but
//! worth telling apart from bounces, since they come back to the same address.

use super::fields::first_address;
use super::mime::Mail;
use super::{Finding, Reason};

/// Auto-replies (RFC 3834 and the vacation responders that predate it): the replying
/// address is the recipient.
pub fn auto_reply(mail: &Mail) -> Option<Vec<Finding>> {
    if !is_auto_reply(mail) {
        return None;
    }
    let h = &mail.headers;
    let recipient = h.get("from").and_then(first_address)?;
    Some(vec![Finding {
        recipient,
        reason: Some(Reason::Vacation),
        diagnostic: mail.subject.clone(),
        ..Finding::default()
    }])
}

pub fn is_auto_reply(mail: &Mail) -> bool {
    let h = &mail.headers;
    let header_says = h
        .get("auto-submitted")
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("auto-replied"))
        || h.has("x-autoreply")
        || h.has("x-autorespond")
        || h.get("x-apple-action")
            .is_some_and(|v| v.eq_ignore_ascii_case("vacation"))
        || h.get("precedence")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("auto_reply"));
    let subject = mail.subject.to_lowercase();
    let subject_says = [
        "auto reply",
        "auto-reply",
        "autoreply",
        "automatic reply",
        "auto response",
        "autoresponse",
        "out of office",
        "out of the office",
        "vacation",
        "abwesenheit",
    ]
    .iter()
    .any(|p| subject.contains(p))
        || subject.starts_with("auto:");
    header_says || subject_says
}
