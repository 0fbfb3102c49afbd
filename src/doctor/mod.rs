//! `mailroom doctor`: the sending setup checked against the rules Gmail and Yahoo set for
//! bulk senders (SPF and DKIM, DMARC aligned with From, working bounces and one-click
//! unsubscribe over https), each reported as pass / warn / fail with what to change.
//!
//! DNS goes through hickory's resolver (the system's configuration, or
//! `doctor.nameservers`); SPF is evaluated by mail-auth's `check_host` (RFC 7208, with its
//! limit of 10 DNS-querying terms), DMARC records are parsed by mail-auth, and the
//! organizational domain for relaxed alignment comes from the Public Suffix List.

mod dkim;
mod dns;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::checks::{Row, Severity, table};
use crate::config::{Settings, TlsMode, TransportKind};
use crate::domain::SubscriberEmail;
use crate::transport::{Probe, ProbeStep, Relays};
use dns::Dns;

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// spf, dkim, dmarc, mx, base_url, relay.
    pub check: &'static str,
    #[serde(serialize_with = "verdict")]
    pub status: Severity,
    pub message: String,
    /// What to change, when something should.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(check: &'static str, message: impl Into<String>) -> Self {
        Self {
            check,
            status: Severity::Ok,
            message: message.into(),
            fix: None,
        }
    }
    fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            status: Severity::Warning,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            status: Severity::Error,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// pass / warn / fail: the doctor's words for the severities.
fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "pass",
        Severity::Warning => "warn",
        Severity::Error => "fail",
    }
}

fn verdict<S: serde::Serializer>(severity: &Severity, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(label(*severity))
}

/// Everything the doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The worst check's.
    #[serde(serialize_with = "verdict")]
    pub status: Severity,
    pub checks: Vec<Check>,
}

impl Report {
    fn new(checks: Vec<Check>) -> Self {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Severity::Ok);
        Self { status, checks }
    }

    /// The report for people: one aligned row per check, its fix on the row below.
    pub fn to_text(&self, colour: bool) -> String {
        let mut rows = Vec::new();
        for c in &self.checks {
            rows.push(Row {
                severity: c.status,
                label: label(c.status),
                name: c.check.to_string(),
                message: c.message.clone(),
            });
            if let Some(fix) = &c.fix {
                rows.push(Row {
                    severity: c.status,
                    label: "",
                    name: String::new(),
                    message: format!("fix: {fix}"),
                });
            }
        }
        let count = |s: Severity| self.checks.iter().filter(|c| c.status == s).count();
        format!(
            "{}{} passed, {} warning(s), {} failed\n",
            table(&rows, colour),
            count(Severity::Ok),
            count(Severity::Warning),
            count(Severity::Error)
        )
    }
}

/// What SPF concluded for every sending address.
enum Judged {
    /// Passes, for this envelope domain.
    Pass(String),
    Fail,
    /// Not evaluated (no public address known, a DNS failure, nothing sent).
    Unknown,
}

/// What SPF and DKIM concluded, for DMARC's alignment.
struct Authenticated {
    bounce_domain: String,
    spf: Judged,
    /// The signing domain (d=), when the published key matches ours.
    dkim: Option<String>,
}

