//! From what a message says about a recipient to a [`Reason`] and a [`Class`], by walking
//! the tables of [`super::rules`] in the order Sisimai weighs its evidence
//! (`Sisimai::Fact`, `Sisimai::Reason::Find` and its "anotherone" fallback):
//!
//! 1. what the kind of message already decides (a complaint, an auto-reply, a delivery
//!    report: RFC 5965, RFC 3834, RFC 3464 `Action: delivered` or a 2.x.x status);
//! 2. the reporting server's own verdict, in the fixed sentences and codes of its family
//!    ([`rules::NOTICE_RULES`]) — final unless it is only a first guess
//!    ([`rules::TENTATIVE`]);
//! 3. a local delivery program's failure ([`rules::LOCAL_AGENTS`]), when the refusal came
//!    after the message was accepted;
//! 4. the receiving provider's documented replies ([`rules::PROVIDERS`]);
//! 5. the first pass ([`rules::PROBES`]) for diagnostics that are SMTP replies: status
//!    codes, wording and the refused command together;
//! 6. the second pass: the status code where it is decisive, else the wording of
//!    [`rules::SECOND_PASS`], then [`rules::FALLBACKS`]: what the code's subject (x.6
//!    content, x.7 security) says, a local program's failure (`X-Unix`), a protocol
//!    syntax reply, an `Action: delayed`, and the stage (greeting or MAIL FROM);
//! 7. `onhold` when there were words that nothing could place, `undefined` when there
//!    were none.
//!
//! Our own SMTP replies are judged by their codes alone (`src/outcome.rs`); a bounce is a
//! third party's account of someone else's reply, often with no code or a generic one, so
//! here the words count too.

use super::codes::{Command, find_status};
use super::rules::{
    self, FALLBACKS, LOCAL_AGENTS, NOT_WHEN_TEMPORARY, NOTICE_RULES, NOTICE_STAGES, PROBES,
    PROVIDERS, SECOND_PASS, TENTATIVE, Test, is_explicit, matches, says, status_reason,
};
use super::{Finding, Original, Reason, Report};

pub fn report(finding: Finding, original: Original) -> Report {
    let reason = reason(&finding);
    let class = rules::class_of(reason, temporary(&finding));
    let action = if given_up(&finding) {
        Some("failed".to_string())
    } else {
        finding.action
    };
    Report {
        recipient: finding.recipient,
        class,
        reason,
        status: finding.status,
        reply_code: finding.reply_code,
        feedback_type: finding.feedback_type,
        action,
        diagnostic: finding.diagnostic,
        original,
    }
}

/// A report that calls itself a delay but says the message's time ran out (RFC 3463 X.4.7,
/// "delivery time expired", beside the word): the sender gave up. OpenSMTPD words its
/// expiry notice this way ("Action: delayed", "4.4.7", "Envelope expired"). A real delay
/// warning with X.4.7 (Sendmail's) says the mail is still queued, not that it expired.
fn given_up(f: &Finding) -> bool {
    f.action.as_deref() == Some("delayed")
        && f.status.as_deref().is_some_and(|s| s.ends_with(".4.7"))
        && f.diagnostic.to_ascii_lowercase().contains("expired")
}

fn temporary(finding: &Finding) -> bool {
    finding
        .status
        .as_deref()
        .is_some_and(|s| s.starts_with('4'))
        || finding.reply_code.is_some_and(|c| (400..500).contains(&c))
}

/// The evidence about one recipient, prepared once for all the tests.
#[derive(Clone)]
struct Evidence<'a> {
    /// The diagnostic, lower case, white space collapsed, multi-line reply prefixes gone.
    text: String,
    status: &'a str,
    status_reason: Option<Reason>,
    reply: Option<u16>,
    /// The DSN `Action` (lower case), or empty.
    action: &'a str,
    /// The Diagnostic-Code's type (`smtp`, `x-unix`), lower case, or empty.
    diag_type: &'a str,
    command: Option<Command>,
    declared: Option<Reason>,
}

pub fn reason(f: &Finding) -> Reason {
    let found = decide(f);
    if !temporary(f) {
        return found;
    }
    NOT_WHEN_TEMPORARY
        .iter()
        .find(|(r, _)| *r == found)
        .map_or(found, |(_, instead)| *instead)
}

