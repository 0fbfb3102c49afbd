//! Dashboard operators and their sessions. Passwords arrive hashed (argon2id, see
//! `crate::operators`) and session tokens as their SHA-256: neither secret is stored.

use serde::Serialize;

use super::events::{self, Event, EventKind, Source};
use super::{Db, Error, Result, now};

/// An operator as `operators list` shows them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    /// Sessions not yet expired.
    pub sessions: i64,
}

/// A live session and whose it is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub id: i64,
    pub operator_id: i64,
    pub operator: String,
    pub created_at: String,
    pub expires_at: String,
}

impl Db {
    /// Adds an operator with an already hashed password; a taken name is a conflict.
    pub async fn add_operator(&self, name: &str, password_hash: &str, from: Source) -> Result<i64> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO operators (name, password_hash, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?3) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(password_hash)
        .bind(&at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(Error::conflict(format!(
                "there is already an operator {name:?}; `mailroom operators password {name}` sets a new password"
            )));
        };
        let event = Event::new(EventKind::OperatorAdded, from)
            .detail(serde_json::json!({ "operator": name }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Sets a new password hash and ends every session of the operator: whoever knew the
    /// old password is signed out.
    pub async fn set_operator_password(
        &self,
        name: &str,
        password_hash: &str,
        from: Source,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE operators SET password_hash = ?, updated_at = ? WHERE name = ? RETURNING id",
        )
        .bind(password_hash)
        .bind(now())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Err(Error::not_found(format!("there is no operator {name:?}")));
        };
        let ended = sqlx::query("DELETE FROM operator_sessions WHERE operator_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let event = Event::new(EventKind::OperatorPasswordChanged, from)
            .detail(serde_json::json!({ "operator": name, "sessions_ended": ended }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Removes an operator and their sessions.
    pub async fn remove_operator(&self, name: &str, from: Source) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM operators WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else {
            return Err(Error::not_found(format!("there is no operator {name:?}")));
        };
        sqlx::query("DELETE FROM operator_sessions WHERE operator_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM operators WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = Event::new(EventKind::OperatorRemoved, from)
            .detail(serde_json::json!({ "operator": name }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn operators(&self) -> Result<Vec<Operator>> {
        Ok(sqlx::query_as(
            "SELECT o.id, o.name, o.created_at,
                    (SELECT count(*) FROM operator_sessions s
                     WHERE s.operator_id = o.id AND s.expires_at > ?) AS sessions
             FROM operators o ORDER BY o.name",
        )
        .bind(now())
        .fetch_all(self.pool())
        .await?)
    }

    /// The operator's id and password hash, to check a sign-in against.
    pub async fn operator_credentials(&self, name: &str) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM operators WHERE name = ?")
                .bind(name)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Records a refused sign-in (wrong password or unknown name), for the audit.
    pub async fn record_sign_in_refused(&self, name: &str, ip: Option<&str>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let event = Event::new(EventKind::OperatorSignInRefused, Source::Dashboard)
            .detail(serde_json::json!({ "operator": name, "ip": ip }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new session (by its token's SHA-256) and forgets expired ones.
    pub async fn create_session(
        &self,
        operator_id: i64,
        token_sha256: &str,
        expires_at: &str,
        ip: Option<&str>,
    ) -> Result<()> {
        let at = now();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= ?")
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        let name: String = sqlx::query_scalar(
            "INSERT INTO operator_sessions (operator_id, token_sha256, created_at, expires_at, ip)
             VALUES (?, ?, ?, ?, ?)
             RETURNING (SELECT name FROM operators WHERE id = operator_id)",
        )
        .bind(operator_id)
        .bind(token_sha256)
        .bind(&at)
        .bind(expires_at)
        .bind(ip)
        .fetch_one(&mut *tx)
        .await?;
        let event = Event::new(EventKind::OperatorSignedIn, Source::Dashboard)
            .detail(serde_json::json!({ "operator": name, "ip": ip, "expires_at": expires_at }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session with this token hash, if any.
    pub async fn session(&self, token_sha256: &str) -> Result<Option<Session>> {
        Ok(sqlx::query_as(
            "SELECT s.id, s.operator_id, o.name AS operator, s.created_at, s.expires_at
             FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
             WHERE s.token_sha256 = ? AND s.expires_at > ?",
        )
        .bind(token_sha256)
        .bind(now())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Ends one session (sign out), or with `everywhere` all of its operator's sessions.
    /// Returns how many ended.
    pub async fn end_sessions(&self, session: &Session, everywhere: bool) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let (statement, id, kind) = if everywhere {
            (
                "DELETE FROM operator_sessions WHERE operator_id = ?",
                session.operator_id,
                EventKind::OperatorSignedOutEverywhere,
            )
        } else {
            (
                "DELETE FROM operator_sessions WHERE id = ?",
                session.id,
                EventKind::OperatorSignedOut,
            )
        };
        let ended = sqlx::query(statement)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let event = Event::new(kind, Source::Dashboard)
            .detail(serde_json::json!({ "operator": session.operator, "sessions_ended": ended }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