/// Runs every check. Never fails on what it finds (that is the report); only a setting it
/// cannot use (e.g. a DKIM key that does not load) is an error.
pub async fn run(settings: &Settings) -> Result<Report> {
    let timeout = Duration::from_secs(settings.doctor.timeout_seconds.max(1));
    let dns = Dns::new(&settings.doctor.nameserver_addresses()?, timeout)?;
    let mut checks = Vec::new();

    // Parsed as subscribers' addresses are: the domain lowercased and in its ASCII (IDNA)
    // form, the form DNS is asked in.
    let from = SubscriberEmail::parse(&settings.newsletter.from_address).with_context(|| {
        format!(
            "newsletter.from_address {:?}",
            settings.newsletter.from_address
        )
    })?;
    let from_domain = from.domain().to_string();
    let bounce_domain = settings.delivery.bounce_domain.trim().to_ascii_lowercase();
    let smtp = settings.delivery.transport == TransportKind::Smtp;

    let spf = spf(settings, &dns, &bounce_domain, smtp).await;
    let spf_result = if spf.iter().all(|c| c.status == Severity::Ok) {
        Judged::Pass(bounce_domain.clone())
    } else if spf.iter().any(|c| c.status == Severity::Error) {
        Judged::Fail
    } else {
        Judged::Unknown
    };
    checks.extend(spf);

    let dkim = dkim::check(settings, &dns, &from_domain).await?;
    checks.push(dkim.check);

    checks.push(
        dmarc(
            &dns,
            &from_domain,
            &Authenticated {
                bounce_domain: bounce_domain.clone(),
                spf: spf_result,
                dkim: dkim.verified,
            },
        )
        .await,
    );
    checks.push(mx(&dns, &bounce_domain).await);
    checks.extend(
        base_url(
            &settings.newsletter.base_url,
            &settings.doctor.ca_file,
            timeout,
        )
        .await?,
    );
    if smtp {
        checks.extend(relays(settings).await?);
    } else {
        checks.push(Check::warn(
            "relay",
            "delivery.transport is \"file\": messages are written to the outbox, not sent",
            "set delivery.transport = \"smtp\" and the [smtp] relay to send for real",
        ));
    }
    Ok(Report::new(checks))
}

