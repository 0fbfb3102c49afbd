//! Edge cases of the bounce parser on small hand-written messages; the real-mail corpus
//! is exercised by the integration tests (tests/it/bounces.rs).

use super::*;

const POSTFIX_DSN: &str = "\
Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces+d42.abc@news.example.org
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"

--B
Content-Type: text/plain

<reader@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1
    <reader@example.com>: Recipient address rejected: User unknown (in reply to
    RCPT TO command)

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; Reader@Example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <reader@example.com>: Recipient address
    rejected: User unknown

--B
Content-Type: text/rfc822-headers

Return-Path: <bounces+d42.abc@news.example.org>
From: News <news@example.org>
To: reader@example.com
Message-ID: <issue-7.d42@news.example.org>
Subject: Issue 7

--B--
";

fn only_report(parsed: &Parsed) -> &Report {
    match parsed.reports() {
        [one] => one,
        other => panic!("expected one report, got {other:?}"),
    }
}

#[test]
fn a_dsn_names_the_dead_address_and_our_message() {
    let parsed = parse(POSTFIX_DSN.as_bytes());
    let r = only_report(&parsed);
    assert_eq!(r.recipient, "reader@example.com");
    assert_eq!((r.class, r.reason), (Class::Hard, Reason::UserUnknown));
    assert_eq!(r.status.as_deref(), Some("5.1.1"));
    assert_eq!(r.reply_code, Some(550));
    assert!(r.diagnostic.contains("User unknown"), "{}", r.diagnostic);
    assert_eq!(
        r.original.message_id.as_deref(),
        Some("issue-7.d42@news.example.org")
    );
    assert_eq!(
        r.original.envelope_from.as_deref(),
        Some("bounces+d42.abc@news.example.org")
    );
    assert_eq!(r.original.to, ["reader@example.com"]);
}

#[test]
fn crlf_and_cr_only_read_like_lf() {
    let lf = parse(POSTFIX_DSN.as_bytes());
    let crlf = parse(POSTFIX_DSN.replace('\n', "\r\n").as_bytes());
    let cr = parse(POSTFIX_DSN.replace('\n', "\r").as_bytes());
    assert_eq!(crlf, lf);
    assert_eq!(cr, lf);
}

#[test]
fn a_truncated_report_still_names_what_it_has() {
    let cut = POSTFIX_DSN
        .find("Diagnostic-Code")
        .expect("the sample has a diagnostic");
    let parsed = parse(&POSTFIX_DSN.as_bytes()[..cut]);
    let r = only_report(&parsed);
    assert_eq!(r.recipient, "reader@example.com");
    assert_eq!(r.class, Class::Hard);
    // Cut anywhere, it must not panic.
    for end in (0..POSTFIX_DSN.len()).step_by(7) {
        let _ = parse(&POSTFIX_DSN.as_bytes()[..end]);
    }
}

#[test]
fn empty_and_garbage_input_are_not_bounces() {
    assert_eq!(parse(b""), Parsed::NotBounce);
    assert_eq!(parse(b"\r\n\r\n"), Parsed::NotBounce);
    assert_eq!(parse_file(b""), vec![Parsed::NotBounce]);
    // A fixed pseudo-random byte soup (xorshift), including NULs and bare CRs.
    let mut x: u32 = 0x9e37_79b9;
    let soup: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    assert_eq!(parse(&soup), Parsed::NotBounce);
}

#[test]
fn deep_nesting_and_huge_input_end_quickly() {
    let mut deep = String::from("From: MAILER-DAEMON@x.example\nSubject: Undelivered\n");
    for level in 0..5_000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\n\n--b{level}\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\n\n<a@b.example>: 550 no such user\n");
    let _ = parse(deep.as_bytes());

    let mut forwarded = POSTFIX_DSN.to_string();
    for _ in 0..10 {
        forwarded =
            format!("From: a@b.example\nSubject: Fwd\nContent-Type: message/rfc822\n\n{forwarded}");
    }
    let _ = parse(forwarded.as_bytes());

    let mut huge = String::from("From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n");
    for n in 0..200_000 {
        huge.push_str(&format!("<user{n}@example.com>: 550 5.1.1 user unknown\n"));
    }
    let parsed = parse(huge.as_bytes());
    assert!(parsed.reports().len() <= MAX_RECIPIENTS);
}

