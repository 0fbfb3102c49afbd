//! Which mail server family wrote a notice, from the headers and fixed wording its
//! software produces (the detection rules of Sisimai's `Lhost::*` modules, which quote the
//! MTAs' sources). Only families whose own sentences carry a verdict are told apart:
//! [`super::rules::NOTICE_RULES`] reads them.

use super::mime::Mail;
use super::rules::Family;

/// The first family whose signs the message shows.
pub fn of(mail: &Mail) -> Option<Family> {
    let m = Signs::new(mail);
    DETECTORS
        .iter()
        .find(|(_, detect)| detect(&m))
        .map(|(family, _)| *family)
}

type Detector = fn(&Signs<'_>) -> bool;

/// Services that sign their notices with headers of their own come first, then the
/// more specific of two look-alikes (Mail.ru runs Exim; Google Groups and G Suite send
/// from Gmail's daemon), then the MTAs known by their wording.
const DETECTORS: &[(Family, Detector)] = &[
    (Family::Aol, |m| m.has("x-aol-ip")),
    (Family::EinsUndEins, |m| {
        m.from.starts_with("\"Mail Delivery System\"")
            && m.subject == "Mail delivery failed: returning message to sender"
    }),
    (Family::MessageLabs, is_messagelabs),
    (Family::Facebook, is_facebook),
    (Family::Gmx, |m| m.has("x-gmx-antispam")),
    (Family::Zoho, |m| m.has("x-zohomail")),
    (Family::ReceivingSes, is_receiving_ses),
    (Family::AmazonSes, is_amazon_ses),
    (Family::Office365, is_office365),
    (Family::Outlook, is_outlook),
    (Family::IMailServer, is_imail),
    (Family::GoogleGroups, is_google_groups),
    (Family::GSuite, is_gsuite),
    (Family::Gmail, is_gmail),
    (Family::EximVariant, is_exim_variant),
    (Family::Exim, is_exim),
    (Family::Qmail, is_qmail),
    (Family::Courier, is_courier),
    (Family::DragonFly, is_dragonfly),
    (Family::Notes, |m| {
        m.subject.starts_with("Undeliverable message")
    }),
    (Family::Domino, |m| {
        m.subject.starts_with("DELIVERY FAILURE:")
    }),
    (Family::AuFiltered, |m| {
        m.header("x-spasign") == "NG" && (is_ezweb(m) || is_kddi(m))
    }),
    (Family::EzWeb, is_ezweb),
    (Family::Kddi, is_kddi),
    (Family::Verizon, |m| {
        m.received_has(".vtext.com (")
            && (m.from == "post_master@vtext.com"
                || m.from.contains("sysadmin@") && m.from.contains(".vzwpix.com"))
    }),
    (Family::Biglobe, is_biglobe),
    (Family::McAfee, |m| {
        m.header("x-nai-header").contains("Modified by McAfee") && m.subject == "Delivery Status"
    }),
    (Family::Fml, |m| {
        m.has("x-mlserver") && m.message_id.contains(".FML")
    }),
];

/// The parts of a message the detectors look at.
struct Signs<'a> {
    mail: &'a Mail,
    from: &'a str,
    subject: &'a str,
    message_id: &'a str,
}

impl<'a> Signs<'a> {
    fn new(mail: &'a Mail) -> Self {
        Signs {
            mail,
            from: mail.headers.get("from").unwrap_or_default(),
            subject: mail.subject.as_str(),
            message_id: mail.headers.get("message-id").unwrap_or_default().trim(),
        }
    }

    fn has(&self, header: &str) -> bool {
        self.mail.headers.has(header)
    }

    fn header(&self, name: &str) -> &str {
        self.mail.headers.get(name).unwrap_or_default()
    }

    fn received_has(&self, marker: &str) -> bool {
        self.mail
            .headers
            .all("received")
            .any(|r| r.contains(marker))
    }

    fn body_has(&self, markers: &[&str]) -> bool {
        self.mail
            .texts
            .iter()
            .any(|t| markers.iter().any(|m| t.contains(m)))
    }
}

