//! Typed, layered settings: compiled-in defaults, a local file, then `MAILROOM_…` variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::domain::Policy;

/// The documented defaults, compiled in so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The local file picked up when no `--config` is given.
pub const LOCAL_FILE: &str = "mailroom.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub newsletter: NewsletterSettings,
    pub delivery: DeliverySettings,
    pub bounces: BounceSettings,
    pub smtp: SmtpSettings,
    pub http: HttpSettings,
    pub secrets: SecretSettings,
    pub dkim: DkimSettings,
    pub admin: AdminSettings,
    pub webhooks: WebhookSettings,
    pub archive: ArchiveSettings,
    pub dashboard: DashboardSettings,
    pub analytics: AnalyticsSettings,
    pub checks: CheckSettings,
    pub doctor: DoctorSettings,
}

/// `mailroom doctor`: the sending setup checked against the mailbox providers' rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorSettings {
    /// DNS servers to ask, `ip` or `ip:port`; empty: the system's resolver configuration.
    pub nameservers: Vec<String>,
    /// The public addresses mail leaves from, judged by SPF; empty: the relays' addresses.
    pub sending_ips: Vec<std::net::IpAddr>,
    /// Per DNS query, SMTP step and HTTP request.
    pub timeout_seconds: u64,
    /// A CA certificate (PEM) base_url's certificate may chain to, beside the web PKI
    /// roots: for a deployment behind a private CA.
    pub ca_file: PathBuf,
}

impl DoctorSettings {
    /// `nameservers` as socket addresses: `ip` (port 53), `ip:port` or `[ipv6]:port`.
    pub fn nameserver_addresses(&self) -> Result<Vec<SocketAddr>> {
        self.nameservers
            .iter()
            .enumerate()
            .map(|(n, server)| {
                let server = server.trim();
                server
                    .parse::<SocketAddr>()
                    .or_else(|_| {
                        server
                            .parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "doctor.nameservers[{n}]: {server:?} is not an IP address or IP:port"
                        )
                    })
            })
            .collect()
    }
}

/// `mailroom issue check` (also run by `issue send`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSettings {
    /// How long one item link may take to answer (each request of its redirect chain).
    pub link_timeout_seconds: u64,
    /// Item links checked at once.
    pub link_concurrency: usize,
    /// Score the delivered message with `spamassassin -L -t` when it is installed.
    pub spamassassin: bool,
}

/// The operator's web dashboard under `/admin` (sign-in with accounts made by
/// `mailroom operators add`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSettings {
    /// false: no `/admin` routes (404).
    pub enabled: bool,
    /// How long a sign-in lasts.
    pub session_hours: u32,
    /// Sign-in attempts allowed per client IP, and per operator name, within
    /// `sign_in_window_seconds`; the allowance refills evenly over the window.
    pub sign_in_per_ip: u32,
    pub sign_in_per_account: u32,
    pub sign_in_window_seconds: u64,
}

/// Click counts per item (`/c/{token}` links). Off by default; see the README's "Click
/// counts" section for what is stored and how machine clicks are told apart.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsSettings {
    /// Item links in the HTML part go through `newsletter.base_url/c/TOKEN`.
    pub clicks: bool,
    /// The plain-text part's item links too (they are long and visible there).
    pub text_links: bool,
    /// Keep each click with its subscriber (erased with them); otherwise aggregates only.
    pub per_subscriber: bool,
    /// A click this soon after its delivery was sent is a machine's.
    pub scanner_window_seconds: u64,
    /// Clicks of one delivery within this many seconds form a burst…
    pub burst_seconds: u64,
    /// …which is a machine's once it covers at least this many different links…
    pub burst_min_links: u32,
    /// …and at least this share of the message's links.
    pub burst_fraction: f64,
    /// Further user-agent substrings (case-insensitive) that mark a machine, on top of the
    /// built-in list in `clicks::SCANNER_AGENTS`.
    pub scanner_user_agents: Vec<String>,
}

/// The public archive of sent issues: pages and feeds under `mailroom serve`, the "View in
/// your browser" link in every message, and `mailroom archive export`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// false: no archive routes (404) and no view-online link in messages.
    pub enabled: bool,
    /// Where readers find the archive; empty means `newsletter.base_url` + `/archive`.
    pub base_url: String,
    /// What the index pages and the feeds say about the newsletter; empty: a line made
    /// from the newsletter's name.
    pub description: String,
    /// Issues per index page.
    pub per_page: u32,
    /// Issues in each feed, newest first.
    pub feed_items: u32,
}