#[test]
fn a_qmail_notice_without_a_report_part() {
    let raw = "\
From: MAILER-DAEMON@mx.example.jp
Subject: failure notice

Hi. This is the qmail-send program at mx.example.jp.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<full@example.net>:
192.0.2.153 does not like recipient.
Remote host said: 552 5.2.2 <full@example.net>... Mailbox full
Giving up on 192.0.2.153.

<gone@example.net>:
192.0.2.153 does not like recipient.
Remote host said: 550 5.1.1 <gone@example.net>... User Unknown

--- Below this line is a copy of the message.

Return-Path: <bounces+x@news.example.org>
Message-ID: <m1@news.example.org>
To: full@example.net

hello
";
    let parsed = parse(raw.as_bytes());
    let got: Vec<(&str, Class, Reason)> = parsed
        .reports()
        .iter()
        .map(|r| (r.recipient.as_str(), r.class, r.reason))
        .collect();
    assert_eq!(
        got,
        [
            ("full@example.net", Class::Soft, Reason::MailboxFull),
            ("gone@example.net", Class::Hard, Reason::UserUnknown),
        ]
    );
    let original = &parsed.reports()[0].original;
    assert_eq!(original.message_id.as_deref(), Some("m1@news.example.org"));
    assert_eq!(
        original.envelope_from.as_deref(),
        Some("bounces+x@news.example.org")
    );
}

#[test]
fn complaints_and_auto_replies_are_no_failures() {
    let arf = "\
From: fbl@isp.example
Subject: complaint
Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"

--F
Content-Type: text/plain

An abuse report.
--F
Content-Type: message/feedback-report

Feedback-Type: abuse
Original-Rcpt-To: <Angry@ISP.example>

--F
Content-Type: message/rfc822

Message-ID: <m2@news.example.org>
To: angry@isp.example

hi
--F--
";
    let parsed = parse(arf.as_bytes());
    let r = only_report(&parsed);
    assert_eq!(r.recipient, "angry@isp.example");
    assert_eq!((r.class, r.reason), (Class::None, Reason::Feedback));
    assert_eq!(r.feedback_type.as_deref(), Some("abuse"));
    assert_eq!(
        r.original.message_id.as_deref(),
        Some("m2@news.example.org")
    );

    let away = "From: Reader <reader@example.com>\nAuto-Submitted: auto-replied\n\
                Subject: Out of office\n\nBack on Monday.\n";
    let parsed = parse(away.as_bytes());
    let r = only_report(&parsed);
    assert_eq!(
        (r.recipient.as_str(), r.class),
        ("reader@example.com", Class::None)
    );
    assert_eq!(r.reason, Reason::Vacation);

    let letter = "From: friend@example.com\nSubject: lunch?\n\nSee you at noon.\n";
    assert_eq!(parse(letter.as_bytes()), Parsed::NotBounce);
}

#[test]
fn a_temporary_dns_failure_is_not_a_dead_host() {
    let raw = "From: MAILER-DAEMON@mx.example\nSubject: Delivery delayed\n\n\
               <a@gone.example>: Host or domain name not found (#4.4.3)\n";
    let parsed = parse(raw.as_bytes());
    let r = only_report(&parsed);
    assert_eq!((r.class, r.reason), (Class::Soft, Reason::NetworkError));
}

#[test]
fn amazon_ses_notifications_by_sns_email() {
    let complaint = r#"From: SES <no-reply@sns.amazonaws.com>
Subject: AWS Notification Message

{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"Reader@example.com"}],"complaintFeedbackType":"abuse"},"mail":{"source":"bounces+d9.x@news.example.org","commonHeaders":{"messageId":"<m3@news.example.org>","to":["reader@example.com"]}}}

--
If you wish to stop receiving notifications from this topic, please click below.
"#;
    let parsed = parse(complaint.as_bytes());
    let r = only_report(&parsed);
    assert_eq!(r.recipient, "reader@example.com");
    assert_eq!((r.class, r.reason), (Class::None, Reason::Feedback));
    assert_eq!(r.feedback_type.as_deref(), Some("abuse"));
    assert_eq!(
        r.original.message_id.as_deref(),
        Some("m3@news.example.org")
    );
    assert_eq!(
        r.original.envelope_from.as_deref(),
        Some("bounces+d9.x@news.example.org")
    );

    // SNS wraps long lines with "!" at the end and a space at the start of the next.
    let bounce = "From: SES <no-reply@sns.amazonaws.com>\nSubject: AWS Notification Message\n\n\
        {\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[{\"emailAddress\":\"gone@exam!\n \
        ple.com\",\"status\":\"5.1.1\",\"diagnosticCode\":\"smtp; 550 5.1.1 user unknown\"}]},\"mail\":{}}\n";
    let parsed = parse(bounce.as_bytes());
    let r = only_report(&parsed);
    assert_eq!(r.recipient, "gone@example.com");
    assert_eq!((r.class, r.reason), (Class::Hard, Reason::UserUnknown));
}
