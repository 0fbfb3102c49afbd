//! How one delivery attempt ended, as the worker decides it from the relay's reply.

use std::fmt;

use serde::Serialize;

use super::reply::Enhanced;

/// Where one delivery (an issue to one subscriber) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for a worker.
    Queued,
    /// Claimed by a worker, under a lease.
    Sending,
    Sent,
    /// Failed for now; due again at `due_at`.
    Retry,
    /// Refused for good.
    Failed,
    /// The subscriber left the list before their turn: nothing was sent.
    Suppressed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Retry,
        Self::Failed,
        Self::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Retry => "retry",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }
}

/// Where a send (an issue to its whole list) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "TEXT", rename_all = "lowercase")]
pub enum SendStatus {
    Running,
    /// By the operator, or by itself (see `sends.paused_reason`).
    Paused,
    /// Nothing left to do.
    Done,
    Cancelled,
}

impl SendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    /// Done or cancelled: nothing more will happen to it.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SendStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        message_id: String,
        reply: String,
    },
    Retry {
        due_at: String,
        error: String,
    },
    /// Permanently refused; what that means for the subscriber is in the bounce's kind.
    Failed(Bounce),
    Suppressed {
        reason: String,
    },
    /// The message cannot go out as it is (the relay refused the message itself, or it
    /// cannot be built): the delivery waits, untouched, and the send pauses for the
    /// operator, with `reason` shown by `send status`.
    PauseSend {
        reason: String,
        error: String,
    },
}

impl Outcome {
    /// A short name for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sent { .. } => "sent",
            Self::Retry { .. } => "retry",
            Self::Failed(b) => match b.kind {
                BounceKind::Hard => "hard_bounce",
                BounceKind::Soft => "soft_bounce",
                BounceKind::Blocked => "blocked",
            },
            Self::Suppressed { .. } => "suppressed",
            Self::PauseSend { .. } => "send_paused",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BounceKind {
    /// The address is dead: the subscriber is suppressed at once.
    Hard,
    /// Counted against the subscriber (mailbox full, retries expired), not suppressed.
    Soft,
    /// A policy block: not the subscriber's fault, no change to them.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounce {
    pub kind: BounceKind,
    /// Reply and enhanced status codes, e.g. "550 5.1.1".
    pub status: String,
    pub error: String,
    /// The same codes apart, for the bounces table.
    #[serde(skip)]
    pub reply_code: Option<u16>,
    #[serde(skip)]
    pub enhanced: Option<Enhanced>,
}
