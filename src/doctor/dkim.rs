//! DKIM: the public key published at `selector._domainkey.domain` must be the public half
//! of the private key mailroom signs with, or every signature fails to verify.

use anyhow::{Context as _, Result};
use data_encoding::BASE64;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;

use super::Check;
use super::dns::Dns;
use crate::checks::Severity;
use crate::config::{DkimAlgorithm, Settings};

/// Gmail and Yahoo accept 1024-bit RSA keys but ask for 2048; shorter ones fail.
const RSA_RECOMMENDED_BITS: usize = 2048;
const RSA_MINIMUM_BITS: usize = 1024;

pub struct DkimCheck {
    pub check: Check,
    /// The signing domain (d=), when the published key is ours: our signatures verify
    /// (warnings such as t=y or a short key aside), which is what DMARC counts.
    pub verified: Option<String>,
}

/// Our public key, as it is compared and as the record to publish carries it.
enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    Ed25519([u8; 32]),
}

impl PublicKey {
    fn from_private(algorithm: DkimAlgorithm, private: &str) -> Result<Self> {
        // Read as lettre reads it (src/message.rs signs with lettre), so a key that loads
        // here is the key that signs.
        match algorithm {
            DkimAlgorithm::Rsa => {
                let key = rsa::RsaPrivateKey::from_pkcs1_pem(private.trim())
                    .context("dkim: the private key is not a PKCS#1 PEM RSA key")?;
                Ok(Self::Rsa(rsa::RsaPublicKey::from(&key)))
            }
            DkimAlgorithm::Ed25519 => {
                let seed: [u8; 32] = BASE64
                    .decode(private.trim().as_bytes())
                    .ok()
                    .and_then(|bytes| bytes.try_into().ok())
                    .context("dkim: the private key is not a base64 32-byte Ed25519 seed")?;
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                Ok(Self::Ed25519(key.verifying_key().to_bytes()))
            }
        }
    }

    fn k(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "rsa",
            Self::Ed25519(_) => "ed25519",
        }
    }

    /// p= as it should be published: SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1, as
    /// opendkim-genkey writes it), the raw 32 bytes for Ed25519 (RFC 8463).
    fn p(&self) -> Result<String> {
        Ok(match self {
            Self::Rsa(key) => BASE64.encode(
                key.to_public_key_der()
                    .context("dkim: encoding the public key")?
                    .as_bytes(),
            ),
            Self::Ed25519(bytes) => BASE64.encode(bytes),
        })
    }

    /// Whether published key bytes are this key. RSA keys are accepted as
    /// SubjectPublicKeyInfo or as a bare RSAPublicKey: verifiers read both.
    fn matches(&self, published: &[u8]) -> Result<bool, String> {
        match self {
            Self::Rsa(ours) => {
                let theirs = rsa::RsaPublicKey::from_public_key_der(published)
                    .or_else(|_| rsa::RsaPublicKey::from_pkcs1_der(published))
                    .map_err(|_| "p= is not an RSA public key".to_string())?;
                Ok(&theirs == ours)
            }
            Self::Ed25519(ours) => {
                if published.len() != 32 {
                    return Err(format!(
                        "p= is {} bytes, an Ed25519 key is 32",
                        published.len()
                    ));
                }
                Ok(published == ours)
            }
        }
    }
}

/// The record's tags (RFC 6376 3.6.1): `tag=value` separated by semicolons, whitespace
/// around and inside values ignored where the grammar allows it.
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            Some((
                name.trim().to_ascii_lowercase(),
                value.chars().filter(|c| !c.is_whitespace()).collect(),
            ))
        })
        .collect()
}

