//! Rendering and message-building speed on the sample issue.
//!
//! `cargo bench --bench render`. Targets: fill + MJML render ≤ 2 ms per issue; one
//! personalized MIME message ≤ 100 µs (≥ 10,000 messages/s on one core), without DKIM.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailroom::config::Settings;
use mailroom::message::{MessageFactory, Recipient};
use mailroom::render::Renderer;
use mailroom::token::TokenKeys;

fn sample() -> (Settings, mailroom::domain::Issue) {
    let settings = Settings::load(None).expect("default settings");
    let text = include_str!("../samples/issue-210.md");
    let issue =
        mailroom::issue_file::parse_str("samples/issue-210.md", text).expect("sample parses");
    (settings, issue)
}

fn benches(c: &mut Criterion) {
    let (settings, issue) = sample();
    let renderer = Renderer::new(&settings.newsletter).unwrap();
    c.bench_function("parse sample issue file", |b| {
        let text = include_str!("../samples/issue-210.md");
        b.iter(|| mailroom::issue_file::parse_str("issue.md", black_box(text)).unwrap())
    });
    c.bench_function("fill + MJML render sample issue", |b| {
        b.iter(|| renderer.render(black_box(&issue)).unwrap())
    });

    let rendered = renderer.render(&issue).unwrap();
    let keys = TokenKeys::new("bench-key-bench-key-bench-key-bench-key", &[]).unwrap();
    let factory = MessageFactory::new(&settings, keys).unwrap();
    let mut group = c.benchmark_group("message");
    group.throughput(Throughput::Elements(1));
    let mut id = 0i64;
    group.bench_function("build one personalized MIME message", |b| {
        b.iter(|| {
            id += 1;
            let recipient = Recipient {
                delivery_id: id,
                subscriber_id: id,
                email: "ada.lovelace@example.org",
                name: "Ada Lovelace",
                nonce: "0123456789abcdef",
            };
            factory.build(black_box(&rendered), &recipient).unwrap()
        })
    });
    group.finish();
}

criterion_group!(render, benches);
criterion_main!(render);
