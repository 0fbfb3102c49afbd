//! What bounces and complaints do to an address: their class, and when soft bounces add up
//! to suppressing it.

use serde::Serialize;

/// What a bounce means for the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceClass {
    /// The address is dead: suppressed at once.
    Hard,
    /// Delivery failed for now: suppressed after repeats, if it counts at all.
    Soft,
    /// The recipient reported the message as spam: suppressed at once.
    Complaint,
}

impl BounceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
            Self::Complaint => "complaint",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Hard, Self::Soft, Self::Complaint]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

/// When soft bounces suppress an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Soft bounces of different deliveries within `window` that suppress; 0: never.
    pub soft_limit: u32,
    pub window: time::Duration,
}
