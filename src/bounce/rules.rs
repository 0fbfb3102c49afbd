//! The rules that turn evidence about a failed delivery into a [`Reason`], written down as
//! tables so that each row can be checked against the definition it implements.
//!
//! The reasons and their evidence are Sisimai's (its `Sisimai::Reason::*` documentation
//! and BSD-2 source, `Sisimai::SMTP::Status`, `Sisimai::SMTP::Command`, `Sisimai::Rhost::*`
//! and `Sisimai::Lhost::*`), read together with RFC 3463 (enhanced status codes), RFC 3464
//! (delivery status notifications), RFC 5321 (the SMTP conversation) and the error-code
//! pages the big mailbox providers publish. The tables are data; [`super::classify`] is
//! the interpreter that walks them in the order described there.
//!
//! # Kinds of evidence
//!
//! - [`STATUS`]: what an RFC 3463 enhanced status code means on its own.
//! - [`WORDING`]: how servers phrase each reason. Lower-case phrases matched against the
//!   lower-cased diagnostic with its white space collapsed; `*` between two pieces means
//!   "followed later by" (`"mailbox*full"` matches "mailbox is full" and "mailbox full").
//! - [`NOTICE_RULES`] and [`NOTICE_STAGES`]: the fixed sentences and codes one mail server
//!   family writes into its own notices (Exim's `deliver.c`, qmail's `qmail-remote.c`,
//!   Exchange's NDR codes, …): the reporting server's own verdict, which Sisimai's
//!   `Lhost::*` modules take as the reason.
//! - [`SES_BOUNCE_TYPES`]: Amazon SES's own classification of a bounce.
//! - [`LOCAL_AGENTS`]: the local delivery programs (procmail, maildrop, …) whose failure
//!   is the receiving system's own (`Sisimai::LDA`).
//! - [`PROVIDERS`]: the error codes and sentences a receiving provider documents for its
//!   own servers (`Sisimai::Rhost::*`), chosen by the recipient's domain or the remote host.
//! - [`PROBES`], [`SECOND_PASS`] and [`FALLBACKS`]: the order in which the evidence is
//!   weighed, with the stage of the SMTP conversation (which command was refused) as a
//!   condition.
//! - [`NOT_WHEN_TEMPORARY`], [`HARD`], [`HARD_WHEN_PERMANENT`] and [`NOT_FAILURES`]: what
//!   a reason means for the address (hard, soft or no failure).
//!
//! # The stage of the conversation
//!
//! The same words mean different things depending on when the server said them
//! (`Sisimai::SMTP::Command`, RFC 5321 §3): a refusal at the connection or after HELO is
//! about the sending host (`blocked`); at MAIL FROM about the envelope sender
//! (`rejected`); at RCPT TO about the recipient (`userunknown` and its kin); after DATA the
//! server has read the message, so "no such user" there is a content filter speaking
//! (`filtered`), and spam or virus verdicts only exist from then on.

use super::Reason::{self, *};
use super::codes::Command;

/// Reasons that other evidence may still overturn: a status code or an MTA's sentence
/// that names them is a first guess, not a verdict (Sisimai's "retry" list). `onhold` and
/// `undefined` are not reasons at all but the absence of one.
pub const TENTATIVE: &[Reason] = &[
    Undefined,
    OnHold,
    SystemError,
    SecurityError,
    Expired,
    NetworkError,
    HostUnknown,
    UserUnknown,
];

/// Reasons that are a verdict, as opposed to "no verdict yet" (`Sisimai::Reason::IsExplicit`).
pub fn is_explicit(reason: Reason) -> bool {
    !matches!(reason, Undefined | OnHold)
}

/// What an enhanced status code means by itself (RFC 3463 §3, RFC 4954, RFC 5248, RFC 7372,
/// RFC 7505; Sisimai::SMTP::Status). Codes not listed (x.0.0, x.5.0, 4.3.0, 4.7.0, …) say
/// only "temporary" or "permanent"; the words decide.
pub const STATUS: &[(&str, Reason)] = &[
    ("2.1.5", Delivered),
    // X.1.X addressing. 4.1.7/4.1.8 and 5.1.7/5.1.8: the *sender's* address is bad.
    ("4.1.6", HasMoved),
    ("4.1.7", Rejected),
    ("4.1.8", Rejected),
    ("4.1.9", SystemError),
    ("5.1.0", UserUnknown),
    ("5.1.1", UserUnknown),
    ("5.1.2", HostUnknown),
    ("5.1.3", UserUnknown),
    ("5.1.4", Filtered),
    ("5.1.6", HasMoved),
    ("5.1.7", Rejected),
    ("5.1.8", Rejected),
    ("5.1.9", SystemError),
    ("5.1.10", NotAccept),
    // X.2.X mailbox. 5.2.0/5.2.1: the mailbox exists but refuses this message, which
    // Sisimai calls `filtered`; a temporary 4.2.1 is the receiver throttling the sender.
    ("4.2.1", Blocked),
    ("4.2.2", MailboxFull),
    ("4.2.3", ExceedLimit),
    ("4.2.4", Filtered),
    ("5.2.0", Filtered),
    ("5.2.1", Filtered),
    ("5.2.2", MailboxFull),
    ("5.2.3", ExceedLimit),
    ("5.2.4", Filtered),
    // X.3.X the receiving mail system.
    ("4.3.1", SystemFull),
    ("4.3.2", NotAccept),
    ("4.3.3", SystemError),
    ("4.3.5", SystemError),
    ("5.3.0", SystemError),
    ("5.3.1", SystemFull),
    ("5.3.2", NotAccept),
    ("5.3.3", SystemError),
    ("5.3.4", MesgTooBig),
    ("5.3.5", SystemError),
    // X.4.X network and routing. No answer (4.4.1) and time-to-live exceeded (4.4.7) are
    // a delivery that ran out of time; a permanent "unable to route" (5.4.4) is a domain
    // that cannot receive mail.
    ("4.4.1", Expired),
    ("4.4.2", NetworkError),
    ("4.4.3", SystemError),
    ("4.4.4", NetworkError),
    ("4.4.5", SystemFull),
    ("4.4.6", NetworkError),
    ("4.4.7", Expired),
    ("4.4.8", NetworkError),
    ("5.4.0", NetworkError),
    ("5.4.3", SystemError),
    ("5.4.4", HostUnknown),
    // X.5.X protocol.
    ("4.5.3", SystemError),
    ("4.5.5", SystemError),
    ("5.5.2", SyntaxError),
    ("5.5.3", TooManyConn),
    ("5.5.4", SystemError),
    ("5.5.5", SystemError),
    ("5.5.6", SyntaxError),
    // X.6.X content.
    ("4.6.0", ContentError),
    ("4.6.2", ContentError),
    ("4.6.5", ContentError),
    ("5.6.0", ContentError),
    ("5.6.1", ContentError),
    ("5.6.2", ContentError),
    ("5.6.3", ContentError),
    ("5.6.5", ContentError),
    ("5.6.6", ContentError),
    ("5.6.7", ContentError),
    ("5.6.8", ContentError),
    ("5.6.9", ContentError),
    // X.7.X security and policy. A temporary "not authorized" (4.7.1) is a host being
    // held back; the permanent codes are security failures unless RFC 7372/7505 name
    // the check.
    ("4.7.1", Blocked),
    ("4.7.2", Blocked),
    ("4.7.5", SecurityError),
    ("4.7.6", SecurityError),
    ("4.7.7", SecurityError),
    ("4.7.12", SecurityError),
    ("4.7.15", SecurityError),
    ("4.7.16", MesgTooBig),
    ("4.7.24", AuthFailure),
    ("4.7.25", RequirePtr),
    ("4.7.26", AuthFailure),
    ("5.7.0", SecurityError),
    ("5.7.1", SecurityError),
    ("5.7.2", SecurityError),
    ("5.7.3", SecurityError),
    ("5.7.4", SecurityError),
    ("5.7.5", SecurityError),
    ("5.7.6", SecurityError),
    ("5.7.7", SecurityError),
    ("5.7.8", SecurityError),
    ("5.7.9", SecurityError),
    ("5.7.10", SecurityError),
    ("5.7.11", SecurityError),
    ("5.7.13", Suspend),
    ("5.7.14", SecurityError),
    ("5.7.15", SecurityError),
    ("5.7.16", MesgTooBig),
    ("5.7.17", HasMoved),
    ("5.7.18", HasMoved),
    ("5.7.19", SecurityError),
    ("5.7.20", AuthFailure),
    ("5.7.21", AuthFailure),
    ("5.7.22", AuthFailure),
    ("5.7.23", AuthFailure),
    ("5.7.24", AuthFailure),
    ("5.7.25", RequirePtr),
    ("5.7.26", AuthFailure),
    ("5.7.27", NotAccept),
    ("5.7.28", SpamDetected),
    ("5.7.29", AuthFailure),
];

/// The reason a status code names by itself, if any.
pub fn status_reason(status: &str) -> Option<Reason> {
    STATUS.iter().find(|(s, _)| *s == status).map(|(_, r)| *r)
}

type Phrases = &'static [&'static str];