fn decide(f: &Finding) -> Reason {
    if let Some(given) = f.reason {
        return given;
    }
    let action = f.action.as_deref().unwrap_or_default();
    let status = f.status.as_deref().unwrap_or_default();
    if matches!(action, "delivered" | "relayed" | "expanded") || status.starts_with("2.") {
        return Reason::Delivered;
    }
    let source = if f.context.is_empty() {
        &f.diagnostic
    } else {
        &f.context
    };
    let text = normalize(source, f.reply_code);
    // A family's notice may name the stage in words of its own.
    let stage = f.family.and_then(|family| {
        NOTICE_STAGES
            .iter()
            .find(|(fam, phrase, _)| *fam == family && text.contains(phrase))
            .map(|(_, _, command)| *command)
    });
    let mut ev = Evidence {
        status_reason: status_reason(status),
        status,
        reply: f.reply_code,
        action,
        diag_type: f.diag_type.as_deref().unwrap_or_default(),
        command: stage.or(f.command),
        declared: None,
        text,
    };
    ev.declared = declared(f, &ev);
    if let Some(verdict) = ev.declared.filter(|r| !TENTATIVE.contains(r)) {
        return verdict;
    }
    if let Some(reason) = local_agent(&ev) {
        return reason;
    }
    if let Some(reason) = provider(f, &ev).filter(|r| is_explicit(*r)) {
        return reason;
    }
    let smtp = matches!(f.diag_type.as_deref(), None | Some("smtp" | "x-postfix"));
    if smtp && let Some((reason, _)) = PROBES.iter().find(|(_, test)| holds(test, &ev)) {
        return *reason;
    }
    match second_pass(&ev, smtp) {
        Some(reason) if is_explicit(reason) => reason,
        _ if action.starts_with("delayed") => Reason::Expired,
        _ if ev.text.is_empty() => Reason::Undefined,
        _ => Reason::OnHold,
    }
}

/// The reporting server's own verdict, from its family's fixed sentences and codes. The
/// MTAs that print the failed address before their sentences are read from the address
/// on: their preamble is boilerplate that may use the same words.
fn declared(f: &Finding, ev: &Evidence<'_>) -> Option<Reason> {
    let mut block = ev.clone();
    let address_first = f
        .family
        .is_some_and(|fam| rules::ADDRESS_FIRST.contains(&fam));
    if let Some(at) = ev.text.find(&f.recipient).filter(|_| address_first) {
        block.text = ev.text[at..].to_string();
    }
    NOTICE_RULES
        .iter()
        .filter(|(family, _, _)| family.is_none() || *family == f.family)
        .find(|(_, test, _)| holds(test, &block))
        .map(|(_, _, reason)| *reason)
}

/// A local delivery program's failure: only once the message was handed over (no SMTP
/// command refused, or the refusal came at DATA).
fn local_agent(ev: &Evidence<'_>) -> Option<Reason> {
    if !matches!(ev.command, None | Some(Command::Data)) || ev.text.is_empty() {
        return None;
    }
    let (_, failures) = LOCAL_AGENTS
        .iter()
        .find(|(names, _)| names.iter().any(|n| matches(n, &ev.text)))?;
    let known = failures
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| matches(p, &ev.text)))
        .map(|(reason, _)| *reason);
    Some(known.unwrap_or(Reason::MailerError))
}

/// The receiving provider's own documented reply, when the recipient's domain, the remote
/// host or the reporting host is one of its.
fn provider(f: &Finding, ev: &Evidence<'_>) -> Option<Reason> {
    if ev.text.is_empty() {
        return None;
    }
    let domain = f
        .recipient
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default();
    let serves = |suffix: &str| {
        let suffix_dotless = suffix.trim_start_matches('.');
        let names_domain = !domain.is_empty()
            && (suffix_dotless == domain || suffix.ends_with(&format!(".{domain}")));
        let host_is = |h: &Option<String>| {
            h.as_deref()
                .is_some_and(|h| h.ends_with(suffix) || h == suffix_dotless)
        };
        names_domain || host_is(&f.remote_host) || host_is(&f.reporting_host)
    };
    let found = PROVIDERS
        .iter()
        .find(|p| p.hosts.iter().any(|h| serves(h)))?;
    found
        .rows
        .iter()
        .find(|(test, _)| holds(test, ev))
        .map(|(_, reason)| *reason)
}

