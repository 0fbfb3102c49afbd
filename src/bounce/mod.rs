//! Bounces and complaints: reads a returned message (RFC 3464 delivery status, RFC 5965
//! feedback report, or the free-text notice of a mail server that follows neither) and says,
//! per failed recipient, why it failed and whether the address is dead (hard), the failure
//! is likely passing (soft), or it was no failure at all (complaint, auto-reply, delivery
//! report). Pure functions over bytes: no database, no I/O.
//!
//! # Layout
//!
//! - [`mbox`] splits a file into messages and normalises line endings.
//! - `mime` sorts a message's MIME parts (mail-parser does the decoding).
//! - `report` reads the machine-readable reports: delivery status and ARF.
//! - `ses` reads Amazon SES notifications (JSON sent by SNS e-mail).
//! - `text` reads the free-text notices of Postfix, Exim, qmail, Exchange and friends;
//!   `body` finds the notice, transcript and returned copy in a report's text.
//! - `autoreply` recognises vacation and other automatic replies.
//! - `codes` finds reply codes, status codes and the refused command in text.
//! - `classify` turns status codes and diagnostic text into a [`Reason`] by walking the
//!   tables of `rules`, which cite the definitions (Sisimai's, the RFCs') they implement.
//!
//! # Use
//!
//! ```
//! use mailroom::bounce::{self, Class, Parsed};
//!
//! let raw = b"From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\n\
//!             <gone@example.com>:\nRemote host said: 550 5.1.1 <gone@example.com>... User unknown\n";
//! let Parsed::Bounce(reports) = bounce::parse(raw) else { panic!("a bounce") };
//! assert_eq!(reports[0].recipient, "gone@example.com");
//! assert_eq!(reports[0].class, Class::Hard);
//! ```

mod autoreply;
mod body;
mod classify;
mod codes;
mod family;
mod fields;
mod lines;
pub mod mbox;
mod mime;
mod report;
mod rules;
mod ses;
mod text;

use serde::Serialize;

pub use mbox::{normalize_eol, split_mbox, without_postmark};

use mime::Mail;

/// Why a delivery failed (or what else the message was), named as Sisimai names them so
/// results compare with its test suite and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    UserUnknown,
    HostUnknown,
    HasMoved,
    NotAccept,
    MailboxFull,
    MesgTooBig,
    ExceedLimit,
    Blocked,
    Rejected,
    PolicyViolation,
    SpamDetected,
    VirusDetected,
    Filtered,
    Suspend,
    Expired,
    NetworkError,
    SystemError,
    SystemFull,
    TooManyConn,
    Speeding,
    SecurityError,
    AuthFailure,
    BadReputation,
    RequirePtr,
    NotCompliantRfc,
    NoRelaying,
    ContentError,
    SyntaxError,
    MailerError,
    OnHold,
    Undefined,
    Feedback,
    Vacation,
    Delivered,
}

impl Reason {
    /// Whether a soft bounce with this reason says something about the recipient's mailbox
    /// (full, disabled, its server failing) rather than about our message or reputation (a
    /// block list, DMARC, size, rate). Only the former count toward suppressing the
    /// address, as at send time a 5.7.x refusal leaves the subscriber alone.
    pub fn counts_against_address(self) -> bool {
        use Reason::*;
        !matches!(
            self,
            Blocked
                | Rejected
                | PolicyViolation
                | SpamDetected
                | VirusDetected
                | SecurityError
                | AuthFailure
                | BadReputation
                | RequirePtr
                | NotCompliantRfc
                | NoRelaying
                | ContentError
                | SyntaxError
                | MesgTooBig
                | ExceedLimit
                | Speeding
                | TooManyConn
        )
    }