/// How servers word each reason (the message patterns of `Sisimai::Reason::*`, which are
/// gathered from Sendmail, Postfix, Exim, qmail, Exchange, Gmail, Yahoo, … replies, plus
/// the RFC 3463 code descriptions servers echo). One row per reason; which rows are
/// consulted, and in which order, is up to [`PROBES`] and [`SECOND_PASS`].
pub const WORDING: &[(Reason, Phrases)] = &[
    (
        // The recipient's mailbox is over its quota (RFC 3463 X.2.2).
        MailboxFull,
        &[
            "452 insufficient disk space",
            "account disabled temporarly for exceeding receiving limits",
            "boite du destinataire pleine",
            "exceeded storage allocation",
            "full mailbox",
            "mailbox exceeds allowed size",
            "mailbox size limit exceeded",
            "mailbox would exceed maximum allowed storage",
            "mailfolder is full",
            "no space left on device",
            "not sufficient disk space",
            "quota violation for",
            "too much mail data",
            "user has exceeded quota",
            "user has too many messages on the server",
            "user's space has been used up",
            "account is *quota",
            "disk*quota",
            "enough * space",
            "mailbox *exceeded* limit",
            "mailbox *full",
            "mailbox *quota",
            "maildir *quota",
            "over *quota",
            "quota *exceeded",
            "inbox is out of storage space",
        ],
    ),
    (
        // The message is larger than the receiving system takes (RFC 3463 X.3.4).
        MesgTooBig,
        &[
            "exceeded maximum inbound message size",
            "exceeded the maximum incoming message size",
            "line limit exceeded",
            "max message size exceeded",
            "message file too big",
            "message length exceeds administrative limit",
            "message size exceeds fixed limit",
            "message size exceeds fixed maximum message size",
            "message size exceeds maximum value",
            "message too big",
            "message too large",
            "size limit",
            "taille limite du message atteinte",
            "message size exceeds",
            "exceeds the maximum size",
            "maximum email size exceeded",
        ],
    ),
    (
        // A per-mailbox or administrative limit on the message (RFC 3463 X.2.3).
        ExceedLimit,
        &[
            "message header size exceeds limit",
            "message too large",
            "exceeds administrative limit",
        ],
    ),
    (
        // The mailbox exists but its owner's account is disabled, suspended or frozen.
        Suspend,
        &[
            " is currently suspended",
            " temporary locked",
            "archived recipient",
            "boite du destinataire archivee",
            "email account that you tried to reach is disabled",
            "email account that you tried to reach is inactive",
            "has been suspended",
            "inactive account",
            "invalid/inactive user",
            "is a deactivated mailbox",
            "is unavailable: user is terminated",
            "mailbox currently suspended",
            "mailbox disabled",
            "mailbox is frozen",
            "mailbox unavailable or access denied",
            "recipient rejected: temporarily inactive",
            "recipient suspend the service",
            "this account has been disabled or discontinued",
            "this account has been temporarily suspended",
            "this address no longer accepts mail",
            "this mailbox is disabled",
            "user or domain is disabled",
            "user suspended",
            "account is locked",
            "account has been disabled",
            "account is disabled",
            "account disabled",
        ],
    ),
    (
        // The address was valid once and is no longer (RFC 3463 X.1.6).
        HasMoved,
        &[" has been replaced by ", "recipient no longer on server"],
    ),
    (
        // The server will not relay for us: the recipient's domain is not one it serves.
        NoRelaying,
        &[
            "as a relay",
            "email address is not verified.",
            "insecure mail relay",
            "is not permitted to relay through this server without authentication",
            "mail server requires authentication when attempting to send to a non-local e-mail address",
            "no relaying",
            "not a gateway",
            "not allowed to relay through this machine",
            "not an open relay",
            "not local host",
            "relay access denied",
            "relay denied",
            "relay not permitted",
            "relaying denied",
            "relaying mail to ",
            "specified domain is not allowed",
            "that domain isn't in my list of allowed rcpthost",
            "this system is not configured to relay mail",
            "unable to relay ",
            "we don't handle mail for",
            "relaying not permitted",
            "relaying not allowed",
            "relay not allowed",
        ],
    ),
    (
        // SPF, DKIM or DMARC checks of our mail failed (RFC 7372 X.7.20-26).
        AuthFailure,
        &[
            "//spf.pobox.com",
            "bad spf records for",
            "dmarc policy",
            "doesn't meet the required authentication level",
            "please inspect your spf settings",
            "sender policy framework (spf) fail",
            "sender policy framework violation",
            "spf (sender policy framework) domain authentication fail",
            "spf check: fail",
            "the 5322.from address doesn't meet the authentication requirements",
            " is not allowed to send mail.*_401",
            "is not allowed to send from <* per it's spf record",
            "does not pass dmarc verification",
            "dmarc verification failed",
            "dmarc check failed",
            "spf check failed",
            "senders to authenticate with either spf or dkim",
        ],
    ),
    (
        // The mailbox does not exist at the recipient's domain (RFC 3463 X.1.1).
        UserUnknown,
        &[
            "#5.1.1 bad address",
            "550 address invalid",
            "5.1.0 address rejected.",
            "address does not exist",
            "address not present in directory",
            "address unknown",
            "can't accept user",
            "does not exist.",
            "destination addresses were unknown",
            "destination server rejected recipients",
            "email address does not exist",
            "email address could not be found",
            "invalid address",
            "invalid mailbox",
            "invalid recipient",
            "is not a known user",
            "is not a valid mailbox",
            "is not an active address at this host",
            "mailbox does not exist",
            "mailbox invalid",
            "mailbox is inactive",
            "mailbox is unavailable",
            "mailbox not present",
            "mailbox not found",
            "mailbox unavaiable",
            "nessun utente simile in questo indirizzo",
            "no account by that name here",
            "no existe dicha persona",
            "no existe ese usuario ",
            "no mail box available for this user",
            "no mailbox by that name is currently available",
            "no mailbox found",
            "no such address here",
            "no such mailbox",
            "no such person at this address",
            "no such recipient",
            "no such user",
            "no thank you rejected: account unavailable",
            "no valid recipients, bye",
            "not a valid recipient",
            "not a valid user here",
            "not a local address",
            "not email addresses",
            "recipient address rejected. (in reply to rcpt to command)",
            "recipient address rejected: access denied",
            "recipient address rejected: invalid user",
            "recipient address rejected: invalid-recipient",
            "recipient address rejected: unknown user",
            "recipient address rejected: userunknown",
            "recipient does not exist",
            "recipient is not accepted",
            "recipient is not local",
            "recipient not exist",
            "recipient not found",
            "recipient not ok",
            "recipient refuses to accept your mail",
            "recipient unknown",
            "requested action not taken: mailbox unavailable",
            "resolver.adr.recipient notfound",
            "resolver.adr.recipientnotfound",
            "sorry, user unknown",
            "sorry, badrcptto",
            "sorry, no mailbox here by that name",
            "sorry, your envelope recipient has been denied",
            "that domain or user isn't in my list of allowed rcpthosts",
            "the email account that you tried to reach does not exist",
            "the following recipients was undeliverable",
            "the user's email name is not found",
            "there is no one at this address",
            "this address no longer accepts mail",
            "this email address is wrong or no longer valid",
            "this recipient is in my badrecipientto list",
            "this recipient is not in my validrcptto list",
            "this spectator does not exist",
            "unknown mailbox",
            "unknown recipient",
            "unknown user",
            "user does not exist",
            "user missing home directory",
            "user not active",
            "user not exist",
            "user not found",
            "user not known",
            "user unknown",
            "utilisateur inconnu !",
            "vdeliver: invalid or unknown virtual user",
            "weil die adresse nicht gefunden wurde oder keine e-mails empfangen kann",
            "your envelope recipient is in my badrcptto list",
            "<*> not found",
            "<*>... blocked by ",
            "account * does not exist at the organization",
            "adresse d au moins un destinataire invalide. invalid recipient.*416",
            "adresse d au moins un destinataire invalide. invalid recipient.*418",
            "bad*recipient",
            "mailbox *does not exist",
            "mailbox *unavailable or access denied",
            "no * in name directory",
            "non*existent user",
            "rcpt <* does not exist",
            "rcpt (*t exist ",
            "recipient * was not found in",
            "recipient address rejected: user * does not exist",
            "recipient address rejected: user unknown in * table",
            "said: 550*5.1.1 * user unknown ",
            "this user doesn't have a * account",
            "unknown e*mail address",
            "unknown local*part",
            "user * was not found",
            "user * does not exist",
            "user (*) unknown",
            "not listed in domino directory",
            "not listed in public name & address book",
            "mailbox unavailable",
        ],
    ),
    (
        // The message was refused after DATA by the recipient's own filter or settings
        // (Japanese carriers' domain filters, "accept mail only from …").
        Filtered,
        &[
            "account is protected by",
            "bounced address",
            "has restricted sms e-mail",
            "is not accepting any mail",
            "message filtered",
            "message rejected due to user rules",
            "not found recipient account",
            "recipient id refuse to receive mail",
            "recipient is only accepting mail from specific email addresses",
            "refused due to recipient preferences",
            "user not found",
            "user refuses to receive this mail",
            "user reject",
            "you have been blocked by the recipient",
        ],
    ),
    (
        // The sending host has no or a mismatching reverse DNS name (RFC 7372 X.7.25).
        RequirePtr,
        &[
            "access denied. ip name lookup failed",
            "all mail servers must have a ptr record with a valid reverse dns entry",
            "bad dns ptr resource record",
            "cannot find your hostname",
            "cannot resolve your address.",
            "client host rejected: cannot find your hostname",
            "fix reverse dns for ",
            "ips with missing ptr records",
            "no ptr record found.",
            "please get a custom reverse dns name from your isp for your host",
            "ptr record setup",
            "reverse dns failed",
            "reverse dns required",
            "sender ip reverse lookup rejected",
            "the ip address sending this message does not have a ptr record",
            "the corresponding forward dns entry does not point to the sending ip",
            "this system will not accept messages from servers/devices with no reverse dns",
            "unresolvable relay host name",
            "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
            "domain * mismatches client ip",
            "dns lookup failure: * try again later",
            "reverse dns lookup for host * failed permanently",
            "server access * forbidden by invalid rdns record of your mail server",
            "service permits * unverifyable sending ips",
            "must have a reverse dns record",
        ],
    ),
    (
        // The message breaks RFC 5322 (duplicate or malformed header fields).
        NotCompliantRfc,
        &[
            "duplicate header",
            "this message is not rfc 5322 compliant",
            "//support.google.com/mail/?p=rfcmessagenoncompliant",
            " multiple * header",
            "headers are not rfc compliant",
            "missing a valid address in the from: header",
            "multiple addresses in from: header are not accepted",
            "missing a valid message-id: header",
        ],
    ),
    (
        // The sending IP address or domain has a poor reputation.
        BadReputation,
        &[
            "a poor email reputation score",
            "has been temporarily rate limited due to ip reputation",
            "ip/domain reputation problems",
            "likely suspicious due to the very low reputation",
            "none/bad reputation",
            "the sending mta's poor reputation",
            "very low reputation of the sending",
        ],
    ),
    (
        // The header or the MIME structure is refused (RFC 3463 X.6.X).
        ContentError,
        &[
            "duplicate header",
            "header size exceeds maximum permitted",
            "improper use of 8-bit data in message header",
            "message header size, or recipient list, exceeds policy limit",
            "message mime complexity exceeds the policy maximum",
            "routing loop detected -- too many received: headers",
            "this message contain invalid mime headers",
            "this message contain improperly-formatted binary content",
            "this message contain text that uses unnecessary base64 encoding",
        ],
    ),
    (
        // The envelope sender (MAIL FROM) or its domain is refused.
        Rejected,
        &[
            "access denied (in reply to mail from command)",
            "access denied (sender blacklisted)",
            "address rejected",
            "administrative prohibition",
            "batv failed to verify",
            "batv validation failure",
            "backscatter protection detected an invalid or expired email address",
            "because the sender isn't on the recipient's list of senders to accept mail from",
            "bogus mail from",
            "can't determine purported responsible address",
            "connections not accepted from servers without a valid sender domain",
            "denied [bouncedeny]",
            "denied by secumail valid-address-filter",
            "delivery not authorized, message refused",
            "does not exist e2110",
            "domain of sender address ",
            "email address is on senderfilterconfig list",
            "emetteur invalide",
            "empty envelope senders not allowed",
            "envelope blocked - ",
            "error: no third-party dsns",
            "from: domain is invalid. please provide a valid from:",
            "fully qualified email address required",
            "invalid domain, see <url:",
            "invalid sender",
            "is not a registered gateway user",
            "mail from not owned by user",
            "message rejected: email address is not verified",
            "mx records for ",
            "null sender is not allowed",
            "recipient addresses rejected : access denied",
            "recipient not accepted. (batv: no tag",
            "returned mail not accepted here",
            "rfc 1035 violation: recursive cname records for",
            "rule imposed mailbox access for",
            "sending this from a different address or alias using the ",
            "sender address has been blacklisted",
            "sender email address rejected",
            "sender is in my black list",
            "sender is spammer",
            "sender not pre-approved",
            "sender rejected",
            "sender domain is empty",
            "sender verify failed",
            "sender was rejected",
            "spam reporting address",
            "syntax error: empty email address",
            "the message has been rejected by batv defense",
            "this server does not accept mail from",
            "transaction failed unsigned dsn for",
            "unroutable sender address",
            "you are not allowed to post to this mailing list",
            "you are sending to/from an address that has been blacklisted",
            "your access to submit messages to this e-mail system has been rejected",
            "your email address has been blacklisted",
        ],
    ),
    (
        // The recipient's domain does not exist (RFC 3463 X.1.2).
        HostUnknown,
        &[
            "domain does not exist",
            "domain is not reachable",
            "domain must exist",
            "host or domain name not found",
            "host unknown",
            "host unreachable",
            "mail domain mentioned in email address is unknown",
            "name or service not known",
            "no such domain",
            "recipient address rejected: unknown domain name",
            "recipient domain must exist",
            "the account or domain may not exist",
            "unknown host",
            "unroutable address",
            "unrouteable address",
            "553 * does not exist",
            "we weren't able to find the recipient domain",
        ],
    ),
    (
        // A spam filter refused the message's content (after DATA).
        SpamDetected,
        &[
            " - spam",
            "//www.spamhaus.org/help/help_spam_16.htm",
            "//dsbl.org/help/help_spam_16.htm",
            "//mail.163.com/help/help_spam_16.htm",
            "554 5.7.0 reject, id=",
            "appears to be unsolicited",
            "blacklisted url in message",
            "block for spam",
            "blocked by policy: no spam please",
            "blocked by spamassassin",
            "blocked for abuse. see http://att.net/blocks",
            "cannot be forwarded because it was detected as spam",
            "considered unsolicited bulk e-mail (spam) by our mail filters",
            "content filter rejection",
            "cyberoam anti spam engine has identified this email as a bulk email",
            "denied due to spam list",
            "high probability of spam",
            "is classified as spam and is rejected",
            "listed in work.drbl.imedia.ru",
            "the mail server detected your message as spam and has prevented delivery.",
            "mail appears to be unsolicited",
            "mail content denied",
            "may consider spam",
            "message considered as spam or virus",
            "message contains spam or virus",
            "message content rejected",
            "message detected as spam",
            "message filtered",
            "message looks like spam",
            "message is being rejected as it seems to be a spam",
            "message refused by mailmarshal spamprofiler",
            "message refused by trustwave seg spamprofiler",
            "message rejected as spam",
            "message rejected because of unacceptable content",
            "message rejected due to suspected spam content",
            "message rejected for policy reasons",
            "message was rejected for possible spam/virus content",
            "our email server thinks this email is spam",
            "our system has detected that this message is ",
            "probable spam",
            "reject bulk.advertising",
            "rejected: spamassassin score ",
            "rejected - bulk email",
            "rejecting banned content",
            "rejecting mail content",
            "related to content with spam-like characteristics",
            "sender domain listed at ",
            "sending address not accepted due to spam filter",
            "spam blocked",
            "spam check",
            "spam content matched",
            "spam detected",
            "spam email",
            "spam message rejected.",
            "spam not accepted",
            "spam refused",
            "spam rejection",
            "spam score ",
            "spambouncer identified spam",
            "spamming not allowed",
            "too many spam complaints",
            "too much spam.",
            "the email message was detected as spam",
            "the message has been rejected by spam filtering engine",
            "the message was rejected due to classification as bulk mail",
            "the content of this message looked like spam",
            "this message appears to be spam",
            "this message has been identified as spam",
            "this message has been scored as spam with a probability",
            "this message was classified as spam",
            "this message was rejected by recurrent pattern detection system",
            "transaction failed spam message not queued",
            "we dont accept spam",
            "your email appears similar to spam we have received before",
            "your email breaches local uribl policy",
            "your email had spam-like ",
            "your email is considered spam",
            "your email is probably spam",
            "your email was detected as spam",
            "your message as spam and has prevented delivery",
            "your message has been temporarily blocked by our filter",
            "your message has been rejected because it appears to be spam",
            "your message has triggered a spam block",
            "your message may contain the spam contents",
            "your message failed several antispam checks",
            "greylisted* please try again in",
            "mail score (* over ",
            "mail rejete. mail rejected. *506",
            "our filters rate at and above * percent probability of being spam",
            "rejected by * (spam)",
            "rejected due to spam *classification",
            "rejected due to spam *content",
            "rule imposed as * is blacklisted on",
            "spam * exceeded",
            "this message scored * spam points",
            "likely unsolicited mail",
        ],
    ),
    (
        // The receiving user gets mail faster than the server lets them.
        Speeding,
        &[
            "mail sent from your ip address has been temporarily rate limited",
            "please try again slower",
            "receiving mail at a rate that prevents additional messages from being delivered",
            "is receiving mail too quickly",
        ],
    ),
    (
        // Too many connections or recipients at once from our side.
        TooManyConn,
        &[
            "all available ips are at maximum connection limit",
            "connection rate limit exceeded",
            "exceeds per-domain connection limit for",
            "has exceeded the max emails per hour ",
            "throttling failure: daily message quota exceeded",
            "throttling failure: maximum sending rate exceeded",
            "too many connections",
            "too many concurrent smtp connections",
            "too many errors from your ip",
            "too many recipients",
            "too many smtp sessions for this host",
            "trop de connexions, ",
            "we have already made numerous attempts to deliver this message",
        ],
    ),
    (
        // The sending host is refused: block lists, the host name it gave, the
        // connection itself.
        Blocked,
        &[
            " said: 550 blocked",
            "//www.spamcop.net/bl.",
            "bad sender ip address",
            "banned sending ip",
            "blacklisted by",
            "blocked using ",
            "blocked - see http",
            "dnsbl:attrbl",
            "client host rejected: abus detecte gu_eib_02",
            "client host rejected: abus detecte gu_eib_04",
            "client host rejected: may not be mail exchanger",
            "client host rejected: was not authenticated",
            "confirm this mail server",
            "connection dropped",
            "connection refused by",
            "connection reset by peer",
            "connection was dropped by remote host",
            "connections not accepted from ip addresses on spamhaus xbl",
            "currently sending spam see: ",
            "domain does not exist:",
            "dynamic/zombied/spam ips blocked",
            "error: no valid recipients from ",
            "esmtp not accepting connections",
            "extreme bad ip profile",
            "go away",
            "helo command rejected:",
            "host network not allowed",
            "hosts with dynamic ip",
            "invalid ip for sending mail of domain",
            "is in a black list",
            "is not allowed to send mail from",
            "mailfrom domain is listed in spamhaus",
            "no access from mail server",
            "no matches to nameserver query",
            "not currently accepting mail from your ip",
            "part of their network is on our block list",
            "please use the smtp server of your isp",
            "refused - see http",
            "rejected - multi-blacklist",
            "rejected because the sending mta or the sender has not passed validation",
            "rejecting open proxy",
            "sender ip address rejected",
            "server access forbidden by your ip ",
            "service not available, closing transmission channel",
            "smtp error from remote mail server after initial connection:",
            "sorry, that domain isn't in my list of allowed rcpthosts",
            "sorry, your remotehost looks suspiciously like spammer",
            "temporarily deferred due to unexpected volume or user complaints",
            "to submit messages to this e-mail system has been rejected",
            "too many spams from your ip",
            "too many unwanted messages have been sent from the following ip address above",
            "was blocked by ",
            "we do not accept mail from dynamic ips",
            "you are not allowed to connect",
            "you are sending spam",
            "your ip address is listed in the rbl",
            "your network is temporary blacklisted",
            "your server requires confirmation",
            "(*@*:blocked)",
            "access from ip address * blocked",
            "client host * blocked using",
            "connections will not be accepted from * because the ip is in spamhaus's list",
            "dnsbl:rbl *>_is_blocked",
            "email blocked by *.barracudacentral.org",
            "email blocked by *spamhaus",
            "host * refused to talk to me: * blocked",
            "ip * is blocked by earthlink",
            "is in an *rbl on ",
            "mail server at * is blocked",
            "mail from * refused:",
            "mail from * refused, see *orbs",
            "message from * rejected based on blacklist",
            "messages from * temporarily deferred due to user complaints",
            "server ip * listed as abusive",
            "sorry! your ip address* is blocked by rbl",
            "the domain * is blacklisted",
            "the email * is blacklisted",
            "the ip* is blacklisted",
            "veuillez essayer plus tard. service refused, please try later. *103",
            "veuillez essayer plus tard. service refused, please try later. *510",
            "your access ip* has been rejected",
            "your sender's ip address is listed at *.abuseat.org",
            "my name was rejected",
        ],
    ),
    (
        // A virus scanner refused the message (after DATA).
        VirusDetected,
        &[
            "it has a potentially executable attachment",
            "the message was rejected because it contains prohibited virus or spam content",
            "this form of attachment has been used by recent viruses or other malware",
            "virus detected",
            "virus phishing/malicious_url detected",
            "your message was infected with a virus",
        ],
    ),
    (
        // The receiving site's own policy refuses the content or the sender by rule (not
        // a spam verdict, not an authentication failure).
        PolicyViolation,
        &[
            "an illegal attachment on your message",
            "because the recipient is not accepting mail with ",
            "by non-member to a members-only list",
            "closed mailing list",
            "denied by policy",
            "email not accepted for policy reasons",
            "email rejected due to security policies",
            "header are not accepted",
            "header error",
            "local policy violation",
            "message bounced due to organizational settings",
            "message given low priority",
            "message not accepted for policy reasons",
            "message rejected due to local policy",
            "messages with multiple addresses",
            "rejected for policy reasons",
            "protocol violation",
            "the email address used to send your message is not subscribed to this group",
            "the message was rejected by organization policy",
            "this message was blocked because its content presents a potential",
            "we do not accept messages containing images or other attachments",
            "you're using a mass mailer",
            "you have exceeded the*allowable number of posts without solving a captcha",
        ],
    ),
    (
        // The receiving system failed on its own: loops, misconfiguration, internal
        // errors, temporary local problems.
        SystemError,
        &[
            "aliasing/forwarding loop broken",
            "can't create user output file",
            "could not load drd for domain",
            "internal error reading data",
            "internal server error: operation now in progress",
            "interrupted system call",
            "it encountered an error while being processed",
            "it would create a mail loop",
            "local configuration error",
            "local error in processing",
            "loop was found in the mail exchanger",
            "loops back to myself",
            "mail system configuration error",
            "queue file write error",
            "recipient deferred because there is no mdb",
            "remote server is misconfigured",
            "server configuration error",
            "service currently unavailable",
            "system config error",
            "temporary local problem",
            "timeout waiting for input",
            "transaction failed ",
            "unable to connect *daemon",
        ],
    ),
    (
        // DNS failures and connections that broke, loops between hops.
        NetworkError,
        &[
            "could not connect and send the mail to",
            "dns records for the destination computer could not be found",
            "hop count exceeded - possible mail loop",
            "host is unreachable",
            "host name lookup failure",
            "host not found, try again",
            "mail forwarding loop for ",
            "malformed name server reply",
            "malformed or unexpected name server reply",
            "maximum forwarding loop count exceeded",
            "message looping",
            "message probably in a routing loop",
            "no route to host",
            "too many hops",
            "unable to resolve route ",
            "unrouteable mail domain",
        ],
    ),
    (
        // The receiving system's disk is full (RFC 3463 X.3.1), not one mailbox.
        SystemFull,
        &[
            "mail system full",
            "requested mail action aborted: exceeded storage allocation",
        ],
    ),
    (
        // The domain or host accepts no mail at all (null MX, RFC 7505; RFC 3463 X.3.2).
        NotAccept,
        &[
            "does not accept mail (nullmx)",
            "host/domain does not accept mail",
            "host does not accept mail",
            "mail receiving disabled",
            "name server: .: host not found",
            "no mx record found for domain=",
            "no mx found for domain",
            "no route for current request",
            "smtp protocol returned a permanent error",
        ],
    ),
    (
        // The sending MTA gave up: the message sat in its queue for the whole retry
        // period (RFC 3463 X.4.7).
        Expired,
        &[
            "connection timed out",
            "could not find a gateway for",
            "delivery attempts will continue to be",
            "delivery expired",
            "delivery time expired",
            "failed to deliver to domain ",
            "giving up on",
            "have been failing for a long time",
            "has been delayed",
            "it has not been collected after",
            "message expired after sitting in queue for",
            "message expired, cannot connect to remote server",
            "message expired, connection refulsed",
            "message timed out",
            "retry time not reached for any host after a long failure period",
            "server did not respond",
            "this message has been in the queue too long",
            "unable to deliver message after multiple retries",
            "was not reachable within the allowed queue period",
            "your message could not be delivered for more than",
            "could not be delivered for* days",
        ],
    ),
    (
        // Authentication, TLS or other security requirements of the receiving server
        // were not met (RFC 3463 X.7.X where no narrower reason applies).
        SecurityError,
        &[
            "account not subscribed to ses",
            "authentication credentials invalid",
            "authentication failure",
            "authentication required",
            "authentication turned on in your email client",
            "executable files are not allowed in compressed files",
            "insecure mail relay",
            "recipient address rejected: access denied",
            "sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
            "unauthenticated senders not allowed",
            "verification failure",
            "you are not authorized to send mail, authentication is required",
            "authentication failed; server * said: ",
            "authentification invalide*305",
            "authentification requise*402",
            "domain * is a dead domain",
            "user * is not authorized to perform ses:sendrawemail on resource",
            "must issue a starttls command first",
        ],
    ),
    (
        // The local delivery program (a pipe, procmail, …) failed.
        MailerError,
        &[
            " || exit ",
            "procmail: ",
            "bin/procmail",
            "bin/maidrop",
            "command failed: ",
            "command died with status ",
            "command output:",
            "mailer error",
            "pipe to |/",
            "x-unix; ",
        ],
    ),
];

