//! mailroom: self-hosted newsletter delivery.
//!
//! # Layout
//!
//! - [`issue_file`] reads an editor's Markdown + TOML issue file into the [`domain::Issue`] model.
//! - [`render`] fills the MJML and text templates once per issue (minijinja, mrml) and
//!   personalizes the result per subscriber without re-rendering.
//! - [`message`] builds each MIME message with its list headers, tokens and VERP envelope.
//! - [`transport`] hands messages to SMTP (lettre, pooled) or a local `.eml` outbox.
//! - [`worker`] claims due deliveries, rate-limits, sends and records outcomes.
//! - [`bounce`] reads bounces and complaints: who failed, why, hard or soft.
//! - [`db`] holds every SQL statement (SQLite via sqlx, migrations in `migrations/`).
//! - [`clicks`] follows and counts clicks on item links (`/c/TOKEN`), people apart from
//!   scanners.
//! - [`optin`] sends double opt-in confirmations for the public subscribe form.
//! - [`webhooks`] authenticates ESP relays' bounce and complaint webhooks and reads them.
//! - [`operators`] signs dashboard operators in; [`charts`] draws its plots as SVG.
//! - [`issues`] holds what the CLI, the API and the dashboard do to issues alike.
//! - [`http`] and [`startup`] serve the HTTP surface; [`cli`] is the command line.

pub mod archive;
pub mod bounce;
pub mod charts;
pub mod checks;
pub mod cli;
pub mod clicks;
pub mod config;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod inbound;
pub mod issue_file;
pub mod issues;
pub mod message;
pub mod metrics;
pub mod operators;
pub mod optin;
pub mod pacing;
pub mod render;
pub mod startup;
pub mod subscribers;
pub mod telemetry;
pub mod token;
pub mod transport;
pub mod webhooks;
pub mod worker;