/// Exim (deliver.c): two of its From, its Subject lines and its Message-ID shape
/// (`<1aBcDeF-000Xyz-Ab@host>`), or its opening sentence with one of them.
fn is_exim(m: &Signs<'_>) -> bool {
    let id = m.message_id.as_bytes();
    let id_shape =
        id.len() > 19 && id[0] == b'<' && id[8] == b'-' && id[15] == b'-' && id[18] == b'@';
    let signs = [
        m.from.contains("Mail Delivery System"),
        [
            "Mail delivery failed",
            "Mail failure",
            "Message frozen",
            "Warning: message ",
            "error(s) in forwarding or filtering",
            "Delivery Status Notification",
        ]
        .iter()
        .any(|t| m.subject.contains(t)),
        id_shape,
        m.body_has(&["This message was created automatically by mail delivery software."]),
    ];
    signs.iter().filter(|s| **s).count() >= 2
}

/// Exim as run by Mail.ru (its daemon's address and Message-ID domain) and by McAfee's
/// MX Logic (its `X-MX-Bounce`/`X-MXL-*` headers).
fn is_exim_variant(m: &Signs<'_>) -> bool {
    let from = m.from.to_ascii_lowercase();
    let mail_ru = (from.contains("mailer-daemon@") && from.contains("mail.ru"))
        && (m.message_id.contains(".mail.ru>") || m.message_id.contains("smailru.net>"));
    let mx_logic = m.has("x-mx-bounce")
        || m.has("x-mxl-hash")
        || m.has("x-mxl-notehash")
        || m.message_id.contains("<mxl~");
    mail_ru || mx_logic
}

/// qmail (qmail-send.c, qmail-remote.c) and its clones: its Subject or its Received
/// stamp, and its opening sentence.
fn is_qmail(m: &Signs<'_>) -> bool {
    (m.subject.eq_ignore_ascii_case("failure notice")
        || m.subject.starts_with("Permanent Delivery Failure")
        || m.received_has("(qmail "))
        && m.body_has(&[
            "This is the qmail",
            "Remote host said:",
            "does not like recipient.",
            "I'm not going to try again",
            "unable to deliver your message to the following addresses",
            "Unable to deliver message to the following address",
            "Your message to the following addresses",
            "Your mail message to the following address",
            "Unfortunately, your mail was not delivered to the following address:",
            "This is the mail delivery agent at",
            "This is the machine generated message from mail service",
            "Su mensaje no pudo ser entregado",
            "He/Her is not ",
        ])
}

/// Courier (module.dsn).
fn is_courier(m: &Signs<'_>) -> bool {
    m.from.contains("Courier mail server at ")
        || m.subject.contains("NOTICE: mail delivery status.")
        || m.subject.contains("WARNING: delayed mail.")
        || m.message_id.starts_with("<courier.")
}

/// DragonFly Mail Agent (dma).
fn is_dragonfly(m: &Signs<'_>) -> bool {
    m.subject.contains("Mail delivery failed") && m.received_has(" (DragonFly Mail Agent")
}

/// Gmail's mailer daemon.
fn is_gmail(m: &Signs<'_>) -> bool {
    m.from.contains("<mailer-daemon@googlemail.com>")
        && m.subject.contains("Delivery Status Notification")
        && m.body_has(&["Delivery to the following recipient"])
}

/// Google Workspace's mailer daemon: Gmail's, with a Gmail message state header and its
/// `** Address not found **` headings.
fn is_gsuite(m: &Signs<'_>) -> bool {
    m.from.contains("<mailer-daemon@googlemail.com>")
        && m.subject.contains("Delivery Status Notification")
        && m.has("x-gm-message-state")
        && m.mail
            .texts
            .iter()
            .any(|t| t.lines().any(|l| l.starts_with("** ")))
}

/// Google Groups' refusal of a post, signed "Google Groups".
fn is_google_groups(m: &Signs<'_>) -> bool {
    m.has("x-failed-recipients")
        && m.has("x-google-smtp-source")
        && m.from.contains("<mailer-daemon@googlemail.com>")
        && m.subject.contains("Delivery Status Notification")
        && m.body_has(&["Google Groups"])
}