/// Whether `text` (lower case, white space collapsed) uses `reason`'s wording.
pub fn says(reason: Reason, text: &str) -> bool {
    let any = |table: &[(Reason, Phrases)]| {
        table
            .iter()
            .filter(|(r, _)| *r == reason)
            .any(|(_, phrases)| phrases.iter().any(|p| matches(p, text)))
    };
    any(WORDING) && !any(NOT_WORDING)
}

/// Wording that rules a reason out even where its own wording appears: "address
/// rejected" is the sender's only when it is not the recipient's address or the sending
/// host that was refused.
pub const NOT_WORDING: &[(Reason, Phrases)] = &[(
    Rejected,
    &[
        "5.1.0 address rejected",
        "recipient address rejected",
        "sender ip address rejected",
    ],
)];

/// `pattern` in `text`: a plain substring, or `a*b…` pieces in that order.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut rest = text;
    for piece in pattern.split('*') {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// A test on the evidence, for the rows of [`PROBES`] and [`PROVIDERS`].
#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// The enhanced status code names this reason in [`STATUS`].
    Status(Reason),
    /// The enhanced status code names no reason in [`STATUS`] (or there is none).
    NoStatusReason,
    /// There is an enhanced status code.
    HasStatus,
    /// The enhanced status code is exactly this one.
    StatusIs(&'static str),
    /// The enhanced status code is a specific one (not `x.0.0`).
    PreciseStatus,
    /// The enhanced status code starts with one of these (`5.7.`).
    StatusPrefix(&'static [&'static str]),
    /// The Diagnostic-Code's type is this one (`x-unix`).
    DiagType(&'static str),
    /// The DSN's `Action` is one of these (RFC 3464 §2.3.3).
    Action(&'static [&'static str]),
    /// The enhanced status code starts with `prefix` and its last number is in the range
    /// (`5.7.` 606–649).
    StatusIn(&'static str, u16, u16),
    /// The diagnostic uses this reason's [`WORDING`].
    Says(Reason),
    /// The diagnostic contains this phrase ([`matches`] syntax).
    Phrase(&'static str),
    /// The diagnostic contains one of these phrases.
    AnyPhrase(Phrases),
    /// A word of the diagnostic starts with one of these labels and ends in a number in
    /// the range: providers' own error codes (`LPN007_510`, `AUP#I1000`).
    LabelCode(&'static [&'static str], u16, u16),
    /// The SMTP reply code is in the range.
    Reply(u16, u16),
    /// The server refused one of these commands.
    At(&'static [Command]),
    /// The reporting server's own notice already named this reason ([`NOTICE_RULES`]).
    Declared(Reason),
    /// The probe row of this reason holds.
    Probe(Reason),
    Not(&'static Test),
    All(&'static [Test]),
    Any(&'static [Test]),
}

use Test::*;

/// Commands of the SMTP conversation before the message itself is sent: a refusal there
/// cannot be about the message's content (`Sisimai::SMTP::Command` ExceptDATA).
pub const BEFORE_DATA: &[Command] = &[
    Command::Connect,
    Command::Helo,
    Command::MailFrom,
    Command::RcptTo,
];
const GREETING: &[Command] = &[Command::Connect, Command::Helo];

/// First pass (`Sisimai::Reason::Find`, its first class order), for reports whose
/// diagnostic is an SMTP reply: the first row whose test holds names the reason. Narrow
/// causes come before broad ones, and the stage of the conversation decides between
/// reasons that share their words.
pub const PROBES: &[(Reason, Test)] = &[
    // A code or wording that names the cause outright.
    (MailboxFull, Any(&[Status(MailboxFull), Says(MailboxFull)])),
    (MesgTooBig, Any(&[Status(MesgTooBig), Says(MesgTooBig)])),
    (ExceedLimit, Any(&[Status(ExceedLimit), Says(ExceedLimit)])),
    // RFC 4954/5248: 525 is "user account disabled".
    (Suspend, Any(&[Reply(525, 525), Says(Suspend)])),
    (HasMoved, Says(HasMoved)),
    // Relaying is refused per recipient; a refusal at the greeting is about the host, and
    // a server that asks us to authenticate first is stating a security requirement.
    (
        NoRelaying,
        All(&[
            Not(&At(GREETING)),
            Not(&Declared(SecurityError)),
            Says(NoRelaying),
        ]),
    ),
    (AuthFailure, Any(&[Status(AuthFailure), Says(AuthFailure)])),
    // x.1.1 "bad destination mailbox" unless the words say the refusal was about
    // relaying, the host, a full mailbox, a move, the sender or a null MX; without that
    // code, "no such user" only counts as said in reply to RCPT TO.
    (
        UserUnknown,
        Any(&[
            Declared(UserUnknown),
            All(&[
                Status(UserUnknown),
                Not(&Any(&[
                    Says(NoRelaying),
                    Says(Blocked),
                    Says(MailboxFull),
                    Says(HasMoved),
                    Says(Rejected),
                    Says(NotAccept),
                ])),
            ]),
            All(&[
                Not(&Status(UserUnknown)),
                Not(&Status(Suspend)),
                At(&[Command::RcptTo]),
                Says(UserUnknown),
            ]),
        ]),
    ),
    // The same words after DATA (or with x.2.0/x.2.1 "the mailbox exists but takes
    // nothing") are the recipient's filter refusing this message.
    (
        Filtered,
        Any(&[
            All(&[Status(Filtered), Any(&[Says(UserUnknown), Says(Filtered)])]),
            All(&[
                Not(&Status(Filtered)),
                Not(&Status(Suspend)),
                Not(&At(BEFORE_DATA)),
                Any(&[Says(Filtered), Says(UserUnknown)]),
            ]),
        ]),
    ),
    (RequirePtr, Any(&[Status(RequirePtr), Says(RequirePtr)])),
    (NotCompliantRfc, Says(NotCompliantRfc)),
    (BadReputation, Says(BadReputation)),
    (
        ContentError,
        All(&[
            Not(&Probe(SpamDetected)),
            Any(&[Status(ContentError), Says(ContentError)]),
        ]),
    ),
    // The envelope sender: x.1.7/x.1.8, or the sender's wording at MAIL FROM, after DATA,
    // or where no code points elsewhere.
    (
        Rejected,
        Any(&[
            Status(Rejected),
            All(&[Any(&[
                All(&[At(&[Command::MailFrom]), Says(Rejected)]),
                All(&[
                    At(&[Command::Data]),
                    Not(&Status(UserUnknown)),
                    Says(Rejected),
                ]),
                All(&[
                    Not(&At(&[Command::MailFrom, Command::Data])),
                    Any(&[NoStatusReason, Status(SecurityError), Status(SystemError)]),
                    Says(Rejected),
                ]),
            ])]),
        ]),
    ),
    // x.1.2 "bad destination system" unless it was a DNS failure on our side.
    (
        HostUnknown,
        Any(&[
            Declared(HostUnknown),
            All(&[Status(HostUnknown), Not(&Says(NetworkError))]),
            All(&[Not(&Status(HostUnknown)), Says(HostUnknown)]),
        ]),
    ),
    // Spam verdicts only exist once the server has read the message.
    (
        SpamDetected,
        All(&[
            HasStatus,
            Any(&[
                Status(SpamDetected),
                All(&[Not(&At(BEFORE_DATA)), Says(SpamDetected)]),
            ]),
        ]),
    ),
    (Speeding, Says(Speeding)),
    (TooManyConn, Any(&[Status(TooManyConn), Says(TooManyConn)])),
    (Blocked, Any(&[Status(Blocked), Says(Blocked)])),
];

/// Second pass (`Sisimai::Reason` "anotherone"): where the status code decided nothing,
/// the first reason whose wording appears. Wording about the mailbox, the sender's
/// standing and the content first; the receiving system's own failures after; then
/// the catch-alls.
pub const SECOND_PASS: &[Reason] = &[
    MailboxFull,
    AuthFailure,
    BadReputation,
    Speeding,
    SpamDetected,
    VirusDetected,
    PolicyViolation,
    NoRelaying,
    SystemError,
    NetworkError,
    Suspend,
    ContentError,
    SystemFull,
    NotAccept,
    Expired,
    SecurityError,
    MailerError,
];

/// The last resort of the second pass, where neither the status code nor the wording
/// decided (the end of `Sisimai::Reason`'s "anotherone"): the first row that holds.
pub const FALLBACKS: &[(Test, Reason)] = &[
    // RFC 3463 §3.7: subject 6 is the message's content or media; §3.8: subject 7 is
    // security or policy, where nothing narrower was said.
    (StatusPrefix(&["5.6.", "4.6."]), ContentError),
    (StatusPrefix(&["5.7.", "4.7."]), SecurityError),
    // RFC 3464 §2.3.6: a Diagnostic-Code of type X-Unix is a local program's exit status.
    (DiagType("x-unix"), MailerError),
    // RFC 5321 §4.2.2-4.2.3: 500-504 are replies to a command the server could not parse
    // or does not implement (and 4xx kin for a temporary condition).
    (Any(&[Reply(401, 407), Reply(501, 507)]), SyntaxError),
    // RFC 3464 §2.3.3: the reporting server is still trying, or gave up after trying for
    // its whole queue lifetime — which is what a failure with a persistent transient
    // status (RFC 3463 §3.2: 4.X.X) reports too.
    (Action(&["delayed", "expired"]), Expired),
    (All(&[Action(&["failed"]), StatusPrefix(&["4."])]), Expired),
    // RFC 5321 §3.1-3.3: refused before any recipient was named, at the connection or
    // HELO it is the sending host, at MAIL FROM the envelope sender.
    (At(GREETING), Blocked),
    (At(&[Command::MailFrom]), Rejected),
];

/// A mail server family, recognised by the fixed wording and headers of its notices
/// (`super::family`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Exim,
    EximVariant,
    Qmail,
    Courier,
    DragonFly,
    Gmail,
    GSuite,
    GoogleGroups,
    Aol,
    Facebook,
    MessageLabs,
    Office365,
    Outlook,
    IMailServer,
    Notes,
    Domino,
    AmazonSes,
    ReceivingSes,
    Gmx,
    Zoho,
    EzWeb,
    Fml,
    Kddi,
    /// au's "spamghetti" filter (`X-SPASIGN: NG`) refused the message.
    AuFiltered,
    EinsUndEins,
    Verizon,
    Biglobe,
    McAfee,
}

use Family as F;

/// The stage a family's notice names in its own words (`Sisimai::Lhost::*`).
pub const NOTICE_STAGES: &[(Family, &str, Command)] = &[
    // Gmail's "(state N)" is the step of its SMTP client that failed.
    (F::Gmail, "(state 13)", Command::Helo),
    (F::Gmail, "(state 14)", Command::RcptTo),
    (F::Gmail, "(state 15)", Command::Data),
    (F::Gmail, "(state 17)", Command::Data),
    (F::Gmail, "(state 18)", Command::Data),
    (F::Gmail, "(state 6)", Command::MailFrom),
    (
        F::Office365,
        "unknown recipient or mailbox unavailable ->",
        Command::RcptTo,
    ),
];

/// The verdicts a server family's notice states in its own fixed sentences and codes,
/// which Sisimai's `Lhost::*` modules take as the reason (each quoting the MTA's source
/// or documentation). `None` rows are codes distinctive enough to trust in any notice.
/// The first row that holds wins; a [`TENTATIVE`] reason is only a first guess that the
/// probes may overturn, any other is final.
pub const NOTICE_RULES: &[(Option<Family>, Test, Reason)] = &[
    // Exim (deliver.c, route.c, transports/*.c, routers/dnslookup.c, parser.c, retry.c):
    // a refusal of HELO is about our host; at MAIL FROM the words must decide.
    (Some(F::Exim), At(&[Command::Helo]), Blocked),
    (Some(F::Exim), At(&[Command::MailFrom]), OnHold),
    (Some(F::Exim), Phrase("user not found"), UserUnknown),
    (Some(F::Exim), AnyPhrase(EXIM_HOSTUNKNOWN), HostUnknown),
    (Some(F::Exim), AnyPhrase(EXIM_MAILBOXFULL), MailboxFull),
    (Some(F::Exim), AnyPhrase(EXIM_NOTACCEPT), NotAccept),
    (
        Some(F::Exim),
        AnyPhrase(&[
            "angle-brackets nested too deep",
            "expected word or \"<\"",
            "domain missing in source-routed address",
            "malformed address:",
        ]),
        SyntaxError,
    ),
    (Some(F::Exim), AnyPhrase(EXIM_SYSTEMERROR), SystemError),
    (Some(F::Exim), Phrase("lmtp error after "), SystemError),
    (
        Some(F::Exim),
        Phrase("too many \"received\" headers"),
        ContentError,
    ),
    (Some(F::Exim), AnyPhrase(EXIM_DELAYED), Expired),
    (Some(F::Exim), Phrase("pipe to |"), MailerError),
    // Exim as run by Mail.ru and McAfee's MX Logic: a refusal at MAIL FROM is the
    // sender's.
    (Some(F::EximVariant), At(&[Command::MailFrom]), Rejected),
    (Some(F::EximVariant), At(&[Command::Helo]), Blocked),
    (
        Some(F::EximVariant),
        AnyPhrase(&[
            "retry timeout exceeded",
            "no action is required on your part",
        ]),
        Expired,
    ),
    (Some(F::EximVariant), Phrase("user not found"), UserUnknown),
    (
        Some(F::EximVariant),
        AnyPhrase(EXIM_HOSTUNKNOWN),
        HostUnknown,
    ),
    (
        Some(F::EximVariant),
        AnyPhrase(EXIM_MAILBOXFULL),
        MailboxFull,
    ),
    (Some(F::EximVariant), AnyPhrase(EXIM_NOTACCEPT), NotAccept),
    (
        Some(F::EximVariant),
        AnyPhrase(EXIM_SYSTEMERROR),
        SystemError,
    ),
    (
        Some(F::EximVariant),
        Phrase("too many \"received\" headers "),
        ContentError,
    ),
    // qmail and its clones (qmail-remote.c, qmail-local.c, error_str.c, the qmail-ldap
    // patch): a refusal of our greeting is about our host; "does not like recipient" after
    // the message sat in the queue too long leaves the remote server's words to decide.
    (Some(F::Qmail), At(&[Command::Helo]), Blocked),
    (
        Some(F::Qmail),
        Phrase(" does not like recipient.*this message has been in the queue too long."),
        OnHold,
    ),
    (
        Some(F::Qmail),
        Phrase("sorry, i couldn't find any host "),
        HostUnknown,
    ),
    (Some(F::Qmail), Phrase("disk quota exceeded"), MailboxFull),
    (
        Some(F::Qmail),
        Phrase("message size exceeds fixed maximum message size:"),
        MesgTooBig,
    ),
    (
        Some(F::Qmail),
        AnyPhrase(&[
            "sorry, i wasn't able to establish an smtp connection",
            "sorry. although i'm listed as a best-preference mx or a for that host",
        ]),
        NetworkError,
    ),
    // notqmail 1.08 says so for a domain with a null MX (RFC 7505).
    (
        Some(F::Qmail),
        Phrase("sorry, i couldn't find a mail exchanger or ip address"),
        NotAccept,
    ),
    (
        Some(F::Qmail),
        AnyPhrase(&[
            "bad interpreter: no such file or directory",
            "system error",
            "unable to",
        ]),
        SystemError,
    ),
    (
        Some(F::Qmail),
        Phrase("requested action not taken: mailbox unavailable (not enough free space)"),
        SystemFull,
    ),
    (
        Some(F::Qmail),
        Phrase("no mailbox here by that name"),
        UserUnknown,
    ),
    (
        Some(F::Qmail),
        Phrase("the message exeeded the maximum size the user accepts"),
        ExceedLimit,
    ),
    (
        Some(F::Qmail),
        Phrase("mailaddress is administrativ*disabled"),
        Suspend,
    ),
    (
        Some(F::Qmail),
        AnyPhrase(&[
            "automatic homedir creator crashed",
            "illegal value in ldap attribute",
            "ldap attribute is not given but mandatory",
            "timeout while performing search on ldap server",
            "too many results returned but needs to be unique",
            "permanent error while executing qmail-forward",
            "temporary error in automatic homedir creation",
            "temporary error while executing qmail-forward",
            "temporary failure in ldap lookup",
            "unable to contact ldap server",
            "unable to login into ldap server, bad credentials",
        ]),
        SystemError,
    ),
    (
        Some(F::Qmail),
        Phrase("this message has been in the queue too long."),
        Expired,
    ),
    // Courier (module.esmtp/esmtpclient.c).
    (Some(F::Courier), Phrase("no such domain."), HostUnknown),
    (
        Some(F::Courier),
        Phrase("this domain's dns violates rfc 1035."),
        SystemError,
    ),
    (Some(F::Courier), Phrase("dns lookup failed."), NetworkError),
    // DragonFly Mail Agent (dma.c, net.c).
    (
        Some(F::DragonFly),
        Phrase("could not deliver for the last "),
        Expired,
    ),
    (
        Some(F::DragonFly),
        Phrase("dns lookup failure: host "),
        HostUnknown,
    ),
    // Gmail's SMTP client states, unless the remote server's own code says more.
    (
        Some(F::Gmail),
        All(&[Phrase("(state 8)"), Not(&PreciseStatus)]),
        SystemError,
    ),
    (
        Some(F::Gmail),
        All(&[Phrase("(state 12)"), Not(&PreciseStatus)]),
        NoRelaying,
    ),
    (
        Some(F::Gmail),
        All(&[Phrase("(state 13)"), Not(&PreciseStatus)]),
        Blocked,
    ),
    (
        Some(F::Gmail),
        All(&[Phrase("(state 14)"), Not(&PreciseStatus)]),
        UserUnknown,
    ),
    (
        Some(F::Gmail),
        All(&[
            AnyPhrase(&["(state 15)", "(state 17)", "(state 18)"]),
            Not(&PreciseStatus),
        ]),
        Filtered,
    ),
    (
        Some(F::Gmail),
        All(&[
            AnyPhrase(&[
                "dns error: could not contact dns servers",
                "delivery to the following recipient has been delayed",
                "the recipient server did not accept our requests to connect",
            ]),
            Not(&PreciseStatus),
        ]),
        Expired,
    ),
    (
        Some(F::Gmail),
        All(&[
            AnyPhrase(&[
                "dns error: domain name not found",
                "dns error: dns server returned answer with no data",
            ]),
            Not(&PreciseStatus),
        ]),
        HostUnknown,
    ),
    // Google Workspace's own notices.
    (
        Some(F::GSuite),
        Phrase(
            "because the address couldn't be found. check for typos or unnecessary spaces and try again.",
        ),
        UserUnknown,
    ),
    (Some(F::GSuite), Phrase("null mx"), NotAccept),
    (
        Some(F::GSuite),
        AnyPhrase(&[" had no relevant answers.", " responded with code nxdomain"]),
        NetworkError,
    ),
    // Google Groups refuses posts by non-members in the poster's language, always with
    // the same four reasons listed: a refusal of the sender by the list's rules.
    (Some(F::GoogleGroups), Phrase(""), Rejected),
    // Aol.
    (
        Some(F::Aol),
        Phrase("host or domain name not found"),
        HostUnknown,
    ),
    (
        Some(F::Aol),
        Phrase("type=mx: malformed or unexpected name server reply"),
        NotAccept,
    ),
    // Facebook's response codes (postmaster.facebook.com/response_codes).
    (
        Some(F::Facebook),
        AnyPhrase(&["rcp-p1", "int-p1", "int-p3", "int-p4"]),
        UserUnknown,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["rcp-p2", "rcp-p3"]),
        Filtered,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["msg-p1", "int-p2"]),
        MesgTooBig,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["msg-p2", "msg-p3", "pol-p6", "pol-p7"]),
        ContentError,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["pol-p1", "pol-p2", "pol-p5"]),
        SecurityError,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["pol-p3", "pol-p4", "pol-t1", "pol-t2", "pol-t3"]),
        NotAccept,
    ),
    (
        Some(F::Facebook),
        AnyPhrase(&["dns-p1", "dns-p2", "dns-t1", "dns-p3", "dns-t2"]),
        Rejected,
    ),
    (Some(F::Facebook), Phrase("con-t1"), SystemError),
    (Some(F::Facebook), Phrase("con-t3"), TooManyConn),
    (Some(F::Facebook), Phrase("rcp-t4"), Suspend),
    (Some(F::Facebook), Phrase("int-t"), SystemError),
    // MessageLabs (Symantec.cloud).
    (
        Some(F::MessageLabs),
        Phrase("please turn on smtp authentication in your mail client"),
        SecurityError,
    ),
    (
        Some(F::MessageLabs),
        AnyPhrase(&["542 ", " rejected", "no such user"]),
        UserUnknown,
    ),
    // Microsoft Exchange 2003's MSEXCH codes and 2007's NDR subjects name the failure.
    (None, Phrase("(000c05a6)"), UserUnknown),
    (
        None,
        AnyPhrase(&["(000b099c)", "(000b09aa)", "(000b09b6)"]),
        OnHold,
    ),
    (None, AnyPhrase(&["(00010256)", "(000d06b5)"]), SystemError),
    (None, Phrase("(00120270)"), NetworkError),
    (None, AnyPhrase(&["(00050311)", "(000502cc)"]), ContentError),
    (None, Phrase("(000b0981)"), SecurityError),
    (None, Phrase("(000c0595)"), Filtered),
    (None, Phrase("smtpsend.dns.nonexistentdomain"), HostUnknown),
    (None, Phrase("smtpsend.dns.mxloopback"), NetworkError),
    (None, Phrase("resolver.adr.badprimary"), SystemError),
    (None, Phrase("resolver.adr.recipnotfound"), UserUnknown),
    (None, Phrase("resolver.adr.exrecipnotfound"), UserUnknown),
    (None, Phrase("resolver.adr.reciplimit"), TooManyConn),
    (None, Phrase("resolver.adr.invalidinsmtp"), SystemError),
    (None, Phrase("resolver.adr.ambiguous"), SystemError),
    (None, Phrase("resolver.rst.authrequired"), SecurityError),
    (None, Phrase("resolver.rst.notauthorized"), Rejected),
    (None, Phrase("resolver.rst.recipsizelimit"), MesgTooBig),
    (None, Phrase("queue.expired"), Expired),
    // Office 365's enhanced status codes
    // (learn.microsoft.com: "Email non-delivery reports in Exchange Online").
    (Some(F::Office365), StatusIs("4.4.7"), Expired),
    (Some(F::Office365), StatusIs("4.4.312"), NetworkError),
    (Some(F::Office365), StatusIs("4.4.316"), Expired),
    (Some(F::Office365), StatusIs("4.7.26"), AuthFailure),
    (Some(F::Office365), StatusIn("4.7.", 500, 699), Blocked),
    (Some(F::Office365), StatusIn("4.7.", 850, 899), Blocked),
    (Some(F::Office365), StatusIs("5.0.350"), ContentError),
    (Some(F::Office365), StatusIs("5.1.10"), UserUnknown),
    (Some(F::Office365), StatusIs("5.4.1"), NoRelaying),
    (Some(F::Office365), StatusIs("5.4.6"), NetworkError),
    (Some(F::Office365), StatusIs("5.4.312"), NetworkError),
    (Some(F::Office365), StatusIs("5.4.316"), Expired),
    (Some(F::Office365), StatusIs("5.6.11"), ContentError),
    (Some(F::Office365), StatusIs("5.7.1"), Rejected),
    (Some(F::Office365), StatusIn("5.7.", 12, 13), Rejected),
    (Some(F::Office365), StatusIs("5.7.124"), Rejected),
    (Some(F::Office365), StatusIn("5.7.", 133, 136), Rejected),
    (Some(F::Office365), StatusIs("5.7.23"), Blocked),
    (Some(F::Office365), StatusIs("5.7.25"), NetworkError),
    (Some(F::Office365), StatusIn("5.7.", 501, 503), SpamDetected),
    (Some(F::Office365), StatusIn("5.7.", 504, 505), Filtered),
    (Some(F::Office365), StatusIn("5.7.", 506, 507), Blocked),
    (Some(F::Office365), StatusIs("5.7.508"), TooManyConn),
    (Some(F::Office365), StatusIs("5.7.509"), AuthFailure),
    (Some(F::Office365), StatusIs("5.7.510"), NotAccept),
    (Some(F::Office365), StatusIs("5.7.511"), Rejected),
    (Some(F::Office365), StatusIs("5.7.512"), PolicyViolation),
    (Some(F::Office365), StatusIs("5.7.57"), SecurityError),
    (Some(F::Office365), StatusIn("5.7.", 606, 649), Blocked),
    (Some(F::Office365), StatusIn("5.7.", 700, 749), TooManyConn),
    // Outlook.com.
    (
        Some(F::Outlook),
        Phrase(
            "the mail could not be delivered to the recipient because the domain is not reachable",
        ),
        HostUnknown,
    ),
    (
        Some(F::Outlook),
        Phrase("requested action not taken: mailbox unavailable"),
        UserUnknown,
    ),
    // Ipswitch IMail Server.
    (Some(F::IMailServer), Phrase("unknown host"), HostUnknown),
    (
        Some(F::IMailServer),
        AnyPhrase(&["unknown user", "invalid final delivery userid"]),
        UserUnknown,
    ),
    (
        Some(F::IMailServer),
        Phrase("user mailbox exceeds allowed size"),
        MailboxFull,
    ),
    (
        Some(F::IMailServer),
        Phrase("requested action not taken: virus detected"),
        VirusDetected,
    ),
    (Some(F::IMailServer), Phrase("undeliverable to"), Undefined),
    (Some(F::IMailServer), Phrase("delivery failed "), Expired),
    // Lotus Notes and IBM Domino.
    (
        Some(F::Notes),
        AnyPhrase(&[
            "user not listed in public name & address book",
            "ディレクトリのリストにありません",
        ]),
        UserUnknown,
    ),
    (
        Some(F::Notes),
        Phrase("message has exceeded maximum hop count"),
        NetworkError,
    ),
    (
        Some(F::Domino),
        AnyPhrase(&[
            "not listed in domino directory",
            "not listed in public name & address book",
            "domino ディレクトリには見つかりません",
        ]),
        UserUnknown,
    ),
    (
        Some(F::Domino),
        Phrase("cannot route mail to user"),
        Filtered,
    ),
    (
        Some(F::Domino),
        Phrase("several matches found in domino directory"),
        SystemError,
    ),
    // Amazon SES, sending and receiving.
    (Some(F::AmazonSes), Phrase("delivery expired"), Expired),
    (
        Some(F::ReceivingSes),
        Phrase("mailbox does not exist"),
        Filtered,
    ),
    (
        Some(F::ReceivingSes),
        Phrase("message too large"),
        MesgTooBig,
    ),
    (Some(F::ReceivingSes), Phrase("mailbox full"), MailboxFull),
    (
        Some(F::ReceivingSes),
        Phrase("message content rejected"),
        ContentError,
    ),
    // GMX, Zoho.
    (
        Some(F::Gmx),
        Phrase("delivery retry timeout exceeded"),
        Expired,
    ),
    (Some(F::Zoho), Phrase("host not reachable"), Expired),
    // fml, the mailing list manager: its refusals of posts (the list refuses the sender),
    // loop alarms and security alerts, in the body or the Subject.
    (
        Some(F::Fml),
        AnyPhrase(&[
            " header may cause mail loop",
            "not member article from ",
            "reject mail from ",
            "reject spammers:",
            "you are not a member of this mailing list",
        ]),
        Rejected,
    ),
    (
        Some(F::Fml),
        AnyPhrase(&[
            " has detected a loop condition so that",
            "duplicated message-id",
            "loop back warning:",
        ]),
        SystemError,
    ),
    (Some(F::Fml), Phrase("security alert:"), SecurityError),
    (
        Some(F::Fml),
        AnyPhrase(&[
            " are not member",
            "reject mail ",
            "spam mail from a spammer is rejected",
        ]),
        Rejected,
    ),
    (
        Some(F::Fml),
        AnyPhrase(&[
            "fml system error message",
            "loop alert: ",
            "warning: unix from loop",
        ]),
        SystemError,
    ),
    (Some(F::Fml), Phrase("security alert"), SecurityError),
    // au by KDDI: its filter's refusals are marked in a header of their own.
    (Some(F::AuFiltered), Phrase(""), Filtered),
    (Some(F::Kddi), At(&[Command::RcptTo]), UserUnknown),
    (
        Some(F::Kddi),
        Phrase("as their mailbox is full"),
        MailboxFull,
    ),
    (
        Some(F::Kddi),
        Phrase("due to the following smtp relay error"),
        NoRelaying,
    ),
    (
        Some(F::Kddi),
        Phrase("as the remote domain doesnt exist"),
        HostUnknown,
    ),
    // 1&1, Verizon, BIGLOBE, McAfee Email Appliance.
    (
        Some(F::EinsUndEins),
        Phrase("mail size limit exceeded"),
        MesgTooBig,
    ),
    (
        Some(F::Verizon),
        AnyPhrase(&[
            "550 - requested action not taken: no such user here",
            "no valid recipients for this mm",
        ]),
        UserUnknown,
    ),
    (
        Some(F::Biglobe),
        Phrase("mail delivery failed... user unknown"),
        Filtered,
    ),
    (
        Some(F::Biglobe),
        Phrase("the number of messages in recipient's mailbox exceeded the local limit."),
        MailboxFull,
    ),
    (
        Some(F::McAfee),
        AnyPhrase(&[
            " user (*@*) unknown. ",
            "550 unknown user ",
            "550 <*@*>... user not exist",
            "no such user",
        ]),
        UserUnknown,
    ),
    // PowerMTA's bounce categories (X-PowerMTA-BounceCategory in its DSNs).
    (
        None,
        Phrase("x-powermta-bouncecategory: bad-domain"),
        HostUnknown,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: bad-mailbox"),
        UserUnknown,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: message-expired"),
        Expired,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: no-answer-from-host"),
        NetworkError,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: policy-related"),
        PolicyViolation,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: quota-issues"),
        MailboxFull,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: routing-errors"),
        SystemError,
    ),
    (
        None,
        Phrase("x-powermta-bouncecategory: spam-related"),
        SpamDetected,
    ),
    // au (KDDI) EZweb: a refusal at RCPT TO is a missing user; otherwise its own
    // sentences.
    (Some(F::EzWeb), At(&[Command::RcptTo]), UserUnknown),
    (
        Some(F::EzWeb),
        Phrase("the user(s) account is temporarily over quota"),
        MailboxFull,
    ),
    (
        Some(F::EzWeb),
        AnyPhrase(&[
            "the user(s) account is disabled.",
            "the user(s) account is temporarily limited.",
        ]),
        Suspend,
    ),
    (
        Some(F::EzWeb),
        Phrase("your message was not delivered within "),
        Expired,
    ),
    (
        Some(F::EzWeb),
        Phrase("each of the following recipients was rejected by a remote mail server"),
        OnHold,
    ),
];