impl Settings {
    /// The archive's public address without a trailing slash (`https://…/archive`), or
    /// `None` when the archive is off.
    pub fn archive_url(&self) -> Option<String> {
        let a = &self.archive;
        a.enabled
            .then(|| archive_base(&a.base_url, &self.newsletter.base_url))
    }
}

/// The archive's address: `configured` if set, else under `newsletter_base`.
pub fn archive_base(configured: &str, newsletter_base: &str) -> String {
    if configured.trim().is_empty() {
        format!("{}/archive", newsletter_base.trim_end_matches('/'))
    } else {
        configured.trim().trim_end_matches('/').to_string()
    }
}

/// `POST /webhooks/{provider}`: bounce and complaint reports from ESP relays. A provider
/// without its credentials (for SES: its topics) is not served at all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Larger request bodies are refused with 413.
    pub max_body_bytes: usize,
    /// Per-client-IP limit on `POST /webhooks/*` (429 past it): relays post in bursts, so
    /// it is more generous than the public pages'.
    pub rate_per_second: u32,
    pub burst: u32,
    pub ses: SesWebhookSettings,
    pub postmark: PostmarkWebhookSettings,
    pub sendgrid: SendgridWebhookSettings,
    pub mailgun: MailgunWebhookSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesWebhookSettings {
    /// SNS topic ARNs whose messages are accepted; empty disables the endpoint. Anyone can
    /// make SNS sign messages from a topic of their own, so the topic is what authorizes.
    pub topic_arns: Vec<String>,
    /// Hosts (`*` is one DNS label, `:port` must match when given) that may serve the
    /// signing certificate and the subscription confirmation URL.
    pub cert_hosts: Vec<String>,
    /// Extra CA certificates (PEM) to trust when fetching those; empty: web PKI roots only.
    pub ca_file: PathBuf,
    /// Confirm subscriptions of the allowed topics by visiting their SubscribeURL; when
    /// false they are only logged for the operator to confirm.
    pub confirm_subscriptions: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkWebhookSettings {
    /// HTTP Basic credentials Postmark sends (put them in the webhook URL there).
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendgridWebhookSettings {
    /// The Signed Event Webhook's verification key: base64 DER SubjectPublicKeyInfo.
    pub public_key: String,
    /// Signed timestamps older (or further in the future) than this are refused.
    pub max_age_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailgunWebhookSettings {
    /// The HTTP webhook signing key from Mailgun's dashboard.
    pub signing_key: Secret,
    /// Signatures older (or further in the future) than this are refused.
    pub max_age_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub token: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    pub selector: String,
    pub domain: String,
    pub algorithm: DkimAlgorithm,
    pub private_key_file: PathBuf,
    pub private_key: Secret,
}

impl DkimSettings {
    /// The signing domain (d=): `dkim.domain`, or else the From address's domain.
    pub fn signing_domain<'a>(&'a self, from_domain: &'a str) -> &'a str {
        if self.domain.is_empty() {
            from_domain
        } else {
            &self.domain
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewsletterSettings {
    pub name: String,
    pub list_id: String,
    pub from_name: String,
    pub from_address: String,
    pub reply_to: String,
    pub base_url: String,
    pub postal_address: String,
    pub why_line: String,
    pub default_name: String,
    pub templates_dir: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Outbox,
    Smtp,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    pub transport: TransportKind,
    pub outbox_dir: PathBuf,
    pub bounce_domain: String,
    pub unsubscribe_domain: String,
    pub rate_per_second: u32,
    pub burst: u32,
    pub concurrency: u32,
    pub batch_size: u32,
    pub lease_seconds: u32,
    pub retry_base_seconds: u32,
    pub retry_max_age_hours: u32,
    pub poll_interval_ms: u64,
    pub max_per_hour: u32,
    pub max_per_day: u32,
    pub pause_hard_bounce_rate: f64,
    pub pause_complaint_rate: f64,
    pub pause_min_attempts: u32,
    pub domain_rates: std::collections::HashMap<String, u32>,
}

/// What bounces and complaints do to the list, and what `mailroom ingest` accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceSettings {
    /// Soft bounces (of different messages) within the window that suppress an address;
    /// 0 never suppresses on soft bounces.
    pub soft_bounce_limit: u32,
    pub soft_bounce_window_days: u32,
    /// Larger messages are refused by `mailroom ingest`.
    pub max_message_bytes: u64,
    /// The bounce mailbox `mailroom ingest --pop3` reads.
    pub pop3: Pop3Settings,
}

/// Implicit TLS (port 995) or plain text; POP3's STLS upgrade is not offered, so a
/// misconfigured server can never be talked into sending the password in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pop3Tls {
    None,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Settings {
    /// Empty: no POP3 mailbox configured.
    pub host: String,
    pub port: u16,
    pub tls: Pop3Tls,
    pub username: String,
    pub password: Secret,
    pub ca_file: PathBuf,
    /// DELE each handled message; false leaves them, relying on ingest being idempotent.
    pub delete_after: bool,
    /// Messages fetched per run at most; the rest wait for the next run.
    pub max_messages: u32,
    /// Allowed for the connection and for each reply.
    pub timeout_seconds: u64,
}

impl From<&BounceSettings> for Policy {
    fn from(s: &BounceSettings) -> Self {
        Self {
            soft_limit: s.soft_bounce_limit,
            window: time::Duration::days(i64::from(s.soft_bounce_window_days)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: Secret,
    pub timeout_seconds: u64,
    pub ca_file: PathBuf,
    pub helo_name: String,
    /// This relay's share of the traffic against `relays`.
    pub weight: u32,
    /// Consecutive connection failures after which a relay is rested.
    pub rest_after_failures: u32,
    /// The first rest; each further rest without a success in between doubles it.
    pub rest_seconds: u64,
    /// Further relays sharing the traffic by weight and taking over from a failing one.
    pub relays: Vec<RelaySettings>,
}

/// One further relay. Unset fields take the usual defaults, not the `[smtp]` values, so each
/// entry reads on its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    #[serde(default)]
    pub username: String,
    /// Name of the environment variable that holds the password, so secrets stay out of the
    /// file.
    #[serde(default)]
    pub password_env: String,
    #[serde(default)]
    pub ca_file: PathBuf,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_port() -> u16 {
    587
}
fn default_tls() -> TlsMode {
    TlsMode::Starttls
}
fn default_weight() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    pub public_rate_per_second: u32,
    pub public_burst: u32,
    /// Peers whose forwarding header is believed (reverse proxies, load balancers).
    pub trusted_proxies: Vec<ProxyNet>,
    /// The header those proxies write the client's address into.
    pub client_ip_header: ClientIpHeader,
}

/// An address or a CIDR block: `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet(pub ipnet::IpNet);

impl<'de> Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "{text:?} is not an IP address or a CIDR block such as 10.0.0.0/8"
                ))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientIpHeader {
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// RFC 7239.
    #[serde(rename = "forwarded")]
    Forwarded,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSettings {
    pub token_key: Secret,
    pub previous_token_keys: Vec<Secret>,
}

/// A string that never reaches a log: `Debug` prints a fixed mask.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl Settings {
    /// Loads defaults, then `explicit` (or `mailroom.toml` if it exists), then the environment.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        match explicit {
            Some(path) => {
                anyhow::ensure!(
                    path.is_file(),
                    "config file {} does not exist or is not a file",
                    path.display()
                );
                figment = figment.merge(Toml::file_exact(path));
            }
            None if Path::new(LOCAL_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(LOCAL_FILE));
            }
            None => {}
        }
        let figment = figment.merge(
            Env::prefixed("MAILROOM_")
                .split("__")
                .ignore(&["config", "log"]),
        );
        let settings: Settings = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("{}", e))
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Whether messages sent with these settings carry an unsubscribe link that mailbox
    /// providers act on. Gmail, Yahoo and the rest ignore a one-click (RFC 8058) link that is
    /// not https, so list mail going to real mailboxes needs an https `newsletter.base_url`.
    /// The outbox is for trying things out, where the quick start's http://127.0.0.1 is fine.
    /// A send is refused with this error (CLI and admin API alike) and `serve`/`worker` warn.
    pub fn check_unsubscribe_links(&self) -> Result<()> {
        let base = &self.newsletter.base_url;
        if self.delivery.transport == TransportKind::Smtp && !base.starts_with("https://") {
            anyhow::bail!(
                "newsletter.base_url is {base:?}, but delivery.transport = \"smtp\" sends to real \
                 mailboxes, whose providers ignore a one-click unsubscribe link that is not \
                 https: set newsletter.base_url (or MAILROOM_NEWSLETTER__BASE_URL) to the \
                 https:// address where `mailroom serve` is reachable"
            );
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let d = &self.delivery;
        anyhow::ensure!(
            d.rate_per_second > 0,
            "delivery.rate_per_second must be at least 1"
        );
        anyhow::ensure!(d.concurrency > 0, "delivery.concurrency must be at least 1");
        anyhow::ensure!(d.batch_size > 0, "delivery.batch_size must be at least 1");
        anyhow::ensure!(
            d.lease_seconds > 0,
            "delivery.lease_seconds must be at least 1"
        );
        let b = &self.bounces;
        anyhow::ensure!(
            b.soft_bounce_window_days > 0,
            "bounces.soft_bounce_window_days must be at least 1"
        );
        anyhow::ensure!(
            b.max_message_bytes >= 64 * 1024,
            "bounces.max_message_bytes must be at least 65536: real bounces carry the returned message"
        );
        let pop3 = &b.pop3;
        anyhow::ensure!(
            pop3.max_messages > 0,
            "bounces.pop3.max_messages must be at least 1"
        );
        anyhow::ensure!(
            pop3.host.is_empty() || !pop3.username.is_empty(),
            "bounces.pop3.username must be set when bounces.pop3.host is"
        );
        let smtp = &self.smtp;
        anyhow::ensure!(
            smtp.rest_after_failures > 0,
            "smtp.rest_after_failures must be at least 1"
        );
        anyhow::ensure!(
            smtp.weight > 0 || smtp.relays.iter().any(|r| r.weight > 0),
            "smtp.weight: at least one relay needs a weight above 0"
        );
        for (n, relay) in smtp.relays.iter().enumerate() {
            anyhow::ensure!(
                !relay.host.trim().is_empty(),
                "smtp.relays[{n}].host must not be empty"
            );
        }
        let base = &self.newsletter.base_url;
        anyhow::ensure!(
            base.starts_with("https://") || base.starts_with("http://"),
            "newsletter.base_url must start with https:// or http://, got {base:?}"
        );
        let admin = &self.admin.token;
        anyhow::ensure!(
            admin.is_empty() || admin.expose().len() >= 24,
            "admin.token must be at least 24 characters"
        );
        let w = &self.webhooks;
        anyhow::ensure!(
            w.max_body_bytes >= 1024,
            "webhooks.max_body_bytes must be at least 1024"
        );
        anyhow::ensure!(
            w.postmark.username.is_empty() == w.postmark.password.is_empty(),
            "webhooks.postmark: set both username and password, or neither"
        );
        anyhow::ensure!(
            w.postmark.password.is_empty() || w.postmark.password.expose().len() >= 16,
            "webhooks.postmark.password must be at least 16 characters"
        );
        let key = &self.secrets.token_key;
        anyhow::ensure!(
            key.is_empty() || key.expose().len() >= 32,
            "secrets.token_key must be at least 32 characters"
        );
        let d = &self.dashboard;
        anyhow::ensure!(
            (1..=24 * 90).contains(&d.session_hours),
            "dashboard.session_hours must be between 1 and 2160"
        );
        anyhow::ensure!(
            d.sign_in_per_ip > 0 && d.sign_in_per_account > 0 && d.sign_in_window_seconds > 0,
            "dashboard.sign_in_per_ip, sign_in_per_account and sign_in_window_seconds must be at least 1"
        );
        let c = &self.checks;
        anyhow::ensure!(
            c.link_timeout_seconds > 0 && (1..=64).contains(&c.link_concurrency),
            "checks.link_timeout_seconds must be at least 1 and checks.link_concurrency between 1 and 64"
        );
        anyhow::ensure!(
            self.doctor.timeout_seconds > 0,
            "doctor.timeout_seconds must be at least 1"
        );
        self.doctor.nameserver_addresses()?;
        let archive = &self.archive;
        let url = archive.base_url.trim();
        anyhow::ensure!(
            url.is_empty() || url.starts_with("https://") || url.starts_with("http://"),
            "archive.base_url must be empty or start with https:// or http://, got {url:?}"
        );
        anyhow::ensure!(
            (1..=1000).contains(&archive.per_page),
            "archive.per_page must be between 1 and 1000"
        );
        anyhow::ensure!(
            (1..=1000).contains(&archive.feed_items),
            "archive.feed_items must be between 1 and 1000"
        );
        let analytics = &self.analytics;
        anyhow::ensure!(
            analytics.burst_fraction > 0.0 && analytics.burst_fraction <= 1.0,
            "analytics.burst_fraction must be above 0 and at most 1, got {}",
            analytics.burst_fraction
        );
        anyhow::ensure!(
            analytics.burst_min_links >= 2,
            "analytics.burst_min_links must be at least 2: one click is never a burst"
        );
        anyhow::ensure!(
            analytics
                .scanner_user_agents
                .iter()
                .all(|a| !a.trim().is_empty()),
            "analytics.scanner_user_agents must not contain empty entries (they would match every request)"
        );
        Ok(())
    }
}
