//! Rate-limit accuracy: a 3,000-message send at 50 messages/s (burst 5) to an SMTP server
//! on loopback, timing each arrival. Target: the average within 2% of 50/s and no one-second
//! window above 50 + burst. Takes about a minute.
//!
//! `cargo bench --bench rate` (MESSAGES and RATE in the environment change the run).

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mailin::{Handler, Response};
use mailroom::config::{Settings, TransportKind};
use mailroom::db::Source;
use mailroom::db::subscribers::NewSubscriber;
use mailroom::domain::SubscriberEmail;
use mailroom::startup::Context;

#[path = "../tests/it/smtp_server.rs"]
mod smtp_server;

#[derive(Clone)]
struct Clock(Arc<Mutex<Vec<Instant>>>);

impl Handler for Clock {
    fn data_end(&mut self) -> Response {
        self.0.lock().unwrap().push(Instant::now());
        mailin::response::OK
    }
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let messages = env_or("MESSAGES", 3000);
    let rate = env_or("RATE", 50);
    let burst = 5;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = smtp_server::Options {
        name: "mx.bench.example",
        tls: None,
        auth: false,
    };
    smtp_server::serve(listener, Clock(arrivals.clone()), options);

    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).unwrap();
    settings.database.path = dir.path().join("rate.db");
    settings.delivery.transport = TransportKind::Smtp;
    settings.delivery.rate_per_second = rate;
    settings.delivery.burst = burst;
    settings.delivery.concurrency = 4;
    settings.smtp.host = "127.0.0.1".into();
    settings.smtp.port = port;
    settings.smtp.tls = mailroom::config::TlsMode::None;

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ctx = Context::open(settings).await.unwrap();
        let text = include_str!("../samples/issue-210.md");
        let issue = mailroom::issue_file::parse_str("issue-210.md", text).unwrap();
        ctx.db
            .import_issue(&issue, "bench", Source::Cli)
            .await
            .unwrap();
        ctx.db.finalize_issue(210, Source::Cli).await.unwrap();
        let list: Vec<NewSubscriber> = (0..messages)
            .map(|k| {
                NewSubscriber::active(
                    SubscriberEmail::parse(&format!("r{k}@example.org")).unwrap(),
                    "",
                )
            })
            .collect();
        ctx.db.add_subscribers(&list, Source::Cli).await.unwrap();
        ctx.db.create_send(210, Source::Cli).await.unwrap();
        let (_tx, rx) = tokio::sync::watch::channel(false);
        ctx.worker()
            .unwrap()
            .run_until_stopped(rx, true)
            .await
            .unwrap();
    });

    let times = arrivals.lock().unwrap().clone();
    assert_eq!(times.len(), messages as usize, "every message arrived");
    let span = times.last().unwrap().duration_since(times[0]).as_secs_f64();
    let average = (times.len() - 1) as f64 / span;
    // The busiest one-second window, over every starting arrival.
    let mut busiest = 0;
    let mut end = 0;
    for start in 0..times.len() {
        while end < times.len() && times[end].duration_since(times[start]).as_secs_f64() < 1.0 {
            end += 1;
        }
        busiest = busiest.max(end - start);
    }
    let error = (average - f64::from(rate)).abs() / f64::from(rate) * 100.0;
    println!(
        "{messages} messages at {rate}/s (burst {burst}): average {average:.2}/s ({error:.2}% off), \
         busiest one-second window {busiest} (limit {})",
        rate + burst
    );
}