/// Families whose notices print the failed address first and their verdict after it.
pub const ADDRESS_FIRST: &[Family] = &[F::Exim, F::EximVariant, F::Qmail];

const EXIM_HOSTUNKNOWN: Phrases = &[
    "all host address lookups failed permanently",
    "all relevant mx records point to non-existent hosts",
    "unrouteable address",
];
const EXIM_MAILBOXFULL: Phrases = &["mailbox is full", "error: quota exceed"];
const EXIM_NOTACCEPT: Phrases = &[
    "an mx or srv record indicated no smtp service",
    "no host found for existing smtp connection",
];
const EXIM_SYSTEMERROR: Phrases = &[
    "delivery to file forbidden",
    "delivery to pipe forbidden",
    "local delivery failed",
];
const EXIM_DELAYED: Phrases = &[
    "retry timeout exceeded",
    "no action is required on your part",
    "retry time not reached for any host after a long failure period",
    "all hosts have been failing for a long time and were last tried",
    "delay reason: ",
    "has been frozen",
    "was frozen on arrival by ",
];

/// Amazon SES's `bounceType`/`bounceSubType` where they name a reason
/// (docs.aws.amazon.com/ses/latest/dg/notification-contents.html); the other subtypes
/// leave it to the diagnostic.
pub const SES_BOUNCE_TYPES: &[(&str, &str, Reason)] = &[
    ("Transient", "MailboxFull", MailboxFull),
    ("Transient", "MessageTooLarge", MesgTooBig),
];

