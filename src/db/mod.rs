//! The data layer: every SQL statement lives under this module, one small function each.
//!
//! Claims are single `UPDATE … RETURNING` statements, so several workers (and later a
//! PostgreSQL backend) can share the queue without a rewrite.

pub mod archive;
pub mod bounces;
pub mod clicks;
pub mod dashboard;
pub mod deliveries;
mod error;
pub mod events;
pub mod issues;
pub mod maintenance;
pub mod operators;
pub mod optin;
pub mod subscribers;
pub mod unsubscribe;
pub mod webhook_events;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, SqlitePool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use crate::domain::timestamp;
pub use error::{Error, Result};
pub use events::{Event, EventKind, Source};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A handle to the SQLite database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pool: SqlitePool,
}

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating database directory {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable against process crashes, which is what the queue needs.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Queueing a million deliveries or importing a list is slow by nature; a warning
            // for every such statement would teach operators to ignore warnings.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("opening database {}", path.display()))?;
        MIGRATOR
            .run(&pool)
            .await
            .with_context(|| format!("applying migrations to {}", path.display()))?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a transaction that writes. It takes SQLite's write lock at `BEGIN`
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout for it. A deferred transaction
    /// that reads first cannot upgrade to a writer once another connection has committed
    /// in between (WAL mode): SQLite then fails at once with "database is locked" instead
    /// of waiting. Every transaction that may write starts here.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Reads an instance-wide value, or stores `make()` if there is none yet.
    pub async fn meta_get_or_insert(
        &self,
        key: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String> {
        let candidate = make();
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(&candidate)
            .execute(&self.pool)
            .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }
}

/// The current time in the stored format.
pub fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// Parses a stored timestamp.
pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| Error::internal(format!("bad timestamp {s:?}: {e}")))
}