pub async fn check(settings: &Settings, dns: &Dns, from_domain: &str) -> Result<DkimCheck> {
    let s = &settings.dkim;
    let domain = s.signing_domain(from_domain).trim().to_ascii_lowercase();
    let done = |check: Check| {
        Ok(DkimCheck {
            check,
            verified: None,
        })
    };
    if s.selector.is_empty() {
        return done(Check::fail(
            "dkim",
            "messages are not DKIM-signed (dkim.selector is empty); Gmail and Yahoo require DKIM of bulk senders",
            "generate a key (openssl genrsa -traditional 2048), set dkim.selector and dkim.private_key_file, then run doctor again for the record to publish",
        ));
    }
    let private = crate::message::dkim_private_key(s)?;
    let ours = PublicKey::from_private(s.algorithm, &private)?;
    let name = format!("{}._domainkey.{domain}", s.selector);
    let publish = format!(
        "publish TXT at {name}: \"v=DKIM1; k={}; p={}\"",
        ours.k(),
        ours.p()?
    );
    let records = match dns.txt(&name).await {
        Ok(records) => records,
        Err(e) => return done(super::dns_warning("dkim", &name, &e)),
    };
    // A name can carry other TXT records; the key record is the one with p= (v=DKIM1
    // optional, and first when present).
    let keys: Vec<&String> = records
        .iter()
        .filter(|r| tags(r).iter().any(|(t, _)| t == "p"))
        .collect();
    let record = match keys.as_slice() {
        [] => {
            return done(Check::fail(
                "dkim",
                format!("no DKIM key published at {name}: receivers cannot verify our signatures"),
                publish,
            ));
        }
        [one] => *one,
        many => {
            return done(Check::fail(
                "dkim",
                format!(
                    "{} DKIM key records at {name}; verifiers may pick any",
                    many.len()
                ),
                format!("keep one: {publish}"),
            ));
        }
    };
    let tags = tags(record);
    let tag = |name: &str| {
        tags.iter()
            .find(|(t, _)| t == name)
            .map(|(_, v)| v.as_str())
    };
    if tag("v").is_some_and(|v| v != "DKIM1") {
        return done(Check::fail(
            "dkim",
            format!(
                "the record at {name} has v={}, not DKIM1",
                tag("v").unwrap_or("")
            ),
            publish,
        ));
    }
    let k = tag("k").unwrap_or("rsa").to_ascii_lowercase();
    if k != ours.k() {
        return done(Check::fail(
            "dkim",
            format!(
                "the key at {name} is k={k}, but dkim.algorithm signs with {}",
                ours.k()
            ),
            publish,
        ));
    }
    let p = tag("p").unwrap_or("");
    if p.is_empty() {
        return done(Check::fail(
            "dkim",
            format!("the key at {name} is revoked (empty p=)"),
            publish,
        ));
    }
    let Ok(published) = BASE64.decode(p.as_bytes()) else {
        return done(Check::fail(
            "dkim",
            format!("p= at {name} is not base64"),
            publish,
        ));
    };
    match ours.matches(&published) {
        Err(problem) => {
            return done(Check::fail("dkim", format!("{problem} at {name}"), publish));
        }
        Ok(false) => {
            return done(Check::fail(
                "dkim",
                format!(
                    "the key published at {name} is not the public half of the configured private key: every signature would fail"
                ),
                publish,
            ));
        }
        Ok(true) => {}
    }
    let mut check = Check::pass(
        "dkim",
        format!("{name} publishes the public half of our {} key", ours.k()),
    );
    if let PublicKey::Rsa(key) = &ours {
        let bits = key.size() * 8;
        if bits < RSA_MINIMUM_BITS {
            check = Check::fail(
                "dkim",
                format!(
                    "the RSA key is {bits} bits; receivers ignore signatures under {RSA_MINIMUM_BITS}"
                ),
                format!(
                    "generate a {RSA_RECOMMENDED_BITS}-bit key and publish it under a new selector"
                ),
            );
        } else if bits < RSA_RECOMMENDED_BITS {
            check = Check::warn(
                "dkim",
                format!(
                    "{name} matches, but the RSA key is {bits} bits; Gmail and Yahoo ask for {RSA_RECOMMENDED_BITS}"
                ),
                format!(
                    "generate a {RSA_RECOMMENDED_BITS}-bit key and publish it under a new selector"
                ),
            );
        }
    }
    if check.status == Severity::Ok
        && tag("t").is_some_and(|t| t.split(':').any(|f| f.eq_ignore_ascii_case("y")))
    {
        check = Check::warn(
            "dkim",
            format!(
                "{name} matches, but is in testing mode (t=y): receivers may treat signed mail as unsigned"
            ),
            format!("remove t=y from the record at {name}"),
        );
    }
    Ok(DkimCheck {
        verified: (check.status != Severity::Error).then_some(domain),
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::tags;

    #[test]
    fn tags_ignore_folding_whitespace_and_case_of_names() {
        let t = tags("v=DKIM1; K=rsa;\n p=MIIB IjAN ; t=y:s");
        assert_eq!(
            t,
            vec![
                ("v".to_string(), "DKIM1".to_string()),
                ("k".to_string(), "rsa".to_string()),
                ("p".to_string(), "MIIBIjAN".to_string()),
                ("t".to_string(), "y:s".to_string()),
            ]
        );
    }
}
