//! Everything `mailroom ingest` does with a message before it touches the database: the
//! bounce parser on a file (one message or an mbox) and the classification of one
//! message (size, header block, MIME depth, tokens, reports, the delivery it names).
//! Neither may panic, loop or blow up on any input.

#![no_main]

use std::sync::{LazyLock, Once};

use libfuzzer_sys::fuzz_target;
use mailroom::inbound::Classifier;
use mailroom::token::TokenKeys;

static KEYS: LazyLock<TokenKeys> =
    LazyLock::new(|| TokenKeys::new("fuzzing-key-0123456789abcdef0123456789", &[]).unwrap());

/// libfuzzer-sys aborts on every panic, even one that is caught. mailroom calls mail-parser
/// (third-party code whose 0.11 debug assertions fire on some broken multiparts) inside
/// `catch_unwind` and reads the message as text instead; such a panic is handled, as it
/// is in the shipped binary. Any other panic still aborts here, and one from mail-parser
/// that escapes our guards aborts in libfuzzer-sys's own wrapper.
fn tolerate_contained_mail_parser_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let strict = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_mail_parser = info
                .location()
                .is_some_and(|l| l.file().contains("/mail-parser-"));
            if !in_mail_parser {
                strict(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    tolerate_contained_mail_parser_panics();
    let _ = mailroom::bounce::parse_file(data);
    let classifier = Classifier {
        keys: &KEYS,
        unsubscribe_domain: "newsletter.example.org",
        bounce_domain: "newsletter.example.org",
        max_bytes: 10 * 1024 * 1024,
    };
    let _ = classifier.classify(data, None);
    // The MTA pipe's envelope recipient: a VERP address of our domain whose token the
    // input supplies (almost never valid), so the token paths run too.
    let token: String = data
        .iter()
        .take(32)
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let _ = classifier.classify(
        data,
        Some(&format!("bounces+{token}@newsletter.example.org")),
    );
});
