//! HTTPS GETs to Amazon SNS, pinned to the configured hosts: the signing certificates
//! (cached by URL, and so are failures for a while) and subscription confirmations.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::sync::OnceCell;
use url::Url;
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// A certificate's public key, as the certificate names it.
pub type PublicKey = Arc<SubjectPublicKeyInfoOwned>;

/// A certificate is a couple of kilobytes; a confirmation answer a few hundred bytes.
const MAX_RESPONSE: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// For the whole exchange, the body included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// SNS signs with a handful of certificates; more URLs than this are someone probing.
const MAX_CACHED: usize = 64;
/// A certificate URL whose fetch failed is not fetched again for this long: anyone can post
/// a message naming it, and each would otherwise make us fetch.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(5 * 60);

/// Why a URL or its certificate was not used.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not one we may fetch: the message is not genuine.
    #[error("{0}")]
    Refused(String),
    /// The fetch failed (network, TLS, status): perhaps only for now.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What fetching a certificate URL gave.
type Outcome = Result<PublicKey, Failure>;

#[derive(Debug)]
struct Failure {
    at: Instant,
    error: String,
}

pub struct Fetcher {
    hosts: Vec<String>,
    client: reqwest::Client,
    /// Per certificate URL: the key, the failure, or the fetch under way, which concurrent
    /// requests naming the URL wait for instead of fetching it again.
    keys: Mutex<HashMap<String, Arc<OnceCell<Outcome>>>>,
}

impl Fetcher {
    /// `hosts`: patterns of allowed `host[:port]`; `ca_file`: extra roots (PEM), or empty.
    pub fn new(hosts: &[String], ca_file: &Path) -> Result<Self> {
        let mut client = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            // Straight to the host `check` allowed, never through a proxy from the environment.
            .no_proxy()
            .user_agent("mailroom")
            .tls_built_in_root_certs(true);
        for cert in extra_roots(ca_file)? {
            client = client.add_root_certificate(cert);
        }
        let client = client.build().with_context(|| {
            format!(
                "the HTTPS client for SNS certificates (webhooks.ses.ca_file: {})",
                ca_file.display()
            )
        })?;
        Ok(Self {
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            client,
            keys: Mutex::new(HashMap::new()),
        })
    }