/// Local delivery programs and what their failures mean (`Sisimai::LDA`, from each
/// program's source). A program named without one of its known failures is `mailererror`.
pub const LOCAL_AGENTS: &[(Phrases, &[(Reason, Phrases)])] = &[
    (
        // Dovecot's LDA rejection template (deliver.c).
        &["your message to <*> was automatically rejected:"],
        &[
            (MailboxFull, &["not enough disk space", "quota exceeded"]),
            (UserUnknown, &["mailbox doesn't exist: "]),
        ],
    ),
    (
        &["mail.local: "],
        &[
            (
                MailboxFull,
                &["disc quota exceeded", "mailbox full or quota exceeded"],
            ),
            (SystemError, &["temporary file write error"]),
            (
                UserUnknown,
                &[
                    ": invalid mailbox path",
                    ": unknown user:",
                    ": user missing home directory",
                    ": user unknown",
                ],
            ),
        ],
    ),
    (
        &["procmail: ", "/procmail "],
        &[
            (
                MailboxFull,
                &["quota exceeded while writing", "user over quota"],
            ),
            (SystemError, &["service unavailable"]),
            (SystemFull, &["no space left to finish writing"]),
        ],
    ),
    (
        &["maildrop: "],
        &[
            (MailboxFull, &["maildir over quota."]),
            (
                UserUnknown,
                &["cannot find system user", "invalid user specified."],
            ),
        ],
    ),
    (
        &["vdelivermail: "],
        &[
            (Filtered, &["user does not exist, but will deliver to "]),
            (MailboxFull, &["domain is over quota", "user is over quota"]),
            (Suspend, &["account is locked email bounced"]),
            (UserUnknown, &["sorry, no mailbox here by that name."]),
        ],
    ),
    (
        &["vdeliver: "],
        &[
            (
                MailboxFull,
                &["delivery failed due to system quota violation"],
            ),
            (
                UserUnknown,
                &[
                    "invalid or unknown base user or domain",
                    "invalid or unknown virtual user",
                    "user name does not refer to a virtual user",
                ],
            ),
        ],
    ),
];

