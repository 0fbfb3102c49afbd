//! Classification of hand-written messages: refusals, unsubscribes, and which delivery a
//! bounce names (or why it names none).

use super::*;
use crate::token::TokenKeys;

const KEY: &str = "0123456789abcdef0123456789abcdef-classify";

fn keys() -> TokenKeys {
    TokenKeys::new(KEY, &[]).unwrap()
}

fn classify(raw: &[u8], rcpt: Option<&str>) -> Kind {
    let keys = keys();
    Classifier {
        keys: &keys,
        unsubscribe_domain: "news.example.org",
        bounce_domain: "bounce.example.org",
        max_bytes: 64 * 1024,
    }
    .classify(raw, rcpt)
}

fn verp(delivery: i64) -> String {
    format!("bounces+{}@bounce.example.org", keys().bounce(delivery))
}

/// A Postfix-style DSN for `reader@example.com`, sent to `to`, returning a message whose
/// envelope sender was `return_path` and whose Message-ID was `message_id`.
fn dsn(to: &str, return_path: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@mx.example.net\nTo: {to}\nSubject: Undelivered Mail Returned to Sender\n\
         Message-ID: <dsn-1@mx.example.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nThe mail system could not deliver your message.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; reader@example.com\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <reader@example.com>: User unknown\n\n\
         --B\nContent-Type: text/rfc822-headers\n\nReturn-Path: <{return_path}>\n\
         From: News <news@example.org>\nTo: reader@example.com\nMessage-ID: <{message_id}>\n\
         Subject: Issue 7\n\n--B--\n"
    )
    .into_bytes()
}

fn origin(kind: Kind) -> Origin {
    match kind {
        Kind::Bounce { origin, .. } => origin,
        other => panic!("expected a bounce, got {other:?}"),
    }
}

#[test]
fn a_verified_token_names_the_delivery() {
    let to = verp(42);
    let raw = dsn(&to, &to, "7.42.abc@example.org");
    assert_eq!(origin(classify(&raw, None)), Origin::Token(42));
    // The MTA's envelope recipient alone is enough when the report quotes no sender.
    let raw = dsn("someone@example.org", "", "foreign@example.net");
    assert_eq!(origin(classify(&raw, Some(&to))), Origin::Token(42));
}

#[test]
fn an_altered_or_conflicting_token_is_a_forgery_even_with_a_good_message_id() {
    let good = verp(42);
    let mut altered = good.clone().into_bytes();
    let i = "bounces+".len() + 5;
    altered[i] = if altered[i] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    let raw = dsn(&altered, &altered, "7.42.abc@example.org");
    assert_eq!(origin(classify(&raw, None)), Origin::Forged);
    // Two valid tokens that disagree: the report is not about one delivery.
    let raw = dsn(&good, &verp(43), "7.42.abc@example.org");
    assert_eq!(origin(classify(&raw, None)), Origin::Forged);
    // A bad token in the envelope recipient spoils a good one in the report.
    let raw = dsn("x@example.org", &good, "7.42.abc@example.org");
    assert_eq!(origin(classify(&raw, Some(&altered))), Origin::Forged);
}

#[test]
fn without_a_token_the_message_id_names_a_delivery_to_check() {
    let raw = dsn("bounces@bounce.example.org", "", "7.42.abc@example.org");
    assert_eq!(
        origin(classify(&raw, None)),
        Origin::MessageId {
            delivery_id: 42,
            message_id: "7.42.abc@example.org".into()
        }
    );
    let raw = dsn("bounces@bounce.example.org", "", "CAF=xyz@mail.example.net");
    assert_eq!(origin(classify(&raw, None)), Origin::Unknown);
}

