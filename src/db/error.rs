//! The data layer's one error type. Callers (the CLI, the HTTP API) decide what each kind
//! means to their user — an exit code, an HTTP status — in one place of their own, instead
//! of guessing from message text.

use std::fmt;

/// What went wrong, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (no such issue, subscriber, send).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but the current state refuses it (a finalized issue
    /// cannot change; a finished send cannot be resumed).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed (a time that is not a time).
    #[error("{0}")]
    Invalid(String),
    /// The database could not serve the request now (locked beyond the busy timeout, pool
    /// exhausted, I/O error): worth retrying later, not the caller's fault.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or damaged data. Details are for the log, not for clients.
    #[error(transparent)]
    Internal(anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn not_found(message: impl fmt::Display) -> Self {
        Self::NotFound(message.to_string())
    }

    pub fn conflict(message: impl fmt::Display) -> Self {
        Self::Conflict(message.to_string())
    }

    pub fn invalid(message: impl fmt::Display) -> Self {
        Self::Invalid(message.to_string())
    }

    pub fn internal(message: impl fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{message}"))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            return Self::Unavailable(e);
        }
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict(db.message().to_string());
        }
        Self::Internal(e.into())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(e) => e,
            Err(e) => match e.downcast::<sqlx::Error>() {
                Ok(e) => e.into(),
                Err(e) => Self::Internal(e),
            },
        }
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended codes (the low byte is the
/// primary code), and failures to get a connection at all.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 5 | 6)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anyhow_wrapping_keeps_the_kind() {
        let wrapped: anyhow::Error = Error::conflict("frozen").into();
        assert!(matches!(Error::from(wrapped), Error::Conflict(m) if m == "frozen"));
        let pool: anyhow::Error = sqlx::Error::PoolTimedOut.into();
        assert!(matches!(Error::from(pool), Error::Unavailable(_)));
        let other = anyhow::anyhow!("something else");
        assert!(matches!(Error::from(other), Error::Internal(_)));
    }
}