/// Whether an address says nothing about where mail leaves to the internet from.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The envelope sender's domain (bounces+TOKEN@bounce_domain) must authorize every address
/// mail leaves from: receivers evaluate SPF on MAIL FROM.
async fn spf(settings: &Settings, dns: &Dns, bounce_domain: &str, smtp: bool) -> Vec<Check> {
    let records = match dns.spf_records(bounce_domain).await {
        Ok(records) => records,
        Err(e) => return vec![dns_warning("spf", &format!("SPF of {bounce_domain}"), &e)],
    };
    let suggestion = |ips: &[IpAddr]| {
        if ips.is_empty() {
            "your relay's include: (its documentation names it)".to_string()
        } else {
            format!("{} (or your relay's include:)", mechanisms(ips))
        }
    };
    match records.len() {
        0 => {
            let ips = sending_ips(settings, dns).await.unwrap_or_default();
            let public: Vec<IpAddr> = ips.into_iter().filter(|ip| !is_private(*ip)).collect();
            let mechanisms = if public.is_empty() {
                "include:YOUR-RELAY".to_string()
            } else {
                mechanisms(&public)
            };
            return vec![Check::fail(
                "spf",
                format!(
                    "{bounce_domain} (the envelope sender's domain, delivery.bounce_domain) publishes no SPF record"
                ),
                format!("publish TXT at {bounce_domain}: \"v=spf1 {mechanisms} -all\""),
            )];
        }
        1 => {}
        n => {
            return vec![Check::fail(
                "spf",
                format!(
                    "{bounce_domain} publishes {n} SPF records; receivers treat that as a permanent error (RFC 7208 4.5)"
                ),
                format!("merge them into one TXT record starting \"v=spf1\" at {bounce_domain}"),
            )];
        }
    }
    if !smtp {
        return vec![Check::warn(
            "spf",
            format!(
                "{bounce_domain} publishes \"{}\"; not evaluated: nothing is sent with delivery.transport = \"file\"",
                records[0]
            ),
            "set delivery.transport = \"smtp\" and run doctor again",
        )];
    }
    let ips = match sending_ips(settings, dns).await {
        Ok(ips) => ips,
        Err(e) => {
            return vec![Check::warn(
                "spf",
                format!("could not resolve the relay's address: {e}"),
                "set doctor.sending_ips to the public addresses your mail leaves from",
            )];
        }
    };
    if settings.doctor.sending_ips.is_empty() && ips.iter().all(|ip| is_private(*ip)) {
        return vec![Check::warn(
            "spf",
            format!(
                "the relay is on this machine or a private network ({}): its address says nothing about the public one receivers judge; {bounce_domain} publishes \"{}\"",
                join(&ips),
                records[0]
            ),
            "set doctor.sending_ips to the public addresses your mail leaves from, and run doctor again",
        )];
    }
    let helo = if settings.smtp.helo_name.is_empty() {
        bounce_domain.to_string()
    } else {
        settings.smtp.helo_name.clone()
    };
    let sender = format!("bounces@{bounce_domain}");
    let mut results = Vec::with_capacity(ips.len());
    for ip in &ips {
        results.push((*ip, dns.spf(*ip, &helo, &sender).await));
    }
    use mail_auth::SpfResult::*;
    let with = |wanted: &[mail_auth::SpfResult]| -> Vec<(IpAddr, mail_auth::SpfResult)> {
        results
            .iter()
            .filter(|(_, r)| wanted.contains(r))
            .copied()
            .collect()
    };
    let record = &records[0];
    // The record as a whole first: a broken one fails for every address alike.
    if !with(&[PermError]).is_empty() {
        return vec![Check::fail(
            "spf",
            format!(
                "SPF of {bounce_domain} is broken (permerror): a syntax error, or more than 10 terms that query DNS (include, a, mx, ptr, exists, redirect), or more than 2 that find nothing; record: \"{record}\""
            ),
            "fix the record; flatten includes if it needs more than 10 lookups",
        )];
    }
    let mut checks = Vec::new();
    let failing = with(&[Fail, SoftFail, Neutral, None]);
    if !failing.is_empty() {
        let which: Vec<String> = failing
            .iter()
            .map(|(ip, r)| format!("{ip} ({})", spf_word(*r)))
            .collect();
        let ips: Vec<IpAddr> = failing.iter().map(|(ip, _)| *ip).collect();
        checks.push(Check::fail(
            "spf",
            format!(
                "SPF of {bounce_domain} does not authorize {}; record: \"{record}\"",
                which.join(", ")
            ),
            format!(
                "add {} to the SPF record at {bounce_domain}, before its \"all\"",
                suggestion(&ips)
            ),
        ));
    }
    let unsure = with(&[TempError]);
    if !unsure.is_empty() {
        let ips: Vec<IpAddr> = unsure.iter().map(|(ip, _)| *ip).collect();
        checks.push(Check::warn(
            "spf",
            format!(
                "SPF of {bounce_domain} for {}: a DNS lookup failed (temperror)",
                join(&ips)
            ),
            "run doctor again; if it persists, check the names the record includes",
        ));
    }
    if checks.is_empty() {
        checks.push(Check::pass(
            "spf",
            format!("{bounce_domain} authorizes {} (\"{record}\")", join(&ips)),
        ));
    }
    checks
}

