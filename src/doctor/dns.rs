//! The doctor's DNS: hickory's resolver (through mail-auth, whose SPF evaluator queries
//! it), asked for exactly the records the mailbox providers look at.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, Result};
use mail_auth::MessageAuthenticator;
use mail_auth::common::parse::TxtRecordParser as _;
use mail_auth::dmarc::Dmarc;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::net::NetError;
use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mail_auth::spf::verify::SpfParameters;

pub struct Dns {
    auth: MessageAuthenticator,
}

/// What answers for a domain's mail.
pub enum Mx {
    /// MX hosts, most preferred first.
    Hosts(Vec<String>),
    /// "0 ." (RFC 7505): the domain takes no mail.
    Null,
    /// No MX, but an address record (the implicit MX of RFC 5321 5.1).
    AddressOnly,
    /// Neither.
    Nothing,
}

/// A DMARC TXT record as published, and mail-auth's reading of it (or why it has none).
pub type DmarcRecord = (String, Result<Dmarc, String>);

impl Dns {
    /// `servers` empty: the system's configuration (/etc/resolv.conf).
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Self> {
        let (config, mut options) = if servers.is_empty() {
            read_system_conf().context("reading the system's DNS configuration")?
        } else {
            let servers = servers
                .iter()
                .map(|server| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = server.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = server.port();
                    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
                })
                .collect();
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        options.timeout = timeout;
        options.attempts = 1;
        // DKIM records of 2048-bit keys and long SPF records outgrow 512 bytes: ask for
        // larger UDP answers rather than retrying over TCP.
        options.edns0 = true;
        // What is published now, not what an earlier run saw: the operator runs doctor
        // again right after fixing a record.
        options.cache_size = 0;
        let auth =
            MessageAuthenticator::new(config, options).context("setting up the DNS resolver")?;
        Ok(Self { auth })
    }

    /// The TXT records at `name`, each as one string (its character-strings joined, RFC
    /// 7208 3.3); none when the name does not exist or has no TXT.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>> {
        match self.auth.resolver().txt_lookup(fqdn(name)).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(failed(name, "TXT", e)),
        }
    }

    /// The SPF records (TXT starting with "v=spf1") at `domain`.
    pub async fn spf_records(&self, domain: &str) -> Result<Vec<String>> {
        Ok(self
            .txt(domain)
            .await?
            .into_iter()
            .filter(|t| {
                let t = t.trim_start();
                t.len() >= 6
                    && t[..6].eq_ignore_ascii_case("v=spf1")
                    && t[6..].chars().next().is_none_or(|c| c == ' ')
            })
            .collect())
    }

    /// check_host() for MAIL FROM `sender` sent from `ip` (RFC 7208).
    pub async fn spf(&self, ip: IpAddr, helo: &str, sender: &str) -> mail_auth::SpfResult {
        self.auth
            .verify_spf(SpfParameters::verify_mail_from(ip, helo, helo, sender))
            .await
            .result()
    }

    /// The DMARC record at `_dmarc.{domain}`: `None` when there is none. Several records
    /// count as none usable (RFC 7489 6.6.3), reported as such.
    pub async fn dmarc(&self, domain: &str) -> Result<Option<DmarcRecord>> {
        let records: Vec<String> = self
            .txt(&format!("_dmarc.{domain}"))
            .await?
            .into_iter()
            .filter(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
            .collect();
        Ok(match records.as_slice() {
            [] => None,
            [one] => Some((
                one.clone(),
                Dmarc::parse(one.as_bytes()).map_err(|e| format!("{e:?}")),
            )),
            many => Some((
                many.join("\" and \""),
                Err(format!("{} records where there must be one", many.len())),
            )),
        })
    }

    pub async fn mx(&self, domain: &str) -> Result<Mx> {
        match self.auth.resolver().mx_lookup(fqdn(domain)).await {
            Ok(lookup) => {
                let mut hosts: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                hosts.sort();
                if hosts.len() == 1 && hosts[0].1.is_empty() {
                    return Ok(Mx::Null);
                }
                Ok(Mx::Hosts(hosts.into_iter().map(|(_, h)| h).collect()))
            }
            Err(e) if e.is_no_records_found() => {
                if self.addresses(domain).await?.is_empty() {
                    Ok(Mx::Nothing)
                } else {
                    Ok(Mx::AddressOnly)
                }
            }
            Err(e) => Err(failed(domain, "MX", e)),
        }
    }

    /// A host's addresses (A and AAAA); an IP literal is itself.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self.auth.resolver().lookup_ip(fqdn(host)).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(failed(host, "A/AAAA", e)),
        }
    }
}

/// Absolute, so the resolver's search domains never apply.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn failed(name: &str, kind: &str, e: NetError) -> anyhow::Error {
    anyhow::anyhow!("{kind} lookup of {name} failed: {e}")
}
