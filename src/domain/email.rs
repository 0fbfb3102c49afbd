//! A subscriber's address, validated and normalized once.

use std::fmt;
use std::str::FromStr;

use lettre::Address;

/// A deliverable mailbox address: trimmed, domain lower-cased and in ASCII (an IDN domain
/// becomes punycode, RFC 5891), checked by lettre's parser.
///
/// The local part keeps its case (RFC 5321 leaves it to the receiving host); the domain is
/// case-insensitive, so lower-casing it makes the stored form the duplicate key, and
/// `bücher.de` and `xn--bcher-kva.de` are one address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriberEmail(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("the address is empty")]
    Empty,
    #[error("the address contains a line break or control character")]
    ControlCharacter,
    #[error("the address must be a bare address like name@example.org, not a display name")]
    DisplayName,
    #[error("the local part (before @) is longer than 64 characters")]
    LocalTooLong,
    #[error("the address is longer than 254 characters")]
    TooLong,
    #[error("the domain must contain a dot, like example.org")]
    NoDot,
    #[error("the domain {0:?} is not a valid internationalized domain name")]
    BadDomain(String),
    #[error("not a valid email address: {0}")]
    Invalid(String),
}

impl SubscriberEmail {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(EmailError::ControlCharacter);
        }
        if trimmed.contains(['<', '>']) || trimmed.chars().any(char::is_whitespace) {
            return Err(EmailError::DisplayName);
        }
        // Length limits of RFC 5321 first: they give a clearer reason than the parser's.
        if trimmed
            .rsplit_once('@')
            .is_some_and(|(local, _)| local.len() > 64)
        {
            return Err(EmailError::LocalTooLong);
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(EmailError::Invalid("missing @".into()));
        };
        let ascii_domain = if domain.is_ascii() {
            domain.to_ascii_lowercase()
        } else {
            // UTS 46 mapping also folds case and full-width forms, so visually equal
            // domains meet in one stored form.
            idna::domain_to_ascii(domain).map_err(|_| EmailError::BadDomain(domain.into()))?
        };
        let candidate = format!("{local}@{ascii_domain}");
        if candidate.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let address =
            Address::from_str(&candidate).map_err(|e| EmailError::Invalid(e.to_string()))?;
        let domain = address.domain().to_ascii_lowercase();
        // Single-label domains and address literals do not reach a newsletter audience.
        if !domain.contains('.') || domain.starts_with('[') {
            return Err(EmailError::NoDot);
        }
        Ok(Self(format!("{}@{}", address.user(), domain)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl AsRef<str> for SubscriberEmail {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_domain_case_and_whitespace() {
        let e = SubscriberEmail::parse("  Ada.Lovelace@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@example.org");
        assert_eq!(e.domain(), "example.org");
    }

    #[test]
    fn idn_domains_become_punycode() {
        let e = SubscriberEmail::parse("leser@Bücher.DE").unwrap();
        assert_eq!(e.as_str(), "leser@xn--bcher-kva.de");
        assert_eq!(
            SubscriberEmail::parse("leser@xn--bcher-kva.de").unwrap(),
            e,
            "the punycode spelling is the same subscriber"
        );
        assert!(matches!(
            SubscriberEmail::parse("a@bü\u{202e}cher.de"),
            Err(EmailError::BadDomain(_) | EmailError::ControlCharacter)
        ));
    }

    #[test]
    fn refuses_bad_forms() {
        let cases = [
            ("", EmailError::Empty),
            ("a@b.org\r\nBcc: x@y.org", EmailError::ControlCharacter),
            ("Ada <ada@example.org>", EmailError::DisplayName),
            ("ada@localhost", EmailError::NoDot),
            (
                &format!("{}@example.org", "a".repeat(65)),
                EmailError::LocalTooLong,
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                SubscriberEmail::parse(input),
                Err(expected),
                "input {input:?}"
            );
        }
        assert!(matches!(
            SubscriberEmail::parse("no-at-sign"),
            Err(EmailError::Invalid(_))
        ));
        assert!(matches!(
            SubscriberEmail::parse("a@@b.org"),
            Err(EmailError::Invalid(_))
        ));
    }
}