/// `ip4:…`/`ip6:…` SPF terms for the addresses.
fn mechanisms(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("ip4:{v4}"),
            IpAddr::V6(v6) => format!("ip6:{v6}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn spf_word(result: mail_auth::SpfResult) -> &'static str {
    match result {
        mail_auth::SpfResult::Pass => "pass",
        mail_auth::SpfResult::Fail => "fail",
        mail_auth::SpfResult::SoftFail => "softfail",
        mail_auth::SpfResult::Neutral => "neutral",
        mail_auth::SpfResult::TempError => "temperror",
        mail_auth::SpfResult::PermError => "permerror",
        mail_auth::SpfResult::None => "none",
    }
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(|ip| ip.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `doctor.sending_ips`, or every address of every relay host.
async fn sending_ips(settings: &Settings, dns: &Dns) -> Result<Vec<IpAddr>> {
    if !settings.doctor.sending_ips.is_empty() {
        return Ok(settings.doctor.sending_ips.clone());
    }
    let mut ips = Vec::new();
    for host in Probe::hosts(settings) {
        for ip in dns.addresses(&host).await? {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    Ok(ips)
}

/// The registrable domain ("organizational domain", RFC 7489 3.2) by the Public Suffix
/// List; the domain itself when the list does not know its suffix.
fn organizational(domain: &str) -> String {
    psl::domain_str(domain)
        .unwrap_or(domain)
        .to_ascii_lowercase()
}

fn aligned(domain: &str, from: &str, alignment: mail_auth::dmarc::Alignment) -> bool {
    match alignment {
        mail_auth::dmarc::Alignment::Strict => domain.eq_ignore_ascii_case(from),
        mail_auth::dmarc::Alignment::Relaxed => organizational(domain) == organizational(from),
    }
}

/// A DMARC record for the From domain (or, failing that, its organizational domain), and
/// SPF or DKIM passing for a domain aligned with From.
async fn dmarc(dns: &Dns, from_domain: &str, authenticated: &Authenticated) -> Check {
    let org = organizational(from_domain);
    let found = match dns.dmarc(from_domain).await {
        Ok(Some(found)) => Some((from_domain.to_string(), found)),
        Ok(None) if org != from_domain => match dns.dmarc(&org).await {
            Ok(found) => found.map(|f| (org.clone(), f)),
            Err(e) => return dns_warning("dmarc", &format!("_dmarc.{org}"), &e),
        },
        Ok(None) => None,
        Err(e) => return dns_warning("dmarc", &format!("_dmarc.{from_domain}"), &e),
    };
    let Some((at, (text, record))) = found else {
        return Check::fail(
            "dmarc",
            format!("no DMARC record for {from_domain} (the From domain) or {org}"),
            format!(
                "publish TXT at _dmarc.{org}: \"v=DMARC1; p=none; rua=mailto:dmarc-reports@{org}\" (start with p=none, read the reports, then tighten)"
            ),
        );
    };
    let record = match record {
        Ok(record) => record,
        Err(problem) => {
            return Check::fail(
                "dmarc",
                format!("_dmarc.{at} is not a usable DMARC record ({problem}): \"{text}\""),
                format!(
                    "publish one TXT record at _dmarc.{at} starting \"v=DMARC1; p=…\" (none, quarantine or reject)"
                ),
            );
        }
    };
    let spf_aligned = match &authenticated.spf {
        Judged::Pass(d) => Some(d.as_str()).filter(|d| aligned(d, from_domain, record.aspf)),
        _ => None,
    };
    let dkim_aligned = authenticated
        .dkim
        .as_deref()
        .filter(|d| aligned(d, from_domain, record.adkim));
    let policy = match record.p {
        mail_auth::dmarc::Policy::None => "none",
        mail_auth::dmarc::Policy::Quarantine => "quarantine",
        mail_auth::dmarc::Policy::Reject => "reject",
        mail_auth::dmarc::Policy::Unspecified => "unspecified",
    };
    let mut aligned_by = Vec::new();
    if let Some(d) = spf_aligned {
        aligned_by.push(format!("SPF ({d})"));
    }
    if let Some(d) = dkim_aligned {
        aligned_by.push(format!("DKIM (d={d})"));
    }
    if aligned_by.is_empty() {
        let mode = |a: mail_auth::dmarc::Alignment| match a {
            mail_auth::dmarc::Alignment::Strict => "strict",
            mail_auth::dmarc::Alignment::Relaxed => "relaxed",
        };
        let spf = match &authenticated.spf {
            Judged::Pass(d) => format!(
                "SPF passes for {d}, which does not align ({})",
                mode(record.aspf)
            ),
            Judged::Fail => "SPF does not pass".to_string(),
            Judged::Unknown => "SPF was not judged".to_string(),
        };
        let dkim = match &authenticated.dkim {
            Some(d) => format!(
                "DKIM verifies for d={d}, which does not align ({})",
                mode(record.adkim)
            ),
            None => "DKIM does not verify".to_string(),
        };
        let message = format!(
            "DMARC p={policy} at _dmarc.{at}, but neither SPF nor DKIM aligns with {from_domain}: {spf}; {dkim}"
        );
        let fix = format!(
            "sign with d={from_domain} (dkim.domain) and publish its key, or use a bounce domain under {org} (delivery.bounce_domain)"
        );
        // Unjudged SPF for an aligned bounce domain may yet pass: say so, not fail.
        return match &authenticated.spf {
            Judged::Unknown if aligned(&authenticated.bounce_domain, from_domain, record.aspf) => {
                Check::warn("dmarc", message, fix)
            }
            _ => Check::fail("dmarc", message, fix),
        };
    }
    Check::pass(
        "dmarc",
        format!(
            "p={policy} at _dmarc.{at}; {} aligned with {from_domain}",
            aligned_by.join(" and ")
        ),
    )
}

fn dns_warning(check: &'static str, name: &str, error: &anyhow::Error) -> Check {
    Check::warn(
        check,
        format!("could not look up {name}: {error}"),
        "check that the DNS servers answer (doctor.nameservers), then run doctor again",
    )
}

/// Bounces come back to bounces+TOKEN@bounce_domain: the domain must receive mail.
async fn mx(dns: &Dns, bounce_domain: &str) -> Check {
    match dns.mx(bounce_domain).await {
        Err(e) => dns_warning("mx", &format!("MX of {bounce_domain}"), &e),
        Ok(dns::Mx::Hosts(hosts)) => Check::pass(
            "mx",
            format!("{bounce_domain} receives mail at {}", hosts.join(", ")),
        ),
        Ok(dns::Mx::Null) => Check::fail(
            "mx",
            format!(
                "{bounce_domain} publishes a null MX (RFC 7505): it accepts no mail, so bounces are lost"
            ),
            format!("publish an MX at {bounce_domain} for the mailbox mailroom reads bounces from"),
        ),
        Ok(dns::Mx::AddressOnly) => Check::warn(
            "mx",
            format!(
                "{bounce_domain} has no MX, only an address (mail would go to it, RFC 5321 5.1)"
            ),
            format!("publish an MX at {bounce_domain} for the mailbox mailroom reads bounces from"),
        ),
        Ok(dns::Mx::Nothing) => Check::fail(
            "mx",
            format!(
                "{bounce_domain} has no MX and no address: bounces cannot come back, and receivers refuse an envelope sender whose domain takes no mail"
            ),
            format!("publish an MX at {bounce_domain} for the mailbox mailroom reads bounces from"),
        ),
    }
}

/// Unsubscribe links and the List-Unsubscribe URL live under base_url: https (RFC 8058
/// one-click needs an HTTPS URI) and reachable.
async fn base_url(
    base_url: &str,
    ca_file: &std::path::Path,
    timeout: Duration,
) -> Result<Vec<Check>> {
    let base = base_url.trim().trim_end_matches('/');
    let mut checks = Vec::new();
    let parsed = url::Url::parse(base);
    match &parsed {
        Ok(url) if url.scheme() == "https" => checks.push(Check::pass(
            "base_url",
            format!("{base} is https"),
        )),
        Ok(_) => checks.push(Check::fail(
            "base_url",
            format!("{base} is not https: one-click unsubscribe (RFC 8058) needs an https URL, and Gmail and Yahoo require one-click"),
            "serve mailroom behind TLS (a reverse proxy with a certificate) and set newsletter.base_url to its https:// address",
        )),
        Err(e) => {
            checks.push(Check::fail(
                "base_url",
                format!("newsletter.base_url {base:?} is not a URL: {e}"),
                "set newsletter.base_url to the https:// address mailroom serves at",
            ));
            return Ok(checks);
        }
    }
    let health = format!("{base}/healthz");
    let mut client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mailroom-doctor/", env!("CARGO_PKG_VERSION")));
    if !ca_file.as_os_str().is_empty() {
        let pem = std::fs::read(ca_file)
            .with_context(|| format!("doctor.ca_file: reading {}", ca_file.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).with_context(|| {
            format!(
                "doctor.ca_file: {} is not a PEM certificate",
                ca_file.display()
            )
        })?;
        client = client.add_root_certificate(cert);
    }
    let client = client.build().context("setting up the HTTP client")?;
    match client.get(&health).send().await {
        Ok(response) if response.status().is_success() => checks.push(Check::pass(
            "base_url",
            format!("{health} answers {}", response.status()),
        )),
        Ok(response) => checks.push(Check::fail(
            "base_url",
            format!(
                "{health} answers {}: unsubscribe links would not work",
                response.status()
            ),
            "point newsletter.base_url at where `mailroom serve` answers (through its proxy)",
        )),
        Err(e) => checks.push(Check::fail(
            "base_url",
            format!(
                "{health} does not answer: {}",
                crate::transport::error_chain(&e)
            ),
            "start `mailroom serve` and make base_url reach it (DNS, proxy, certificate)",
        )),
    }
    Ok(checks)
}

/// Each relay: reachable, TLS as configured (STARTTLS or implicit), our credentials
/// accepted.
async fn relays(settings: &Settings) -> Result<Vec<Check>> {
    let relays = Relays::from_settings(settings)?;
    let mut checks = Vec::new();
    for probe in relays.probe().await {
        let relay = &probe.relay;
        let local = probe
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
            || probe.host.eq_ignore_ascii_case("localhost");
        match &probe.outcome {
            Err((step, error)) => {
                let fix = match step {
                    ProbeStep::Connect => {
                        "check smtp.host and smtp.port, and that this machine may reach the relay (firewall, outbound port 25 blocks)"
                    }
                    ProbeStep::Tls => {
                        "use the relay's TLS port and mode (smtp.tls = \"starttls\" on 587, \"tls\" on 465); for a private CA set smtp.ca_file"
                    }
                    ProbeStep::Auth => {
                        "check smtp.username and the password (MAILROOM_SMTP__PASSWORD, or the relay's password_env)"
                    }
                };
                checks.push(Check::fail("relay", error.clone(), fix));
            }
            Ok(()) => {
                let tls = match probe.tls {
                    TlsMode::Starttls => "accepts STARTTLS",
                    TlsMode::Tls => "speaks TLS",
                    TlsMode::None => "plain text",
                };
                let auth = if probe.credentials {
                    "accepts our credentials"
                } else {
                    "no credentials configured"
                };
                if probe.tls == TlsMode::None && !local {
                    checks.push(Check::fail(
                        "relay",
                        format!("{relay}: {tls}, {auth}: messages (and any credentials) cross the network unencrypted"),
                        "set smtp.tls = \"starttls\" (port 587) or \"tls\" (port 465)",
                    ));
                } else {
                    checks.push(Check::pass("relay", format!("{relay}: {tls}, {auth}")));
                }
            }
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organizational_domain_comes_from_the_public_suffix_list() {
        assert_eq!(organizational("letters.example.co.uk"), "example.co.uk");
        assert_eq!(organizational("news.example.com"), "example.com");
        assert_eq!(organizational("Example.COM"), "example.com");
        let relaxed = mail_auth::dmarc::Alignment::Relaxed;
        let strict = mail_auth::dmarc::Alignment::Strict;
        assert!(aligned(
            "bounces.example.co.uk",
            "letters.example.co.uk",
            relaxed
        ));
        assert!(!aligned("other.co.uk", "letters.example.co.uk", relaxed));
        assert!(!aligned("bounces.example.com", "example.com", strict));
        assert!(aligned("EXAMPLE.com", "example.com", strict));
    }

    #[test]
    fn private_addresses_say_nothing_about_the_public_one() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.9",
            "::1",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["192.0.2.10", "2001:db8::1", "8.8.8.8"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_report_exits_as_its_worst_check() {
        let report = Report::new(vec![
            Check::pass("mx", "ok"),
            Check::warn("dkim", "testing", "remove t=y"),
        ]);
        assert_eq!(report.status.exit_code(), 1);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "warn");
        assert_eq!(json["checks"][1]["fix"], "remove t=y");
        assert!(json["checks"][0].get("fix").is_none());
        let text = report.to_text(false);
        assert!(text.contains("warn     dkim  testing\n"), "{text}");
        assert!(text.contains("fix: remove t=y"), "{text}");
        assert!(report.to_text(true).contains("\x1b[33mwarn"));
    }
}