    /// An https URL on an allowed host, without credentials.
    pub fn check(&self, raw: &str) -> Result<Url, FetchError> {
        let refused = |why: &str| FetchError::Refused(format!("{why}: {raw:?}"));
        let url = Url::parse(raw).map_err(|_| refused("not a URL"))?;
        if url.scheme() != "https" {
            return Err(refused("not an https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("URL with credentials"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| refused("URL without a host"))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        if !self.hosts.iter().any(|p| host_matches(p, &authority)) {
            return Err(refused("host not allowed by webhooks.ses.cert_hosts"));
        }
        Ok(url)
    }

    /// The public key of the signing certificate at `raw`: fetched once per URL, and after
    /// a failure not again for [`RETRY_FAILED_AFTER`].
    pub async fn signing_key(&self, raw: &str) -> Result<PublicKey, FetchError> {
        let url = self.check(raw)?;
        if !url.path().ends_with(".pem") || url.query().is_some() {
            return Err(FetchError::Refused(format!(
                "not a certificate URL: {raw:?}"
            )));
        }
        let cell = self.cache_entry(url.as_str());
        let outcome = cell
            .get_or_init(|| async {
                self.fetch_key(&url).await.map_err(|e| Failure {
                    at: Instant::now(),
                    error: format!("{e:#}"),
                })
            })
            .await;
        match outcome {
            Ok(key) => Ok(key.clone()),
            Err(failure) => {
                let wait = RETRY_FAILED_AFTER.saturating_sub(failure.at.elapsed());
                Err(anyhow::anyhow!(
                    "{} (not fetched again for {} s)",
                    failure.error,
                    wait.as_secs()
                )
                .into())
            }
        }
    }

    /// The cache entry of a certificate URL; a new one if there is none or its failure is
    /// old enough to try again.
    fn cache_entry(&self, url: &str) -> Arc<OnceCell<Outcome>> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let retry_due = |cell: &&Arc<OnceCell<Outcome>>| match cell.get() {
            Some(Err(failure)) => failure.at.elapsed() >= RETRY_FAILED_AFTER,
            _ => false,
        };
        if let Some(cell) = keys.get(url).filter(|cell| !retry_due(cell)) {
            return cell.clone();
        }
        if keys.len() >= MAX_CACHED {
            // Full: failures and fetches under way (their waiters hold them) go before keys.
            keys.retain(|_, cell| matches!(cell.get(), Some(Ok(_))));
            if keys.len() >= MAX_CACHED {
                keys.clear();
            }
        }
        let cell = Arc::new(OnceCell::new());
        keys.insert(url.to_string(), cell.clone());
        cell
    }

    async fn fetch_key(&self, url: &Url) -> Result<PublicKey> {
        let (status, body) = self.get(url).await?;
        anyhow::ensure!(status == 200, "{url}: HTTP status {status}");
        certificate_key(&body).with_context(|| url.to_string())
    }

    /// GET over HTTPS: the status and the body, which must not exceed [`MAX_RESPONSE`].
    pub async fn get(&self, url: &Url) -> Result<(u16, Vec<u8>)> {
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("reading {url}"))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE {
                bail!("{url}: answer longer than {MAX_RESPONSE} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

/// The CA certificates of `webhooks.ses.ca_file`, each checked to be X.509; none when the
/// setting is empty.
fn extra_roots(ca_file: &Path) -> Result<Vec<reqwest::Certificate>> {
    if ca_file.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let place = || format!("webhooks.ses.ca_file: {}", ca_file.display());
    let certs = CertificateDer::pem_file_iter(ca_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("webhooks.ses.ca_file: reading {}", ca_file.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", place());
    certs
        .iter()
        .enumerate()
        .map(|(n, der)| {
            Certificate::from_der(der)
                .with_context(|| format!("{}: certificate {} is not X.509", place(), n + 1))?;
            reqwest::Certificate::from_der(der).with_context(place)
        })
        .collect()
}

/// The public key of a PEM certificate.
pub(super) fn certificate_key(pem: &[u8]) -> Result<PublicKey> {
    let der = CertificateDer::from_pem_slice(pem).context("not a PEM certificate")?;
    let cert = Certificate::from_der(&der).context("not an X.509 certificate")?;
    Ok(Arc::new(cert.tbs_certificate.subject_public_key_info))
}

/// `pattern` against `host[:port]`: `*` stands for exactly one DNS label, everything else
/// matches itself (case-insensitively), so `sns.*.amazonaws.com` takes no port and no
/// `sns.evil.example.amazonaws.com`.
fn host_matches(pattern: &str, authority: &str) -> bool {
    let authority = authority.to_ascii_lowercase();
    let (p_host, p_port) = split_port(pattern);
    let (host, port) = split_port(&authority);
    if p_port != port {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let patterns: Vec<&str> = p_host.split('.').collect();
    labels.len() == patterns.len()
        && labels.iter().zip(&patterns).all(|(label, p)| {
            if *p == "*" {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            } else {
                label == p
            }
        })
}

fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_keys_come_from_whole_pem_certificates_only() {
        let pem: &[u8] = include_bytes!("../../tests/fixtures/webhooks/rsa-cert.pem");
        let key = certificate_key(pem).unwrap();
        assert_eq!(key.algorithm.oid.to_string(), "1.2.840.113549.1.1.1");
        let der = CertificateDer::from_pem_slice(pem).unwrap();
        for cut in [0, 1, 100, der.len() - 1] {
            let armoured = format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                data_encoding::BASE64.encode(&der[..cut])
            );
            assert!(
                certificate_key(armoured.as_bytes()).is_err(),
                "truncated at {cut}"
            );
        }
        assert!(certificate_key(b"<ConfirmSubscriptionResponse/>").is_err());
    }

    #[test]
    fn failed_fetches_are_remembered_for_a_while_and_keys_outlast_them() {
        let f = Fetcher::new(&[], Path::new("")).unwrap();
        let pem = include_bytes!("../../tests/fixtures/webhooks/rsa-cert.pem");
        let failure = |ago| {
            Err(Failure {
                at: Instant::now()
                    .checked_sub(ago)
                    .expect("the clock started minutes ago"),
                error: "HTTP status 404".into(),
            })
        };
        let put = |url: &str, outcome: Outcome| {
            let cell = Arc::new(OnceCell::new_with(Some(outcome)));
            f.keys.lock().unwrap().insert(url.into(), cell);
        };
        let state = |url: &str| f.cache_entry(url).get().map(Result::is_ok);
        put("recent", failure(Duration::from_secs(60)));
        assert_eq!(state("recent"), Some(false), "a recent failure stands");
        put("old", failure(RETRY_FAILED_AFTER));
        assert_eq!(state("old"), None, "an old failure is fetched again");
        put("key", Ok(certificate_key(pem).unwrap()));
        put("recent", failure(Duration::from_secs(60)));
        for n in 0..MAX_CACHED {
            f.cache_entry(&format!("probe-{n}"));
        }
        assert_eq!(state("key"), Some(true), "a full cache keeps its keys");
        assert_eq!(state("recent"), None, "and forgets failures first");
    }

    #[test]
    fn host_patterns_take_one_label_and_the_exact_port() {
        let amazon = "sns.*.amazonaws.com";
        assert!(host_matches(amazon, "sns.eu-west-1.amazonaws.com"));
        assert!(host_matches(amazon, "SNS.us-east-1.AmazonAWS.com"));
        for other in [
            "sns.eu-west-1.amazonaws.com:8443",
            "sns.evil.example.amazonaws.com",
            "sns..amazonaws.com",
            "sns.eu-west-1.amazonaws.com.evil.example",
            "evil.example",
            "sns.eu_west.amazonaws.com",
        ] {
            assert!(!host_matches(amazon, other), "{other}");
        }
        assert!(host_matches("127.0.0.1:4443", "127.0.0.1:4443"));
        assert!(!host_matches("127.0.0.1:4443", "127.0.0.1:4444"));
        assert!(!host_matches("127.0.0.1:4443", "127.0.0.1"));
    }

    #[test]
    fn only_https_urls_on_allowed_hosts_pass() {
        let f = Fetcher::new(&["sns.*.amazonaws.com".into()], Path::new("")).unwrap();
        assert!(
            f.check("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem")
                .is_ok()
        );
        for bad in [
            "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-1.pem",
            "https://user:pw@sns.eu-west-1.amazonaws.com/x.pem",
            "https://sns.eu-west-1.amazonaws.com@evil.example/x.pem",
            "https://evil.example/sns.eu-west-1.amazonaws.com/x.pem",
            "not a url",
        ] {
            assert!(matches!(f.check(bad), Err(FetchError::Refused(_))), "{bad}");
        }
    }
}