/// Sisimai's "anotherone": where the first pass found nothing.
fn second_pass(ev: &Evidence<'_>, smtp: bool) -> Option<Reason> {
    if let Some(declared) = ev.declared.filter(|r| is_explicit(*r)) {
        return Some(declared);
    }
    let by_status = ev.status_reason;
    let undecided = by_status.is_none_or(|r| TENTATIVE.contains(&r));
    if !undecided && smtp {
        return by_status;
    }
    if let Some(reason) = SECOND_PASS.iter().find(|r| says(**r, &ev.text)) {
        return Some(*reason);
    }
    if by_status.is_some() {
        return by_status;
    }
    FALLBACKS
        .iter()
        .find(|(test, _)| holds(test, ev))
        .map(|(_, reason)| *reason)
}

fn holds(test: &Test, ev: &Evidence<'_>) -> bool {
    match *test {
        Test::Status(reason) => ev.status_reason == Some(reason),
        Test::NoStatusReason => ev.status_reason.is_none(),
        Test::HasStatus => !ev.status.is_empty(),
        Test::StatusIs(code) => ev.status == code,
        Test::PreciseStatus => !ev.status.is_empty() && !ev.status.contains(".0"),
        Test::StatusPrefix(prefixes) => prefixes.iter().any(|p| ev.status.starts_with(p)),
        Test::DiagType(kind) => ev.diag_type == kind,
        Test::Action(actions) => actions.iter().any(|a| ev.action.starts_with(a)),
        Test::StatusIn(prefix, low, high) => ev
            .status
            .strip_prefix(prefix)
            .and_then(|n| n.parse::<u16>().ok())
            .is_some_and(|n| (low..=high).contains(&n)),
        Test::Says(reason) => says(reason, &ev.text),
        Test::Phrase(phrase) => matches(phrase, &ev.text),
        Test::AnyPhrase(phrases) => phrases.iter().any(|p| matches(p, &ev.text)),
        Test::LabelCode(labels, low, high) => label_code(&ev.text, labels, low, high),
        Test::Reply(low, high) => ev.reply.is_some_and(|r| (low..=high).contains(&r)),
        Test::At(commands) => ev.command.is_some_and(|c| commands.contains(&c)),
        Test::Declared(reason) => ev.declared == Some(reason),
        Test::Probe(reason) => PROBES
            .iter()
            .find(|(r, _)| *r == reason)
            .is_some_and(|(_, t)| holds(t, ev)),
        Test::Not(inner) => !holds(inner, ev),
        Test::All(tests) => tests.iter().all(|t| holds(t, ev)),
        Test::Any(tests) => tests.iter().any(|t| holds(t, ev)),
    }
}

/// A word that starts with one of `labels` and ends in a number within the range: the
/// error codes providers append to their replies (`LPN007_510`, `AUP#I1000`, `IB212`).
fn label_code(text: &str, labels: &[&str], low: u16, high: u16) -> bool {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '#'))
        .filter(|w| labels.iter().any(|l| w.starts_with(l)))
        .filter_map(|w| {
            let digits = w.len() - w.trim_end_matches(|c: char| c.is_ascii_digit()).len();
            w[w.len() - digits..].parse::<u16>().ok()
        })
        .any(|n| (low..=high).contains(&n))
}

/// How much of a diagnostic the rules read. A server's reply is a few lines and a notice
/// a few kilobytes; the cap bounds the work of a thousand phrases on hostile input.
const MAX_TEXT: usize = 16 * 1024;

/// Lower case with white space collapsed. A multi-line reply (`550-5.7.1 …` on every
/// line) loses its per-line prefixes so that a sentence broken over two lines reads as
/// one, and keeps one `550 5.7.1` in front.
pub fn normalize(text: &str, reply: Option<u16>) -> String {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let lower = text[..end].to_lowercase();
    let mut out = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(reply) = reply else {
        return out;
    };
    let code = reply.to_string();
    if !out.contains(&format!("{code}-")) {
        return out;
    }
    let status = find_status(&out).unwrap_or_default();
    for sep in ["-", " "] {
        if !status.is_empty() {
            out = out.replace(&format!("{code}{sep}{status}"), "");
        }
        out = strip_code_prefix(&out, &format!("{code}{sep}"));
    }
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    if status.is_empty() {
        format!("{code} {out}")
    } else {
        format!("{code} {status} {out}")
    }
}