fn is_facebook(m: &Signs<'_>) -> bool {
    m.from.contains("mailer-daemon@mx.facebook.com")
        && m.subject == "Sorry, your message could not be delivered"
}

fn is_messagelabs(m: &Signs<'_>) -> bool {
    m.has("x-msg-ref")
        && m.from.contains("MAILER-DAEMON@messagelabs.com")
        && m.subject.starts_with("Mail Delivery Failure")
}

/// Office 365: two of its NDR subjects, its Exchange Online headers and its hosts.
fn is_office365(m: &Signs<'_>) -> bool {
    let outlook_host =
        |v: &str| v.contains(".outbound.protection.outlook.com") || v.contains(".prod.outlook.com");
    let signs = [
        m.subject.contains("Undeliverable:"),
        m.has("x-ms-exchange-message-is-ndr"),
        m.has("x-microsoft-antispam-prvs"),
        m.has("x-exchange-antispam-report-test"),
        m.has("x-exchange-antispam-report-cfa-test"),
        m.has("x-ms-exchange-crosstenant-originalarrivaltime"),
        m.has("x-ms-exchange-crosstenant-fromentityheader"),
        m.has("x-ms-exchange-transport-crosstenantheadersstamped"),
        m.mail.headers.all("received").any(outlook_host),
        outlook_host(m.message_id),
    ];
    signs.iter().filter(|s| **s).count() >= 2
}

/// Outlook.com (formerly Hotmail).
fn is_outlook(m: &Signs<'_>) -> bool {
    let signs = [
        m.subject.contains("Delivery Status Notification"),
        m.has("x-message-delivery"),
        m.has("x-message-info"),
        m.received_has(".hotmail.com"),
    ];
    signs.iter().filter(|s| **s).count() >= 2
}

fn is_imail(m: &Signs<'_>) -> bool {
    m.subject.starts_with("Undeliverable Mail ") || m.header("x-mailer").starts_with("<SMTP32 v")
}

fn is_amazon_ses(m: &Signs<'_>) -> bool {
    (m.has("x-aws-outgoing") || m.has("x-ses-outgoing"))
        && !m.header("x-mailer").contains("Amazon WorkMail")
        && m.body_has(&[
            "The following message to <",
            "An error occurred while trying to deliver the mail ",
        ])
}

fn is_receiving_ses(m: &Signs<'_>) -> bool {
    m.has("x-ses-outgoing") && m.body_has(&["This message could not be delivered."])
}

/// au (KDDI) EZweb: two of its daemon's address, its Subject, its Received stamps and
/// its Message-ID domain.
fn is_ezweb(m: &Signs<'_>) -> bool {
    let signs = [
        m.from.contains("Postmaster@ezweb.ne.jp") || m.from.contains("Postmaster@au.com"),
        m.subject == "Mail System Error - Returned Mail",
        m.received_has("ezweb.ne.jp (EZweb Mail) with") || m.received_has(".au.com ("),
        m.message_id.ends_with(".ezweb.ne.jp>") || m.message_id.ends_with(".au.com>"),
    ];
    signs.iter().filter(|s| **s).count() >= 2
}

/// au by KDDI's notices.
fn is_kddi(m: &Signs<'_>) -> bool {
    (m.from.contains("no-reply@") && m.from.contains(".dion.ne.jp"))
        || m.header("reply-to") == "no-reply@app.auone-net.jp"
        || m.received_has("ezweb.ne.jp (")
        || m.received_has(".au.com (")
}

/// BIGLOBE and the Japanese cable providers that run its mail system.
fn is_biglobe(m: &Signs<'_>) -> bool {
    m.from.contains("postmaster@")
        && ["biglobe", "inacatv", "tmtv", "ttv"]
            .iter()
            .any(|d| m.from.contains(&format!("@{d}.ne.jp")))
        && m.subject.starts_with("Returned mail:")
}
