//! What an SMTP reply means for a delivery: decided by the reply code and the RFC 3463
//! enhanced status code at the start of the reply text, never by the wording.

use std::fmt;

/// An RFC 3463 enhanced status code, `class.subject.detail` (e.g. 5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enhanced {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl Enhanced {
    /// Reads the code at the start of a reply line: `5.1.1 <x@y>: user unknown`.
    pub fn parse(text: &str) -> Option<Self> {
        let token = text.split_whitespace().next()?;
        let mut parts = token.split('.');
        let class: u8 = parts.next()?.parse().ok()?;
        let subject: u16 = parts.next()?.parse().ok()?;
        let detail: u16 = parts
            .next()?
            .trim_end_matches([',', ';', ':'])
            .parse()
            .ok()?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return None;
        }
        Some(Self {
            class,
            subject,
            detail,
        })
    }
}

impl fmt::Display for Enhanced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// What to do with a delivery after its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Sent,
    /// Try again later. `slow_domain`: the receiver asked us to send less (421, 4.7.x).
    Retry {
        slow_domain: bool,
    },
    /// The address does not exist (5.1.x, 5.2.1): suppress the subscriber at once.
    HardBounce,
    /// Refused for now but the address lives (5.2.2 mailbox full, or a permanent reply
    /// without an enhanced code): counted against the subscriber, not suppressed.
    SoftBounce,
    /// Policy block (5.7.x): not the subscriber's fault; slow the domain, warn the operator.
    Blocked,
    /// The message itself was refused (5.3.4 too big, 5.6.x content): pause the send.
    ContentRejected,
}

/// Classifies a reply. `code` is the three-digit reply code; `None` means no reply at all
/// (connection refused or dropped, timeout), which is always worth another try.
pub fn classify(code: Option<u16>, enhanced: Option<Enhanced>) -> Verdict {
    let Some(code) = code else {
        return Verdict::Retry { slow_domain: false };
    };
    match code / 100 {
        2 => Verdict::Sent,
        4 => Verdict::Retry {
            slow_domain: code == 421 || enhanced.is_some_and(|e| e.subject == 7),
        },
        5 => match enhanced.filter(|e| e.class == 5) {
            Some(Enhanced { subject: 1, .. })
            | Some(Enhanced {
                subject: 2,
                detail: 1,
                ..
            }) => Verdict::HardBounce,
            Some(Enhanced { subject: 2, .. }) => Verdict::SoftBounce,
            Some(Enhanced { subject: 7, .. }) => Verdict::Blocked,
            Some(Enhanced {
                subject: 3,
                detail: 4,
                ..
            })
            | Some(Enhanced { subject: 6, .. }) => Verdict::ContentRejected,
            // 5.3.x and 5.4.x (system, routing) and 5.5.x (protocol): the address may be fine.
            Some(_) => Verdict::SoftBounce,
            // Without an enhanced code a 550 may be a dead mailbox or a block list: too
            // ambiguous to suppress on. 554 is most often a policy refusal.
            None if code == 554 => Verdict::Blocked,
            None => Verdict::SoftBounce,
        },
        _ => Verdict::Retry { slow_domain: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(code: u16, text: &str) -> Verdict {
        classify(Some(code), Enhanced::parse(text))
    }

    #[test]
    fn parses_enhanced_codes() {
        assert_eq!(
            Enhanced::parse("5.1.1 <a@b>: Recipient address rejected"),
            Some(Enhanced {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(
            Enhanced::parse("4.7.0 try later"),
            Some(Enhanced {
                class: 4,
                subject: 7,
                detail: 0
            })
        );
        assert_eq!(Enhanced::parse("Mailbox unavailable"), None);
        assert_eq!(Enhanced::parse("5.1 short"), None);
        assert_eq!(Enhanced::parse("3.1.1 wrong class"), None);
        assert_eq!(Enhanced::parse(""), None);
    }

    #[test]
    fn classifies_by_code_not_text() {
        assert_eq!(verdict(250, "2.0.0 Ok: queued"), Verdict::Sent);
        assert_eq!(
            verdict(450, "4.2.1 try later"),
            Verdict::Retry { slow_domain: false }
        );
        assert_eq!(
            verdict(451, "4.3.0 local error"),
            Verdict::Retry { slow_domain: false }
        );
        assert_eq!(
            verdict(452, "4.3.1 insufficient storage"),
            Verdict::Retry { slow_domain: false }
        );
        assert_eq!(
            verdict(421, "4.4.2 closing"),
            Verdict::Retry { slow_domain: true }
        );
        assert_eq!(
            verdict(450, "4.7.1 rate limited"),
            Verdict::Retry { slow_domain: true }
        );
        assert_eq!(verdict(550, "5.1.1 user unknown"), Verdict::HardBounce);
        assert_eq!(verdict(550, "5.1.10 null MX"), Verdict::HardBounce);
        assert_eq!(verdict(550, "5.2.1 mailbox disabled"), Verdict::HardBounce);
        assert_eq!(verdict(552, "5.2.2 mailbox full"), Verdict::SoftBounce);
        assert_eq!(verdict(550, "5.7.1 blocked by policy"), Verdict::Blocked);
        assert_eq!(
            verdict(552, "5.3.4 message too big"),
            Verdict::ContentRejected
        );
        assert_eq!(
            verdict(554, "5.6.0 content rejected"),
            Verdict::ContentRejected
        );
        // The same words with a different code decide differently: text is never read.
        assert_eq!(verdict(550, "user unknown"), Verdict::SoftBounce);
        assert_eq!(verdict(554, "transaction failed"), Verdict::Blocked);
        assert_eq!(classify(None, None), Verdict::Retry { slow_domain: false });
    }
}
