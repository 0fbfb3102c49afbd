//! mailroom's integration tests: one binary, real parts (SQLite files, the app served in
//! this process or the `mailroom` binary, an SMTP server speaking the protocol, headless
//! Chromium).

mod app;
mod helpers;
mod smtp_server;

mod admin;
mod architecture;
mod archive;
mod backup;
mod bounces;
mod bounces_mta;
mod checks;
mod cli;
mod clicks;
mod concurrency;
mod crash;
mod dashboard;
mod delivery;
mod dkim;
mod dns_server;
mod doctor;
mod faults;
mod ingest;
mod issue_file;
mod lifecycle;
mod optin;
mod pop3;
mod proxies;
mod relays;
mod rendering;
mod spamassassin;
mod subscribers;
mod unsubscribe;
mod webhooks;
