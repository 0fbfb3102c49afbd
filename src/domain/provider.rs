//! The email service providers whose bounce and complaint webhooks mailroom reads.

use serde::Serialize;

/// The relays whose webhooks mailroom understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Amazon SES notifications delivered by SNS.
    Ses,
    Postmark,
    Sendgrid,
    Mailgun,
}

impl Provider {
    pub const ALL: [Self; 4] = [Self::Ses, Self::Postmark, Self::Sendgrid, Self::Mailgun];

    /// The name in `/webhooks/{provider}` and in the replay table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ses => "ses",
            Self::Postmark => "postmark",
            Self::Sendgrid => "sendgrid",
            Self::Mailgun => "mailgun",
        }
    }

    /// The `source` of the events it causes.
    pub fn source(self) -> &'static str {
        match self {
            Self::Ses => "webhook:ses",
            Self::Postmark => "webhook:postmark",
            Self::Sendgrid => "webhook:sendgrid",
            Self::Mailgun => "webhook:mailgun",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}
