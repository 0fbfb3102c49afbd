//! When a send may start, when it is too late to start, and what an operator can do to it.

/// When a send may start and when it is too late to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub start_at: Option<String>,
    pub expires_at: Option<String>,
}

impl Schedule {
    /// From a start time (RFC 3339) and an expiry (e.g. "6h", "2days") counted from the
    /// start time or from now. Nonsense is refused before anything is stored; the error
    /// says which field, and the caller names it the way its user wrote it (a CLI flag, a
    /// JSON field).
    pub fn parse(
        at: Option<&str>,
        expire_after: Option<&str>,
    ) -> std::result::Result<Self, ScheduleError> {
        use time::format_description::well_known::Rfc3339;
        let refuse = |field, text: &str| ScheduleError {
            field,
            value: text.to_string(),
        };
        let start = match at {
            Some(text) => Some(
                time::OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|_| refuse(ScheduleField::At, text))?,
            ),
            None => None,
        };
        let expires = match expire_after {
            Some(text) => {
                let duration = humantime::parse_duration(text)
                    .map_err(|_| refuse(ScheduleField::ExpireAfter, text))?;
                Some(start.unwrap_or_else(time::OffsetDateTime::now_utc) + duration)
            }
            None => None,
        };
        Ok(Self {
            start_at: start.map(super::timestamp),
            expires_at: expires.map(super::timestamp),
        })
    }
}

/// Which part of a schedule was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleField {
    At,
    ExpireAfter,
}

/// A schedule value that is not a time or a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub field: ScheduleField,
    pub value: String,
}

impl std::fmt::Display for ScheduleError {
    /// Without the field's name: see [`Schedule::parse`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let expected = match self.field {
            ScheduleField::At => "an RFC 3339 time such as 2026-12-04T07:00:00Z",
            ScheduleField::ExpireAfter => "a duration such as 6h or 2days",
        };
        write!(f, "{:?}: expected {expected}", self.value)
    }
}

/// An operator's command for a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAction {
    Pause,
    Resume,
    Cancel,
}

impl SendAction {
    pub fn verb(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }
    pub fn past(self) -> &'static str {
        match self {
            Self::Pause => "paused",
            Self::Resume => "resumed",
            Self::Cancel => "cancelled",
        }
    }
}