    pub fn as_str(self) -> &'static str {
        use Reason::*;
        match self {
            UserUnknown => "userunknown",
            HostUnknown => "hostunknown",
            HasMoved => "hasmoved",
            NotAccept => "notaccept",
            MailboxFull => "mailboxfull",
            MesgTooBig => "mesgtoobig",
            ExceedLimit => "exceedlimit",
            Blocked => "blocked",
            Rejected => "rejected",
            PolicyViolation => "policyviolation",
            SpamDetected => "spamdetected",
            VirusDetected => "virusdetected",
            Filtered => "filtered",
            Suspend => "suspend",
            Expired => "expired",
            NetworkError => "networkerror",
            SystemError => "systemerror",
            SystemFull => "systemfull",
            TooManyConn => "toomanyconn",
            Speeding => "speeding",
            SecurityError => "securityerror",
            AuthFailure => "authfailure",
            BadReputation => "badreputation",
            RequirePtr => "requireptr",
            NotCompliantRfc => "notcompliantrfc",
            NoRelaying => "norelaying",
            ContentError => "contenterror",
            SyntaxError => "syntaxerror",
            MailerError => "mailererror",
            OnHold => "onhold",
            Undefined => "undefined",
            Feedback => "feedback",
            Vacation => "vacation",
            Delivered => "delivered",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a report means for the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// The address itself is bad: suppress at once.
    Hard,
    /// Delivery failed for another reason: retry, suppress only after repeats.
    Soft,
    /// Not a failure: a complaint, an auto-reply or a delivery report.
    None,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Hard => "hard",
            Class::Soft => "soft",
            Class::None => "none",
        }
    }
}

/// What the returned message tells about the message we sent, so a caller can find its
/// own delivery (the VERP token in the envelope sender, or the Message-ID).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Original {
    /// `Message-ID` of the returned message, without angle brackets.
    pub message_id: Option<String>,
    /// Envelope sender (where a VERP token lives): the returned message's `Return-Path`,
    /// else the sender the report names (`X-Postfix-Sender`, ARF `Original-Mail-From`),
    /// else, for a bounce, the address the bounce itself was delivered to.
    pub envelope_from: Option<String>,
    /// Addresses in the returned message's `To`.
    pub to: Vec<String>,
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The failed (or complaining, or auto-replying) address, lower case. Empty for a
    /// complaint whose report redacts the address: look the message up by
    /// [`Original::message_id`] instead.
    pub recipient: String,
    pub class: Class,
    pub reason: Reason,
    /// RFC 3463 enhanced status code, when the message carries one.
    pub status: Option<String>,
    /// SMTP reply code, when the message carries one.
    pub reply_code: Option<u16>,
    /// ARF Feedback-Type of a complaint (`abuse`, `auth-failure`, `opt-out`, …).
    pub feedback_type: Option<String>,
    /// DSN `Action` (`failed`, `delayed`, `delivered`, …), lower case, when the report
    /// has one: a `delayed` notice is a warning while the sender's server keeps trying.
    pub action: Option<String>,
    /// The remote server's words (Diagnostic-Code or the notice's error text).
    pub diagnostic: String,
    pub original: Original,
}

/// The verdict on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// An ordinary message: neither a bounce, a complaint nor an auto-reply.
    NotBounce,
    /// One report per recipient the message speaks of.
    Bounce(Vec<Report>),
}

impl Parsed {
    pub fn reports(&self) -> &[Report] {
        match self {
            Parsed::NotBounce => &[],
            Parsed::Bounce(reports) => reports,
        }
    }
}

/// What a message says about one recipient, before classification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Finding {
    recipient: String,
    status: Option<String>,
    reply_code: Option<u16>,
    diagnostic: String,
    /// DSN `Action` (failed, delayed, delivered, …), lower case.
    action: Option<String>,
    /// Type of the Diagnostic-Code (`smtp`, `x-unix`, `x-postfix`), lower case.
    diag_type: Option<String>,
    /// The SMTP command the remote server rejected, when the notice says.
    command: Option<codes::Command>,
    /// The server that refused the message (a DSN's `Remote-MTA`, or the host the notice
    /// names), lower case: some providers document replies of their own.
    remote_host: Option<String>,
    /// The server that wrote the report (`Reporting-MTA`), lower case.
    reporting_host: Option<String>,
    /// The mail server family whose notice this is, when its wording gives it away.
    family: Option<rules::Family>,
    /// A fuller account of the same reply than `diagnostic` (a Postfix notice's paragraph
    /// that adds "in reply to RCPT TO command"), read in its place when classifying.
    context: String,
    /// Set when the kind of message already decides the reason (ARF, auto-reply).
    reason: Option<Reason>,
    feedback_type: Option<String>,
}

/// How deep a bounce may hide inside forwarded messages before we stop looking.
const MAX_FORWARD_DEPTH: usize = 3;

/// Reports per message at most. Real bounces name a handful of recipients; the cap bounds
/// the work a hostile message can ask for.
const MAX_RECIPIENTS: usize = 1000;

/// Parses one message (any line endings). Never panics.
pub fn parse(raw: &[u8]) -> Parsed {
    let raw = normalize_eol(raw);
    parse_at_depth(&raw, 0)
}