#[test]
fn refusals() {
    let big = vec![b'a'; 64 * 1024 + 1];
    assert_eq!(
        classify(&big, None),
        Kind::Refused(Refusal::TooLarge(64 * 1024 + 1))
    );
    for not_mail in [
        &b""[..],
        b"\0\x01\x02 binary",
        b"just text\n\nmore",
        b": x\n\n",
    ] {
        assert_eq!(
            classify(not_mail, None),
            Kind::Refused(Refusal::NotMail),
            "{not_mail:?}"
        );
    }
    let mut nested = String::from("Subject: deep\n");
    for level in 0..20 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\n\n--b{level}\n"
        ));
    }
    nested.push_str("Content-Type: text/plain\n\nhello\n");
    assert_eq!(
        classify(nested.as_bytes(), None),
        Kind::Refused(Refusal::TooDeep)
    );
    // To our bounce address, yet nothing in it reads as a report: cut short or mangled.
    let cut = format!("To: {}\nSubject: Undeliv", verp(42));
    assert_eq!(
        classify(cut.as_bytes(), None),
        Kind::Refused(Refusal::Unreadable)
    );
}

#[test]
fn unsubscribes_and_mail_for_others() {
    let token = keys().unsubscribe(UnsubscribeClaim {
        subscriber_id: 5,
        issue_number: 7,
    });
    let reply = |to: &str| format!("From: kim@example.org\nTo: {to}\nSubject: stop\n\nstop\n");
    let to = format!("unsubscribe+{token}@news.example.org");
    assert_eq!(
        classify(reply(&to).as_bytes(), None),
        Kind::Unsubscribe(Some(UnsubscribeClaim {
            subscriber_id: 5,
            issue_number: 7
        }))
    );
    let forged = format!("unsubscribe+{}@news.example.org", "a".repeat(48));
    assert_eq!(
        classify(reply(&forged).as_bytes(), None),
        Kind::Unsubscribe(None)
    );
    assert_eq!(
        classify(reply("editor@news.example.org").as_bytes(), None),
        Kind::NotOurs
    );
}

#[test]
fn the_key_survives_line_endings_and_prefers_the_message_id() {
    let raw = dsn(&verp(1), "", "x@y");
    let crlf = String::from_utf8(raw.clone())
        .unwrap()
        .replace('\n', "\r\n")
        .into_bytes();
    let key = |raw: &[u8]| match classify(raw, None) {
        Kind::Bounce { key, .. } => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(key(&raw), "message-id:dsn-1@mx.example.net");
    assert_eq!(key(&raw), key(&crlf));
    let without_id = |raw: &[u8]| {
        String::from_utf8(raw.to_vec())
            .unwrap()
            .replace("Message-ID: <dsn-1@mx.example.net>\n", "")
            .replace("Message-ID: <dsn-1@mx.example.net>\r\n", "")
    };
    let (lf, crlf) = (without_id(&raw), without_id(&crlf));
    assert!(key(lf.as_bytes()).starts_with("sha256:"));
    assert_eq!(key(lf.as_bytes()), key(crlf.as_bytes()));
}

#[test]
fn a_complaint_names_its_delivery_by_the_original_sender() {
    let arf = format!(
        "From: fbl@isp.example\nTo: abuse@news.example.org\nSubject: complaint\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n\n\
         --F\nContent-Type: text/plain\n\nA complaint.\n\n\
         --F\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nVersion: 1\n\
         Original-Mail-From: <{}>\nOriginal-Rcpt-To: <redacted@isp.example>\n\n\
         --F\nContent-Type: text/rfc822-headers\n\nFrom: news@example.org\nSubject: Issue 7\n\n--F--\n",
        verp(42)
    );
    assert_eq!(origin(classify(arf.as_bytes(), None)), Origin::Token(42));
}

#[test]
fn a_mime_structure_that_trips_mail_parser_is_contained() {
    // Found by the fuzzer: on this nesting mail-parser 0.11's debug assertions fire (a
    // panic in debug builds; release builds read on).
    let raw = format!(
        "To: {}\nContent-Type: multipart/report; boundary=b\n\n--bContent-Type: message/rfc822\n\n\
         Content-Type: message/rfc822\n\n\n--b--\n",
        verp(42)
    );
    let _ = crate::bounce::parse_file(raw.as_bytes());
    let kind = classify(raw.as_bytes(), None);
    assert!(matches!(kind, Kind::Refused(_)), "{kind:?}");
}
