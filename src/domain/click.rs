//! Why a click on a counted link is taken for a machine's rather than a person's.

use serde::Serialize;

/// The rule that marked a click as a machine's (see the README, "Click counts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineReason {
    /// A HEAD request: link checkers ask for headers, browsers never do for a link.
    Head,
    /// A user agent on the scanner list.
    Agent,
    /// Sooner after delivery than a person could have opened the message.
    Early,
    /// Part of a run over most of one message's links within seconds.
    Burst,
}

impl MachineReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Agent => "agent",
            Self::Early => "early",
            Self::Burst => "burst",
        }
    }
}