/// Parses every message of a file (one message or an mbox), in order.
pub fn parse_file(bytes: &[u8]) -> Vec<Parsed> {
    split_mbox(bytes)
        .iter()
        .map(|m| parse_at_depth(m, 0))
        .collect()
}

/// The reason for a failure another system reported in its own terms (an ESP webhook):
/// its enhanced status code, if any, and the remote server's words, judged as in a bounce.
pub fn failure_reason(status: Option<&str>, diagnostic: &str) -> Reason {
    let reply_code = codes::find_reply_code(diagnostic);
    let finding = Finding {
        status: codes::best_status(status.and_then(codes::find_status), diagnostic, reply_code),
        reply_code,
        command: codes::find_command(diagnostic),
        diagnostic: diagnostic.to_string(),
        ..Finding::default()
    };
    classify::reason(&finding)
}

/// The reason, named as for bounces, for an SMTP reply of our own relay: the worker judges
/// such a reply by its codes (`crate::domain::reply`), and this names it so refusals at send
/// time and returned mail are counted side by side.
pub fn reason_of_reply(reply_code: Option<u16>, status: Option<&str>, text: &str) -> Reason {
    classify::reason(&Finding {
        status: status.map(str::to_string),
        reply_code,
        diagnostic: text.to_string(),
        ..Finding::default()
    })
}

fn parse_at_depth(raw: &[u8], depth: usize) -> Parsed {
    let mail = Mail::read(raw);
    if let Some((findings, original)) = ses::notification(&mail) {
        return classified(findings, &original);
    }
    let findings = report::feedback(&mail)
        .or_else(|| report::delivery_status(&mail))
        .or_else(|| text::notice(&mail))
        .or_else(|| autoreply::auto_reply(&mail));
    let Some(findings) = findings else {
        return forwarded(&mail, depth).unwrap_or(Parsed::NotBounce);
    };
    let complaint = findings.iter().any(|f| f.reason == Some(Reason::Feedback));
    let family = family::of(&mail);
    let findings = findings
        .into_iter()
        .map(|f| Finding { family, ..f })
        .collect();
    classified(findings, &original(&mail, complaint))
}

fn classified(findings: Vec<Finding>, original: &Original) -> Parsed {
    Parsed::Bounce(
        findings
            .into_iter()
            .map(|f| classify::report(f, original.clone()))
            .collect(),
    )
}

/// A bounce forwarded as an attachment (someone sent it on to postmaster).
fn forwarded(mail: &Mail, depth: usize) -> Option<Parsed> {
    if depth >= MAX_FORWARD_DEPTH {
        return None;
    }
    match parse_at_depth(mail.returned_raw.as_deref()?, depth + 1) {
        Parsed::NotBounce => None,
        parsed => Some(parsed),
    }
}

/// What the report says about the message it returns. `complaint`: the report is an ARF
/// complaint, whose own addressee is the feedback-loop mailbox, not our envelope sender.
fn original(mail: &Mail, complaint: bool) -> Original {
    let returned = mail
        .returned
        .clone()
        .filter(|r| !r.is_empty())
        .or_else(|| body::inline_returned_headers(mail))
        .unwrap_or_default();
    let message_id = returned.get_nonempty("message-id").and_then(message_id);
    // A bounce goes to the envelope sender of the message it returns (RFC 3464 §2), so
    // where the returned copy and the report say nothing, the bounce's own delivery
    // address is that sender.
    let delivered_to = || {
        ["x-original-to", "delivered-to", "to"]
            .iter()
            .find_map(|name| {
                mail.headers
                    .get_nonempty(name)
                    .and_then(fields::first_address)
            })
    };
    let envelope_from = returned
        .get_nonempty("return-path")
        .and_then(fields::first_address)
        .or_else(|| report::reported_sender(mail))
        .or_else(|| if complaint { None } else { delivered_to() });
    let to = returned.all("to").flat_map(fields::addresses).collect();
    Original {
        message_id,
        envelope_from,
        to,
    }
}

/// `<id@host>` (possibly with a comment around it), or a bare `id@host`.
fn message_id(value: &str) -> Option<String> {
    let value = value.trim();
    let id = match value.split_once('<') {
        Some((_, rest)) => rest.split('>').next().unwrap_or_default(),
        None => value.split_whitespace().next().unwrap_or_default(),
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests;