/// A receiving provider: the host names that identify it (a suffix of the remote host,
/// or a recipient domain that the suffix ends with) and its documented replies, first
/// match wins.
pub struct Provider {
    pub hosts: &'static [&'static str],
    pub rows: &'static [(Test, Reason)],
}

/// Receiving providers' published error codes and replies (`Sisimai::Rhost::*`; each
/// provider's postmaster pages, cited per provider).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        // Cox: https://www.cox.com/residential/support/cox-postmaster-email-administration.html
        hosts: &["cox.net"],
        rows: &[
            (Phrase("aup#cxbl"), Blocked),
            (Phrase("aup#cdrbl"), Blocked),
            (Phrase("aup#ipbl"), Blocked),
            (Phrase("aup#cxdns"), RequirePtr),
            (Phrase("aup#cxsndr"), AuthFailure),
            (Phrase("aup#cxsmtp"), Rejected),
            (Phrase("aup#cxcnct"), TooManyConn),
            (Phrase("aup#cxmxrt"), TooManyConn),
            (Phrase("aup#cxthrt"), SecurityError),
            (Phrase("aup#cxmj"), SecurityError),
            (Phrase("aup#urlbl"), SpamDetected),
            (Phrase("cox too many bad commands from"), Blocked),
            (Phrase("too many invalid recipients"), Blocked),
            (Phrase("dns check failure - try again later"), RequirePtr),
            (Phrase("rejected - no rdns"), RequirePtr),
            (Phrase("esmtp no data before greeting"), PolicyViolation),
            (Phrase("attachment extension is forbidden"), PolicyViolation),
            (Phrase("sender rejected"), Rejected),
            (
                Phrase("esmtp server temporarily not available"),
                SystemError,
            ),
            (Phrase("too many sessions from"), TooManyConn),
            (
                Phrase("requested action aborted: try again later"),
                TooManyConn,
            ),
            (Phrase("message threshold exceeded"), TooManyConn),
            (Phrase("recipient rejected"), UserUnknown),
        ],
    },
    Provider {
        // Spectrum (Charter): https://www.spectrumbusiness.net/support/internet/understanding-email-error-codes
        hosts: &["charter.net"],
        rows: &[
            (LabelCode(&["aup#"], 1000, 1000), Blocked),
            (LabelCode(&["aup#"], 1010, 1010), Rejected),
            (LabelCode(&["aup#"], 1020, 1080), Rejected),
            (LabelCode(&["aup#"], 1090, 1090), SystemError),
            (LabelCode(&["aup#"], 1100, 1150), RequirePtr),
            (LabelCode(&["aup#"], 1160, 1190), PolicyViolation),
            (LabelCode(&["aup#"], 1200, 1250), Blocked),
            (LabelCode(&["aup#"], 1260, 1260), NetworkError),
            (LabelCode(&["aup#"], 1300, 1340), TooManyConn),
            (LabelCode(&["aup#"], 1350, 1490), Speeding),
            (LabelCode(&["aup#"], 1500, 1520), Rejected),
            (LabelCode(&["aup#"], 1530, 1530), MesgTooBig),
            (LabelCode(&["aup#"], 1540, 1550), Speeding),
            (LabelCode(&["aup#"], 1560, 1560), PolicyViolation),
            (LabelCode(&["aup#"], 1580, 1580), Speeding),
        ],
    },
    Provider {
        // Orange and La Poste (FrancePTT): https://www.postmastery.com/orange-postmaster-smtp-error-codes-ofr/
        hosts: &[".laposte.net", ".orange.fr", ".wanadoo.fr"],
        rows: &[
            (LabelCode(FRANCE_PTT, 101, 103), Blocked),
            (LabelCode(FRANCE_PTT, 104, 104), TooManyConn),
            (LabelCode(FRANCE_PTT, 305, 305), SecurityError),
            (LabelCode(FRANCE_PTT, 401, 401), AuthFailure),
            (LabelCode(FRANCE_PTT, 402, 402), SecurityError),
            (LabelCode(FRANCE_PTT, 403, 405), Rejected),
            (LabelCode(FRANCE_PTT, 415, 415), Rejected),
            (LabelCode(FRANCE_PTT, 416, 416), UserUnknown),
            (LabelCode(FRANCE_PTT, 417, 417), MailboxFull),
            (LabelCode(FRANCE_PTT, 420, 420), Suspend),
            (LabelCode(FRANCE_PTT, 421, 421), Rejected),
            (LabelCode(FRANCE_PTT, 426, 426), Suspend),
            (LabelCode(FRANCE_PTT, 505, 505), SystemError),
            (LabelCode(FRANCE_PTT, 506, 506), SpamDetected),
            (LabelCode(FRANCE_PTT, 510, 510), Blocked),
            (LabelCode(FRANCE_PTT, 514, 514), MesgTooBig),
            (LabelCode(FRANCE_PTT, 517, 517), AuthFailure),
            (LabelCode(FRANCE_PTT, 630, 630), PolicyViolation),
            (LabelCode(FRANCE_PTT, 999, 999), Blocked),
            (Phrase("spf/dns de votre nom de domaine"), AuthFailure),
        ],
    },
    Provider {
        // GoDaddy: https://ca.godaddy.com/help/fix-rejected-email-with-a-bounce-error-40685
        hosts: &["smtp.secureserver.net", "mailstore1.secureserver.net"],
        rows: &[
            (LabelCode(&["ib"], 401, 401), SecurityError),
            (LabelCode(&["ib"], 501, 502), NotCompliantRfc),
            (LabelCode(&["ib"], 506, 506), Rejected),
            (LabelCode(&["ib"], 508, 508), AuthFailure),
            (LabelCode(&["ib"], 108, 108), RequirePtr),
            (LabelCode(&["ib"], 212, 212), SpamDetected),
            (LabelCode(&["ib"], 705, 705), VirusDetected),
            (LabelCode(&["ib"], 605, 605), TooManyConn),
            (LabelCode(&["ib"], 7, 7), TooManyConn),
            (LabelCode(&["ib"], 101, 101), Speeding),
            (LabelCode(&["ib"], 110, 113), Blocked),
            (LabelCode(&["ib"], 504, 504), Speeding),
            (LabelCode(&["ib"], 510, 510), Speeding),
            (LabelCode(&["ib"], 607, 607), Speeding),
            (LabelCode(&["ib"], 103, 103), BadReputation),
            (LabelCode(&["ib"], 104, 106), Blocked),
            (Phrase("rbl reject"), Blocked),
            (Phrase("www.spamhaus.org/query/bl?ip="), Blocked),
            (Phrase("has been in the queue too long"), Expired),
            (Phrase("delivery timeout"), Expired),
            (Phrase("account storage limit"), MailboxFull),
            (
                Phrase("message rejected for spam or virus content"),
                SpamDetected,
            ),
            (Phrase("account disabled"), Suspend),
            (Phrase("message is looping"), SystemError),
            (Phrase("recipient not found"), UserUnknown),
            (Phrase("account does not exist"), UserUnknown),
        ],
    },
    Provider {
        // Apple iCloud: https://support.apple.com/en-us/102322
        hosts: &[".mail.icloud.com", ".apple.com", ".me.com"],
        rows: &[
            (Phrase("s dmarc policy"), AuthFailure),
            (
                Phrase("blocked for failing both spf and dkim autentication checks"),
                AuthFailure,
            ),
            (
                Phrase("rejected due to having a domain present in the spamhaus"),
                Blocked,
            ),
            (Phrase("rejected due to listing in spamhaus"), Blocked),
            (
                Phrase("blocked - see https://support.proofpoint.com/dnsbl-lookup"),
                Blocked,
            ),
            (Phrase("not accepting connections"), Blocked),
            (Phrase("recipient no longer on server"), HasMoved),
            (Phrase("user is over quota"), MailboxFull),
            (Phrase("relay access denied"), NoRelaying),
            (Phrase("host/domain does not accept mail"), NotAccept),
            (Phrase("due to local policy"), PolicyViolation),
            (Phrase("sender address rejected"), Rejected),
            (Phrase("due to excessive volume"), Speeding),
            (Phrase("inactive email address"), UserUnknown),
            (Phrase("user does not exist"), UserUnknown),
            (Phrase("unknown or illegal alias"), UserUnknown),
        ],
    },
    Provider {
        // Yahoo Inc.: https://senders.yahooinc.com/smtp-error-codes
        hosts: &[".yahoodns.net"],
        rows: &[
            (
                Phrase("yahoo requires all senders to authenticate with either spf or dkim"),
                AuthFailure,
            ),
            (Phrase(" because the ip is in spamhaus's list;"), Blocked),
            (
                Phrase("not accepted from ip addresses on spamhaus xbl"),
                Blocked,
            ),
            (Phrase("relaying denied for "), NoRelaying),
            (Phrase("headers are not rfc compliant"), NotCompliantRfc),
            (Phrase("not accepted for policy reasons"), PolicyViolation),
            (
                Phrase("temporarily deferred due to unexpected volume or user complaints"),
                Rejected,
            ),
            (Phrase("due to unresolvable rfc.5321 domain"), Rejected),
            (Phrase(" will be permanently deferred"), Rejected),
            (Phrase("user is receiving mail too quickly"), Speeding),
            (Phrase(" is no longer valid."), Suspend),
            (Phrase("this mailbox is disabled"), Suspend),
            (
                Phrase("syntax error in parameters or arguments"),
                SyntaxError,
            ),
            (Phrase("max message per connection reached"), TooManyConn),
            (Phrase("dd this user doesn't have a "), UserUnknown),
            (Phrase("mailbox not found"), UserUnknown),
        ],
    },
    Provider {
        // Tencent QQ: https://service.mail.qq.com/detail/122
        hosts: &[".qq.com"],
        rows: &[
            (Phrase("spf check failed"), AuthFailure),
            (Phrase("dmarc check failed"), AuthFailure),
            (Phrase("suspected bounce attacks"), Blocked),
            (Phrase("suspected spam ip"), Blocked),
            (Phrase("connection denied"), Blocked),
            (Phrase("message too large"), MesgTooBig),
            (Phrase("spam is embedded in the email"), SpamDetected),
            (Phrase("mail content denied"), SpamDetected),
            (Phrase("suspected spam"), Rejected),
            (Phrase("mail is rejected by recipients"), Rejected),
            (Phrase("mailbox unavailable or access denined"), Speeding),
            (
                Phrase("frequency of receiving messages is limited"),
                Speeding,
            ),
            (Phrase("is a deactivated mailbox"), Suspend),
            (Phrase("bad address syntax"), SyntaxError),
            (Phrase("ip frequency limited"), TooManyConn),
            (Phrase("domain frequency limited"), TooManyConn),
            (Phrase("sender frequency limited"), TooManyConn),
            (Phrase("connection frequency limited"), TooManyConn),
            (Phrase("mailbox not found"), UserUnknown),
        ],
    },
    Provider {
        // NTT DOCOMO refuses with "550 Unknown user" both for a missing mailbox (at RCPT
        // TO) and for the recipient's domain filter (after DATA).
        hosts: &["mfsmax.docomo.ne.jp"],
        rows: &[
            (StatusIs("5.1.1"), UserUnknown),
            (StatusIs("5.2.0"), Filtered),
            (
                All(&[StatusIs("5.0.0"), At(&[Command::RcptTo])]),
                UserUnknown,
            ),
            (All(&[StatusIs("5.0.0"), At(&[Command::Data])]), Rejected),
            (Phrase("552 too much mail data"), MailboxFull),
            (Phrase("503 bad sequence of commands"), SyntaxError),
            (Phrase("504 command parameter not implemented"), SyntaxError),
            (Phrase("552 too many recipients"), TooManyConn),
            (Phrase("550 unknown user"), UserUnknown),
        ],
    },
    Provider {
        // KDDI au: https://www.au.com/support/service/internet/trouble/mail/01/ — "550 : User
        // unknown" with no address is the recipient's domain filter.
        hosts: &[".ezweb.ne.jp", "msmx.au.com"],
        rows: &[
            (Phrase("550 : user unknown"), Filtered),
            (Phrase(">: user unknown"), UserUnknown),
        ],
    },
    Provider {
        // i.ua: https://mail.i.ua/err/$(CODE)/
        hosts: &[".email.ua"],
        rows: &[
            (Phrase(".i.ua/err/1/"), NoRelaying),
            (Phrase(".i.ua/err/2/"), UserUnknown),
            (Phrase(".i.ua/err/3/"), Suspend),
            (Phrase(".i.ua/err/4/"), MailboxFull),
            (Phrase(".i.ua/err/5/"), TooManyConn),
            (Phrase(".i.ua/err/6/"), NoRelaying),
            (Phrase(".i.ua/err/7/"), Blocked),
            (Phrase(".i.ua/err/8/"), Rejected),
            (Phrase(".i.ua/err/9/"), Blocked),
            (Phrase(".i.ua/err/10/"), Filtered),
        ],
    },
    Provider {
        // Mimecast: https://community.mimecast.com/s/article/Mimecast-SMTP-Error-Codes-842605754
        hosts: &[".mimecast.com"],
        rows: &[
            (
                Phrase("spf sender invalid - envelope rejected"),
                AuthFailure,
            ),
            (
                Phrase("dkim sender invalid - envelope rejected"),
                AuthFailure,
            ),
            (
                Phrase("dmarc sender invalid - envelope rejected"),
                AuthFailure,
            ),
            (
                Phrase("internal resources are temporarily unavailable"),
                BadReputation,
            ),
            (Phrase("local ct ip reputation - (reject)"), BadReputation),
            (Phrase("sender address blocked"), Blocked),
            (Phrase("recipient temporarily unavailable"), Blocked),
            (Phrase("ip temporarily blacklisted"), Blocked),
            (Phrase("journal messages past the expiration"), Expired),
            (Phrase("maximum email size exceeded"), MesgTooBig),
            (
                Phrase("the incorrect hostname used for inbounds"),
                NetworkError,
            ),
            (Phrase("mail loop detected"), NetworkError),
            (Phrase("open relay not allowed"), NoRelaying),
            (Phrase("open relay is not allowed"), NoRelaying),
            (Phrase("account inbounds disabled"), NotAccept),
            (
                Phrase("anti-spoofing policy - inbound not allowed"),
                PolicyViolation,
            ),
            (
                Phrase("rejected by header-based anti-spoofing policy"),
                PolicyViolation,
            ),
            (
                Phrase("message bounced due to content examination policy"),
                PolicyViolation,
            ),
            (Phrase("host network not allowed"), PolicyViolation),
            (Phrase("host network, not allowed"), PolicyViolation),
            (
                Phrase("administrative prohibition envelope blocked"),
                Rejected,
            ),
            (Phrase("envelope blocked - user entry"), Rejected),
            (Phrase("envelope blocked - user domain entry"), Rejected),
            (
                Phrase("rejected by header-based manually blocked senders"),
                Rejected,
            ),
            (Phrase("rejected by header-based blocked senders"), Rejected),
            (
                Phrase("envelope rejected - block policy for envelope from address"),
                Rejected,
            ),
            (Phrase("incorrect authentication data"), SecurityError),
            (Phrase("submitter failed to authenticate"), SecurityError),
            (
                Phrase("unable to process connection at this time"),
                SystemError,
            ),
            (Phrase("message ended early"), SystemError),
            (Phrase("unable to process command"), SystemError),
            (
                Phrase("unable to process an email at this time"),
                SystemError,
            ),
            (
                Phrase("account service is temporarily unavailable"),
                TooManyConn,
            ),
            (Phrase("too many recipients"), TooManyConn),
            (Phrase("exceeding outbound thread limit"), TooManyConn),
            (
                All(&[Reply(501, 501), Phrase("invalid address")]),
                UserUnknown,
            ),
            (All(&[Reply(503, 503), Phrase("user unknown")]), UserUnknown),
            (
                All(&[Reply(550, 550), Phrase("invalid recipient")]),
                UserUnknown,
            ),
            (Phrase("virus detected"), VirusDetected),
        ],
    },
    Provider {
        // Aol.
        hosts: &[".mail.aol.com", ".mx.aol.com"],
        rows: &[
            (Phrase("host or domain name not found"), HostUnknown),
            (
                Phrase("type=mx: malformed or unexpected name server reply"),
                NotAccept,
            ),
        ],
    },
    Provider {
        // Symantec Email Security.cloud (MessageLabs):
        // https://knowledge.broadcom.com/external/article/169652
        hosts: &[".messagelabs.com"],
        rows: &[
            (Phrase("domain authentication fail"), AuthFailure),
            (Phrase("connection rejected by policy"), BadReputation),
            (
                AnyPhrase(&[
                    "mail rejected because your ip is in the pbl",
                    "your ip address has been ",
                    "your ip address (ip-addr) has been blocked",
                    "your email address (addr) has been blocked",
                ]),
                Blocked,
            ),
            (Phrase("stray linefeeds in message"), ContentError),
            (Phrase("tls/sslv3 connection required"), SecurityError),
            (Phrase(" as a relay, "), NoRelaying),
            (
                AnyPhrase(&[
                    "550 requested action aborted [4]",
                    "has detected that this message is not rfc 5322",
                ]),
                NotCompliantRfc,
            ),
            (
                AnyPhrase(&[
                    "sender envelope domain not allowed for sender ip address",
                    "your domain has been blocked",
                    "your email address has been blocked",
                    "your envelope sender is in my badmailfrom list",
                    "your email address has been blacklisted",
                    "your domain has been blacklisted",
                ]),
                Rejected,
            ),
            (
                Phrase("please turn on smtp authentication in your mail client"),
                SecurityError,
            ),
            (
                AnyPhrase(&["message filtered", "filtered by outbound scanning"]),
                SpamDetected,
            ),
            (
                AnyPhrase(&[
                    "too many recipients received this hour",
                    "too many messages",
                ]),
                TooManyConn,
            ),
            (
                AnyPhrase(&[
                    "no such user",
                    "invalid recipient",
                    "mailbox is not allowed",
                ]),
                UserUnknown,
            ),
        ],
    },
    Provider {
        // Outlook.com (Hotmail).
        hosts: &[".hotmail.com"],
        rows: &[
            (
                Phrase(
                    "the mail could not be delivered to the recipient because the domain is not reachable",
                ),
                HostUnknown,
            ),
            (
                Phrase("requested action not taken: mailbox unavailable"),
                UserUnknown,
            ),
        ],
    },
    Provider {
        // Cloudflare Email Routing: https://developers.cloudflare.com/email-routing/postmaster/
        hosts: &[".mx.cloudflare.net"],
        rows: &[
            (Phrase("found on one or more dnsbls"), Blocked),
            (Phrase("upstream error"), SystemError),
        ],
    },
    Provider {
        // Google (Gmail): https://support.google.com/a/answer/3726730 (SMTP error reference)
        hosts: &["aspmx.l.google.com", "gmail-smtp-in.l.google.com"],
        rows: GOOGLE,
    },
    Provider {
        // Google Workspace uses the same replies.
        hosts: &["googlemail.com"],
        rows: GOOGLE,
    },
    Provider {
        // Microsoft Exchange Online: https://learn.microsoft.com/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/
        hosts: &[
            ".prod.outlook.com",
            ".protection.outlook.com",
            ".onmicrosoft.com",
            ".exchangelabs.com",
        ],
        rows: MICROSOFT,
    },
];