/// Removes `prefix` (a reply code and its separator) where it starts a word.
fn strip_code_prefix(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let starts_word = at == 0 || rest.as_bytes()[at - 1] == b' ';
        out.push_str(&rest[..at]);
        if !starts_word {
            out.push_str(prefix);
        }
        rest = &rest[at + prefix.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: &str, text: &str) -> Finding {
        Finding {
            status: Some(status.into()),
            diagnostic: text.into(),
            reply_code: super::super::codes::find_reply_code(text),
            ..Finding::default()
        }
    }

    #[test]
    fn narrow_codes_beat_words_broad_codes_do_not() {
        assert_eq!(reason(&f("5.2.2", "user unknown")), Reason::MailboxFull);
        assert_eq!(
            reason(&f("5.7.1", "Relay access denied")),
            Reason::NoRelaying
        );
        assert_eq!(reason(&f("5.7.1", "")), Reason::SecurityError);
        assert_eq!(reason(&f("2.0.0", "ok")), Reason::Delivered);
    }

    #[test]
    fn the_stage_of_the_refusal_decides_between_user_and_filter() {
        let at = |command, text: &str| Finding {
            command: Some(command),
            ..f("5.0.0", text)
        };
        assert_eq!(
            reason(&at(Command::RcptTo, "550 Unknown user x@example.jp")),
            Reason::UserUnknown
        );
        assert_eq!(
            reason(&at(Command::Data, "550 Unknown user x@example.jp")),
            Reason::Filtered
        );
    }

    /// The distinctions Sisimai's definitions draw, one line each.
    #[test]
    fn reasons_follow_their_definitions() {
        use Reason::*;
        let at = |command: Option<Command>, status: &str, text: &str| Finding {
            command,
            ..f(status, text)
        };
        let cases: &[(Finding, Reason)] = &[
            // No words at all, words nothing can place, and a report still being retried.
            (f("", ""), Undefined),
            (f("5.0.0", "550 computer says no"), OnHold),
            (
                Finding {
                    action: Some("delayed".into()),
                    ..f("4.0.0", "")
                },
                Expired,
            ),
            (f("4.4.7", "450 4.4.7 delivery time expired"), Expired),
            (
                Finding {
                    action: Some("failed".into()),
                    ..f("4.3.0", "451 4.3.0 mailbox temporarily unavailable")
                },
                Expired,
            ),
            // The receiving system's own failure vs the network between us.
            (f("4.3.0", "451 local configuration error"), SystemError),
            (f("5.4.6", "554 5.4.6 too many hops"), NetworkError),
            // The sending host (block list, greeting) vs the envelope sender.
            (
                f(
                    "5.7.1",
                    "554 5.7.1 client host blocked using zen.spamhaus.org",
                ),
                Blocked,
            ),
            (at(Some(Command::Helo), "5.0.0", "550 go away"), Blocked),
            (
                at(Some(Command::MailFrom), "5.0.0", "550 not from you"),
                Rejected,
            ),
            (f("5.1.8", "553 5.1.8 sender domain must exist"), Rejected),
            // Policy, authentication and security requirements.
            (
                f("5.7.1", "550 5.7.1 message rejected due to local policy"),
                PolicyViolation,
            ),
            (
                f(
                    "5.7.26",
                    "550 5.7.26 unauthenticated email is not accepted due to domain's dmarc policy",
                ),
                AuthFailure,
            ),
            (
                f("5.7.0", "530 5.7.0 authentication required"),
                SecurityError,
            ),
            // A command the server could not parse.
            (f("", "501 bad address syntax here"), SyntaxError),
            // Size, quota and content.
            (
                f("5.3.4", "552 5.3.4 message too big for system"),
                MesgTooBig,
            ),
            (f("4.2.2", "452 4.2.2 mailbox full"), MailboxFull),
            (
                at(
                    Some(Command::Data),
                    "5.7.1",
                    "554 5.7.1 message detected as spam",
                ),
                SpamDetected,
            ),
        ];
        for (finding, expected) in cases {
            assert_eq!(reason(finding), *expected, "{}", finding.diagnostic);
        }
    }

    #[test]
    fn a_temporary_failure_cannot_prove_a_domain_gone() {
        assert_eq!(
            reason(&f("4.4.3", "450 host or domain name not found")),
            Reason::NetworkError
        );
        assert_eq!(
            reason(&f("5.1.2", "550 5.1.2 host or domain name not found")),
            Reason::HostUnknown
        );
    }

    #[test]
    fn a_multi_line_reply_reads_as_one_sentence() {
        let text = "550-5.7.1 Our system has detected that this message is\n550-5.7.1 likely \
                    unsolicited mail.\n550 5.7.1 More at https://support.google.com/mail/";
        let n = normalize(text, Some(550));
        assert!(n.starts_with("550 5.7.1 our system"), "{n}");
        assert!(n.contains("this message is likely unsolicited"), "{n}");
    }
}