/// The labels that start Orange's and La Poste's error codes (`LPN007_510`, `OFR_416`).
const FRANCE_PTT: &[&str] = &["lpnaaa", "lpn", "ofr", "ouk"];

const GOOGLE: &[(Test, Reason)] = &[
    (Phrase("the spf record of the sending domain"), AuthFailure),
    (
        Phrase("senders to authenticate with either spf or dkim"),
        AuthFailure,
    ),
    (
        Phrase("fails to pass spf checks for an spf record with a hard fail"),
        AuthFailure,
    ),
    (
        Phrase("has an spf record with a hard fail policy"),
        AuthFailure,
    ),
    (
        Phrase("is not accepted due to domain's dmarc policy"),
        AuthFailure,
    ),
    (Phrase("fails to pass authentication checks"), AuthFailure),
    (Phrase("senders to authenticate with spf"), AuthFailure),
    (
        Phrase("senders to authenticate their email with spf"),
        AuthFailure,
    ),
    (
        Phrase("senders to authenticate their email with dkim"),
        AuthFailure,
    ),
    (Phrase("senders to authenticate with dkim"), AuthFailure),
    (
        Phrase("aligned with either the authenticated spf or dkim"),
        AuthFailure,
    ),
    (Phrase("to add a dmarc record to "), AuthFailure),
    (Phrase("very low reputation of the sending"), BadReputation),
    (Phrase("ip not in whitelist for rcpt domain"), Blocked),
    (Phrase("try again later, closing connection."), Blocked),
    (Phrase("empty helo/ehlo argument not allowed"), Blocked),
    (Phrase("helo/ehlo argument is invalid"), Blocked),
    (Phrase("an unusual rate of unsolicited mail"), Blocked),
    (Phrase("an unusual rate of mail"), Blocked),
    (Phrase("exceeded google's message size limits"), MesgTooBig),
    (Phrase("exceeds google's message size limit of"), MesgTooBig),
    (
        Phrase("exceeds google's limit of limit attachments."),
        ExceedLimit,
    ),
    (Phrase("message header size limit"), ExceedLimit),
    (Phrase("bytes per individual header size"), ExceedLimit),
    (Phrase("exceeds google's header name limit of"), ExceedLimit),
    (Phrase("connection expired"), Expired),
    (Phrase("timeout - closing connection"), Expired),
    (Phrase("must issue a starttls command first"), SecurityError),
    (Phrase("tls required for rcpt domain"), SecurityError),
    (Phrase("inbox is out of storage space"), MailboxFull),
    (Phrase("is over quota"), MailboxFull),
    (Phrase("email quota exceeded"), MailboxFull),
    (Phrase("message exceeded 50 hops"), NetworkError),
    (Phrase("mail relay denied"), NoRelaying),
    (Phrase("invalid credentials for relay"), NoRelaying),
    (
        Phrase("is not authorized to send email directly to our servers"),
        NoRelaying,
    ),
    (
        Phrase("missing a valid address in the from: header"),
        NotCompliantRfc,
    ),
    (
        Phrase("multiple addresses in from: header are not accepted"),
        NotCompliantRfc,
    ),
    (Phrase("is not rfc 5322 compliant"), NotCompliantRfc),
    (
        Phrase("missing a valid message-id: header"),
        NotCompliantRfc,
    ),
    (
        Phrase("contains a unicode character in a disallowed header"),
        NotCompliantRfc,
    ),
    (
        Phrase("encoded-word syntax is not permitted"),
        NotCompliantRfc,
    ),
    (
        All(&[StatusIs("5.1.7"), Phrase("is not a valid rfc 5321 address")]),
        NotCompliantRfc,
    ),
    (Phrase("mail message is malformed"), NotCompliantRfc),
    (
        Phrase("illegal attachment on your message"),
        PolicyViolation,
    ),
    (
        Phrase("blocked because its content presents a potential security issue"),
        PolicyViolation,
    ),
    (
        Phrase("you are sending to (or from) has a policy that prohibited"),
        PolicyViolation,
    ),
    (
        Phrase("sending messages with the same message-id:"),
        PolicyViolation,
    ),
    (Phrase("mail sending denied"), Rejected),
    (Phrase("unauthenticated email is not accepted"), Rejected),
    (Phrase("does not have a ptr record"), RequirePtr),
    (Phrase(" have a ptr record, or the ptr record"), RequirePtr),
    (
        Phrase("does not meet ipv6 sending guidelines regarding ptr records"),
        RequirePtr,
    ),
    (
        Phrase("does not match the ip address of the hostname"),
        RequirePtr,
    ),
    (Phrase("too many login attempts"), SecurityError),
    (Phrase("cannot decode response"), SecurityError),
    (Phrase("no identity changes permitted"), SecurityError),
    (Phrase("authentication required."), SecurityError),
    (
        Phrase("application-specific password required"),
        SecurityError,
    ),
    (Phrase("please log in with your web browser"), SecurityError),
    (
        Phrase("please log in through your web browser"),
        SecurityError,
    ),
    (Phrase("username and password not accepted"), SecurityError),
    (
        Phrase("due to the nature of the content or the links within"),
        SpamDetected,
    ),
    (Phrase("likely unsolicited mail"), SpamDetected),
    (Phrase("is receiving mail too quickly"), Speeding),
    (
        Phrase("peak smtp relay limit exceeded for customer"),
        Speeding,
    ),
    (
        Phrase("rate that prevents additional messages from being delivered"),
        Speeding,
    ),
    (Phrase("daily sending quota exceeded"), Speeding),
    (Phrase("daily user sending limit exceeded"), Speeding),
    (Phrase("daily smtp relay limit exceeded for"), Speeding),
    (
        Phrase("daily smtp relay sending limit exceeded for"),
        Speeding,
    ),
    (Phrase("this mail has been rate limited"), Speeding),
    (
        Phrase("account that you tried to reach is disabled"),
        Suspend,
    ),
    (
        Phrase("account that you tried to reach is inactive"),
        Suspend,
    ),
    (Phrase("smtp protocol violation"), SyntaxError),
    (Phrase("optional argument not permitted"), SyntaxError),
    (Phrase("syntax error"), SyntaxError),
    (
        Phrase("too many unrecognized commands, goodbye"),
        SyntaxError,
    ),
    (Phrase("unimplemented command"), SyntaxError),
    (Phrase("unrecognized command"), SyntaxError),
    (Phrase("bad sequence of commands"), SyntaxError),
    (Phrase("ehlo/helo first"), SyntaxError),
    (Phrase("mail first"), SyntaxError),
    (Phrase("rcpt first"), SyntaxError),
    (Phrase("no data after bdat"), SyntaxError),
    (Phrase("unrecognized authentication type"), SyntaxError),
    (Phrase("xoauth is no longer supported"), SyntaxError),
    (Phrase("too many unauthenticated commands"), SyntaxError),
    (Phrase("temporary system problem"), SystemError),
    (Phrase("server busy"), SystemError),
    (
        Phrase("multiple destination domains per transaction is unsupported"),
        SystemError,
    ),
    (
        Phrase("mail server has temporarily rejected this message"),
        SystemError,
    ),
    (
        Phrase("mail server temporarily rejected message"),
        SystemError,
    ),
    (
        Phrase("domain policy size per transaction exceeded"),
        SystemError,
    ),
    (Phrase("your message has too many recipients"), TooManyConn),
    (Phrase("too many recipients for this sender"), TooManyConn),
    (
        Phrase("the email account that you tried to reach does not exist"),
        UserUnknown,
    ),
    (
        Phrase("we weren't able to find the recipient domain"),
        UserUnknown,
    ),
    (
        All(&[StatusIs("5.1.3"), Phrase("is not a valid rfc 5321 address")]),
        UserUnknown,
    ),
];

const MICROSOFT: &[(Test, Reason)] = &[
    (
        Phrase("must pass either spf or dkim validation, this message is not signed"),
        AuthFailure,
    ),
    (
        Phrase("the message was rejected because of sender policy framework violation"),
        AuthFailure,
    ),
    (Phrase("does not pass dmarc verification"), AuthFailure),
    (
        Phrase("doesn't meet the required authentication level"),
        AuthFailure,
    ),
    (
        Phrase("has been temporarily rate limited due to ip reputation"),
        BadReputation,
    ),
    (
        All(&[StatusIs("4.4.2"), Phrase("connection dropped")]),
        Blocked,
    ),
    (
        All(&[
            StatusIn("4.7.", 500, 899),
            Phrase("access denied, please try again later"),
        ]),
        Blocked,
    ),
    (Phrase("must have a reverse dns record"), Blocked),
    (Phrase("access denied, bad helo"), Blocked),
    (Phrase("access denied, rejected by recipient"), Blocked),
    (Phrase("does not accept email over ipv6"), Blocked),
    (Phrase("access denied, banned sender"), Blocked),
    (Phrase("using customer block list"), Blocked),
    (Phrase("access denied, banned sending ip "), Blocked),
    (
        All(&[StatusIs("5.5.4"), Phrase("invalid domain name")]),
        Blocked,
    ),
    (
        Phrase("part of their network is on our block list (s3150)"),
        Blocked,
    ),
    (
        All(&[StatusIs("5.3.0"), Phrase("too many related errors")]),
        ContentError,
    ),
    (
        All(&[StatusIs("5.6.11"), Phrase("invalid characters")]),
        ContentError,
    ),
    (
        Phrase("agent generated message depth exceeded"),
        ContentError,
    ),
    (
        All(&[StatusIs("5.5.6"), Phrase("invalid message content")]),
        ContentError,
    ),
    (Phrase("message too large for this recipient"), MesgTooBig),
    (
        All(&[
            StatusIs("5.3.4"),
            Phrase("message size exceeds fixed maximum message size"),
        ]),
        MesgTooBig,
    ),
    (Phrase("message too big for system"), MesgTooBig),
    (
        All(&[StatusIs("4.4.1"), Phrase("connection timed out")]),
        Expired,
    ),
    (
        All(&[StatusIs("4.4.7"), Phrase("message delayed")]),
        Expired,
    ),
    (
        All(&[StatusIs("4.4.7"), Phrase("message expired")]),
        Expired,
    ),
    (
        All(&[StatusIs("5.4.300"), Phrase("message expired")]),
        Expired,
    ),
    (
        All(&[StatusIs("5.4.316"), Phrase("message expired")]),
        Expired,
    ),
    (
        All(&[StatusIs("5.2.2"), Phrase("mailbox full")]),
        MailboxFull,
    ),
    (
        Phrase("smtpsend.dns.nonexistentdomain; nonexistent domain"),
        NetworkError,
    ),
    (
        Phrase("hop count exceeded - possible mail loop"),
        NetworkError,
    ),
    (Phrase("dns query failed"), NetworkError),
    (
        All(&[StatusIn("4.4.", 316, 316), Phrase("connection refused")]),
        NetworkError,
    ),
    (
        All(&[StatusIn("5.4.", 316, 316), Phrase("connection refused")]),
        NetworkError,
    ),
    (
        All(&[StatusIs("5.4.4"), Phrase("invalid arguments")]),
        NetworkError,
    ),
    (Phrase("routing loop detected"), NetworkError),
    (
        All(&[StatusIs("5.7.1"), Phrase("unable to relay")]),
        NoRelaying,
    ),
    (
        All(&[StatusIs("5.7.1"), Phrase("client was not authenticated")]),
        NoRelaying,
    ),
    (
        All(&[StatusIs("5.4.1"), Phrase("relay access denied")]),
        NoRelaying,
    ),
    (Phrase("tenantattribution; relay access denied"), NoRelaying),
    (
        All(&[StatusIs("5.4.310"), Phrase("does not exist")]),
        NoRelaying,
    ),
    (Phrase("system not accepting network messages"), NotAccept),
    (
        Phrase("hosted tenant which has no mail-enabled subscriptions"),
        NotAccept,
    ),
    (
        Phrase("missing or bad storedriver mdb properties"),
        NotAccept,
    ),
    (Phrase("x-dg-ref header is too long"), PolicyViolation),
    (
        Phrase("requested action not taken: policy violation detected (as345)"),
        PolicyViolation,
    ),
    (
        All(&[
            StatusIn("5.7.", 900, 999),
            Phrase("delivery not authorized, message refused"),
        ]),
        PolicyViolation,
    ),
    (
        All(&[StatusIs("5.1.7"), Phrase("invalid address")]),
        Rejected,
    ),
    (
        All(&[StatusIs("5.1.7"), Phrase("unknown sender address")]),
        Rejected,
    ),
    (All(&[StatusIs("5.1.0"), Phrase("sender denied")]), Rejected),
    (Phrase("access denied, bad outbound sender"), Rejected),
    (
        All(&[StatusIs("5.7.1"), Phrase("delivery not authorized")]),
        Rejected,
    ),
    (
        Phrase("sender was not authenticated by organization"),
        Rejected,
    ),
    (Phrase("sender not in allowed-senders list"), Rejected),
    (Phrase("sender not authenticated for group"), Rejected),
    (Phrase("sender was not authenticated for mailbox"), Rejected),
    (
        Phrase("sender was not authenticated for public folder"),
        Rejected,
    ),
    (
        All(&[StatusIs("5.7.136"), Phrase("sender was not authenticated")]),
        Rejected,
    ),
    (Phrase("access denied, spam abuse detected"), Rejected),
    (
        Phrase("message must be rfc 5322 section 3.6.2 compliant"),
        Rejected,
    ),
    (
        Phrase("client blocked from sending from unregistered domains"),
        Rejected,
    ),
    (
        Phrase("cannot achieve exchange server authentication"),
        SecurityError,
    ),
    (
        All(&[StatusIs("5.7.3"), Phrase("not authorized")]),
        SecurityError,
    ),
    (
        Phrase("client was not authenticated to send anonymous mail during mail from"),
        SecurityError,
    ),
    (
        Phrase("content filter agent quarantined this message"),
        SpamDetected,
    ),
    (
        All(&[StatusIs("5.5.3"), Phrase("too many recipients")]),
        Speeding,
    ),
    (Phrase("recipient thread limit exceeded"), Speeding),
    (
        All(&[StatusIs("4.5.3"), Phrase("too many recipients")]),
        Speeding,
    ),
    (
        Phrase("has exceeded the maximum number of connections"),
        Speeding,
    ),
    (
        Phrase("reached your daily limit for message recipients"),
        Speeding,
    ),
    (Phrase("submission quota exceeded"), Speeding),
    (
        Phrase("recipient's per hour message receive limit"),
        Speeding,
    ),
    (
        Phrase("the recipient has exceeded their limit for"),
        Speeding,
    ),
    (Phrase("has exceeded permitted limits within"), Speeding),
    (Phrase("tenant has exceeded threshold"), Speeding),
    (Phrase("traffic not accepted from this ip"), Speeding),
    (
        All(&[
            StatusIs("5.7.504"),
            Phrase("recipient address rejected: access denied"),
        ]),
        Suspend,
    ),
    (Phrase("access denied, banned recipient"), Suspend),
    (Phrase("mailbox cannot be accessed"), Suspend),
    (
        All(&[StatusIs("5.3.3"), Phrase("unrecognized command")]),
        SyntaxError,
    ),
    (Phrase("send hello first"), SyntaxError),
    (
        All(&[StatusIs("4.3.2"), Phrase("service not available")]),
        SystemError,
    ),
    (Phrase("service not active"), SystemError),
    (Phrase("system incorrectly configured"), SystemError),
    (Phrase("when journaling archive is disabled"), SystemError),
    (Phrase("helo / ehlo requires domain address"), SystemError),
    (Phrase("destination mailbox address ambiguous"), SystemError),
    (Phrase("mailing list expansion problem"), SystemError),
    (Phrase("misconfigured forwarding address"), SystemError),
    (Phrase("message failed to be replicated:"), SystemError),
    (
        Phrase("temporary server error. please try again later"),
        SystemError,
    ),
    (Phrase("(suspiciousremoteservererror)"), SystemError),
    (
        Phrase("server busy. please try again later from "),
        SystemError,
    ),
    (Phrase("pfa agent busy, please try again."), SystemError),
    (Phrase("insufficient system resources"), SystemFull),
    (
        Phrase("resolver.adr.exrecipnotfound; not found"),
        UserUnknown,
    ),
    (
        All(&[StatusIs("5.1.1"), Phrase("user unknown")]),
        UserUnknown,
    ),
    (
        Phrase("storedrv.submit; invalid recipient address"),
        UserUnknown,
    ),
    (
        Phrase("recipient address reserved by rfc 2606"),
        UserUnknown,
    ),
    (
        Phrase("recipient addresses in single label domains not accepted"),
        UserUnknown,
    ),
    (Phrase("resolver.adr.recipientnotfound"), UserUnknown),
    (Phrase("resolver.adr.recipnotfound"), UserUnknown),
];

/// Reasons that a temporary failure (a 4.x.x status or a 4xx reply) cannot establish,
/// and what the failure is taken for instead: a DNS lookup that failed for now does not
/// prove that the domain is gone (RFC 3463 §3.5: X.1.2 "is only useful for permanent
/// failures"), and a dead domain is suppressed at once.
pub const NOT_WHEN_TEMPORARY: &[(Reason, Reason)] = &[(HostUnknown, NetworkError)];

/// Reports that are no failure: a complaint (RFC 5965), an auto-reply (RFC 3834), a
/// delivery report (RFC 3464 `Action: delivered`).
pub const NOT_FAILURES: &[Reason] = &[Feedback, Vacation, Delivered];

/// Reasons that say the address itself is dead: no such mailbox (X.1.1), no such domain
/// (X.1.2), moved without forwarding (X.1.6) (Sisimai::SMTP::Failure `IsHardBounce`).
pub const HARD: &[Reason] = &[UserUnknown, HostUnknown, HasMoved];

/// Reasons that are hard only when the failure was permanent: a domain with a null MX
/// will never take mail (RFC 7505), a host refusing for now may.
pub const HARD_WHEN_PERMANENT: &[Reason] = &[NotAccept];

/// What a reason means for the address, given whether the failure was temporary: hard
/// (suppress at once), soft (anything else that failed) or none (not a failure).
pub fn class_of(reason: Reason, temporary: bool) -> super::Class {
    use super::Class;
    if NOT_FAILURES.contains(&reason) {
        Class::None
    } else if HARD.contains(&reason) || HARD_WHEN_PERMANENT.contains(&reason) && !temporary {
        Class::Hard
    } else {
        Class::Soft
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases_of(test: &Test, out: &mut Vec<&'static str>) {
        match *test {
            Phrase(p) => out.push(p),
            AnyPhrase(ps) => out.extend(ps.iter().copied()),
            Not(inner) => phrases_of(inner, out),
            All(tests) | Any(tests) => tests.iter().for_each(|t| phrases_of(t, out)),
            _ => {}
        }
    }

    /// Diagnostics are lower-cased before matching: a phrase with a capital letter would
    /// never match, silently.
    #[test]
    fn every_phrase_is_lower_case() {
        let mut all: Vec<&str> = Vec::new();
        for (_, phrases) in WORDING.iter().chain(NOT_WORDING) {
            all.extend(phrases.iter().copied());
        }
        for (_, test, _) in NOTICE_RULES {
            phrases_of(test, &mut all);
        }
        all.extend(NOTICE_STAGES.iter().map(|(_, p, _)| *p));
        for provider in PROVIDERS {
            for (test, _) in provider.rows {
                phrases_of(test, &mut all);
            }
        }
        for (names, failures) in LOCAL_AGENTS {
            all.extend(names.iter().copied());
            for (_, phrases) in *failures {
                all.extend(phrases.iter().copied());
            }
        }
        for phrase in all {
            assert_eq!(phrase, phrase.to_lowercase(), "{phrase:?}");
        }
    }

    #[test]
    fn the_tables_are_consistent() {
        for (i, (reason, _)) in PROBES.iter().enumerate() {
            assert!(
                !PROBES[i + 1..].iter().any(|(r, _)| r == reason),
                "{reason:?} has two probe rows"
            );
        }
        for (i, (code, _)) in STATUS.iter().enumerate() {
            assert!(
                !STATUS[i + 1..].iter().any(|(c, _)| c == code),
                "{code} twice"
            );
            assert_eq!(
                super::super::codes::find_status(code).as_deref(),
                Some(*code),
                "{code} is no RFC 3463 code"
            );
        }
        for reason in TENTATIVE {
            assert!(!NOT_FAILURES.contains(reason));
        }
        assert!(matches("mailbox*full", "the mailbox is full"));
        assert!(!matches("mailbox*full", "full mailbox"));
    }
}
