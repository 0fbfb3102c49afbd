//! Subscribers: adding one, adding many in one transaction, counting.

use super::Result;
use serde::Serialize;
use sqlx::{QueryBuilder, SqliteConnection};

use super::events::{self, Event, EventKind, Source};

/// Every column of a subscriber, in `Subscriber`'s order, as a literal for `concat!`.
macro_rules! columns {
    () => {
        "id, email, name, status, attributes, consent_source, consent_at, consent_ip, \
         soft_bounces, created_at, updated_at, confirmed_at, unsubscribed_at, bounced_at, \
         complained_at"
    };
}
use super::{Db, now};
use crate::domain::{SubscriberEmail, SubscriberStatus};

/// A subscriber ready to be stored.
#[derive(Debug, Clone)]
pub struct NewSubscriber {
    pub email: SubscriberEmail,
    pub name: String,
    /// `active` or `pending`.
    pub status: SubscriberStatus,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl NewSubscriber {
    pub fn active(email: SubscriberEmail, name: impl Into<String>) -> Self {
        Self {
            email,
            name: name.into(),
            status: SubscriberStatus::Active,
            attributes: serde_json::Map::new(),
        }
    }
}

/// What adding one subscriber did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    Created(i64),
    /// Already on the list with this status; left exactly as it was.
    Exists {
        id: i64,
        status: SubscriberStatus,
    },
    /// Removed on request earlier; only fresh consent (double opt-in) brings them back.
    Erased,
}

/// What removing a subscriber did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Done { status: SubscriberStatus },
    Unknown,
}

/// A page of the list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<SubscriberStatus>,
    /// Matches the address or the name, case-insensitively.
    pub search: Option<String>,
    pub limit: u32,
    /// Subscribers with a larger id than this (keyset paging: stable while the list grows).
    pub after_id: i64,
}

/// Rows per multi-row INSERT: 3 binds each, far below SQLite's 32,766 limit.
const INSERT_CHUNK: usize = 2000;

/// A subscriber as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Subscriber {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub status: SubscriberStatus,
    /// A JSON object of free-form values, available to templates.
    pub attributes: String,
    pub consent_source: String,
    pub consent_at: String,
    pub consent_ip: Option<String>,
    pub soft_bounces: i64,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    pub unsubscribed_at: Option<String>,
    pub bounced_at: Option<String>,
    pub complained_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub pending: i64,
    pub active: i64,
    pub unsubscribed: i64,
    pub bounced: i64,
    pub complained: i64,
}

impl Db {
    /// Adds an active subscriber. An existing address is reported, never revived or changed.
    pub async fn add_subscriber(&self, new: &NewSubscriber, from: Source) -> Result<Added> {
        let mut tx = self.begin_write().await?;
        let existing: Option<(i64, SubscriberStatus)> =
            sqlx::query_as("SELECT id, status FROM subscribers WHERE email = ?")
                .bind(new.email.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((id, status)) = existing {
            return Ok(Added::Exists { id, status });
        }
        let erased: Option<String> =
            sqlx::query_scalar("SELECT status FROM erasures WHERE email_sha256 = ?")
                .bind(email_hash(&new.email))
                .fetch_optional(&mut *tx)
                .await?;
        if erased.is_some() {
            return Ok(Added::Erased);
        }
        let at = now();
        let status = new.status.as_str();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO subscribers
                (email, name, status, attributes, consent_source, consent_at, created_at,
                 updated_at, confirmed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, CASE WHEN ?3 = 'active' THEN ?6 END)
             RETURNING id",
        )
        .bind(new.email.as_str())
        .bind(&new.name)
        .bind(status)
        .bind(serde_json::Value::Object(new.attributes.clone()).to_string())
        .bind(from.as_str())
        .bind(&at)
        .fetch_one(&mut *tx)
        .await?;
        let event = Event::new(EventKind::Subscribed, from)
            .subscriber(id)
            .detail(serde_json::json!({ "status": status }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Added::Created(id))
    }

    /// Adds many active subscribers in one transaction: all or nothing. Addresses already on
    /// the list are skipped untouched. Returns how many were created.
    pub async fn add_subscribers(&self, new: &[NewSubscriber], from: Source) -> Result<u64> {
        let at = now();
        let mut tx = self.begin_write().await?;
        let mut created = 0;
        for chunk in new.chunks(INSERT_CHUNK) {
            let mut insert = QueryBuilder::new(
                "INSERT INTO subscribers
                    (email, name, status, consent_source, consent_at, created_at, updated_at, confirmed_at) ",
            );
            insert.push_values(chunk, |mut row, s| {
                row.push_bind(s.email.as_str())
                    .push_bind(&s.name)
                    .push("'active'")
                    .push_bind(from.as_str())
                    .push_bind(&at)
                    .push_bind(&at)
                    .push_bind(&at)
                    .push_bind(&at);
            });
            insert.push(" ON CONFLICT (email) DO NOTHING RETURNING id");
            let ids: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
            created += ids.len() as u64;
            // One event per new subscriber, written set-based from the returned ids.
            sqlx::query(
                "INSERT INTO events (at, kind, source, subscriber_id, detail)
                 SELECT ?, ?, ?, value, '{\"status\":\"active\"}' FROM json_each(?)",
            )
            .bind(&at)
            .bind(EventKind::Subscribed.as_str())
            .bind(from.as_str())
            .bind(serde_json::to_string(&ids)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Erases a subscriber on request (GDPR art. 17): the row, their deliveries, their
    /// events and their clicks go; a hash of the address stays so no import or API call
    /// re-adds them.
    pub async fn remove_subscriber(&self, id: i64, from: Source) -> Result<Removed> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, SubscriberStatus)> =
            sqlx::query_as("SELECT email, status FROM subscribers WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((email, status)) = row else {
            return Ok(Removed::Unknown);
        };
        let at = now();
        let hash = SubscriberEmail::parse(&email)
            .map(|e| email_hash(&e))
            .unwrap_or_else(|_| email_hash_raw(&email));
        sqlx::query(
            "INSERT INTO erasures (email_sha256, status, erased_at) VALUES (?, ?, ?)
             ON CONFLICT (email_sha256) DO UPDATE SET status = excluded.status,
                 erased_at = excluded.erased_at",
        )
        .bind(&hash)
        .bind(status)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        // Click history kept per subscriber goes with them; so does the (delivery, item)
        // set behind the unique counts, whose rows name their deliveries. The per-item
        // aggregates stay: they name no one.
        for statement in [
            "DELETE FROM click_events WHERE subscriber_id = ?1",
            "DELETE FROM click_seen WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscriber_id = ?1)",
            "DELETE FROM events WHERE subscriber_id = ?1",
            "DELETE FROM events WHERE delivery_id IN (SELECT id FROM deliveries WHERE subscriber_id = ?1)",
            "DELETE FROM deliveries WHERE subscriber_id = ?1",
            "DELETE FROM subscribers WHERE id = ?1",
        ] {
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
        }
        // The log keeps that a removal happened, by whom, and the old id: not who it was.
        let event = Event::new(EventKind::SubscriberRemoved, from)
            .detail(serde_json::json!({ "subscriber": id, "status": status }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(Removed::Done { status })
    }

    pub async fn list_subscribers(&self, q: &ListQuery) -> Result<Vec<Subscriber>> {
        let pattern = q.search.as_ref().map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subscribers
             WHERE id > ?1 AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR email LIKE ?3 ESCAPE '\\' OR name LIKE ?3 ESCAPE '\\')
             ORDER BY id LIMIT ?4"
        ))
        .bind(q.after_id)
        .bind(q.status.map(SubscriberStatus::as_str))
        .bind(pattern)
        .bind(i64::from(q.limit))
        .fetch_all(self.pool())
        .await?)
    }

    /// Sets the name and merges attributes (a `null` value removes one); records which
    /// fields changed. Status is not touched here.
    pub async fn update_subscriber(
        &self,
        id: i64,
        name: Option<&str>,
        attributes: Option<&serde_json::Map<String, serde_json::Value>>,
        from: Source,
    ) -> Result<Vec<&'static str>> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, attributes FROM subscribers WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((old_name, old_attributes)) = row else {
            return Ok(Vec::new());
        };
        let before: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&old_attributes).unwrap_or_default();
        let mut merged = before.clone();
        for (key, value) in attributes.into_iter().flatten() {
            if value.is_null() {
                merged.remove(key);
            } else {
                merged.insert(key.clone(), value.clone());
            }
        }
        let name = name.unwrap_or(&old_name);
        let mut fields = Vec::new();
        if name != old_name {
            fields.push("name");
        }
        if merged != before {
            fields.push("attributes");
        }
        if fields.is_empty() {
            return Ok(fields);
        }
        sqlx::query("UPDATE subscribers SET name = ?, attributes = ?, updated_at = ? WHERE id = ?")
            .bind(name)
            .bind(serde_json::Value::Object(merged).to_string())
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = Event::new(EventKind::SubscriberUpdated, from)
            .subscriber(id)
            .detail(serde_json::json!({ "fields": fields }));
        events::record(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(fields)
    }

    pub async fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subscribers WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn subscriber_by_email(&self, email: &SubscriberEmail) -> Result<Option<Subscriber>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM subscribers WHERE email = ?"
        ))
        .bind(email.as_str())
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn subscriber_stats(&self) -> Result<Stats> {
        let rows: Vec<(SubscriberStatus, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM subscribers GROUP BY status")
                .fetch_all(self.pool())
                .await?;
        let mut stats = Stats::default();
        for (status, n) in rows {
            *match status {
                SubscriberStatus::Pending => &mut stats.pending,
                SubscriberStatus::Active => &mut stats.active,
                SubscriberStatus::Unsubscribed => &mut stats.unsubscribed,
                SubscriberStatus::Bounced => &mut stats.bounced,
                SubscriberStatus::Complained => &mut stats.complained,
            } = n;
        }
        Ok(stats)
    }
}

/// One CSV row, checked and ready for the list.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// Line in the file, for reports.
    pub line: u64,
    pub email: SubscriberEmail,
    pub name: String,
    /// For new subscribers only: an import never changes an existing one's status.
    pub status: SubscriberStatus,
    pub consent_source: String,
    pub consent_at: String,
    pub consent_ip: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What applying an import did to the list.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Left the list (or were erased): never revived by an import. (line, address, status)
    pub skipped: Vec<(u64, String, String)>,
}

/// SHA-256 of a normalized address, as kept for erased subscribers.
pub fn email_hash(email: &SubscriberEmail) -> String {
    email_hash_raw(email.as_str())
}

/// Lower-cased as a whole: nearly every mailbox provider ignores the local part's case, and
/// an erasure should hold against `Alan@` as well as `alan@`.
fn email_hash_raw(email: &str) -> String {
    use sha2::{Digest, Sha256};
    data_encoding::HEXLOWER.encode(&Sha256::digest(email.to_lowercase().as_bytes()))
}

/// An import staged in a temporary table of one connection: the rows are checked and
/// deduplicated there (the first row of an address wins) before any of them touches the
/// list, and then applied set-based, a range of rows per transaction.
///
/// The temporary table is the connection's own: filling it takes no lock on the database,
/// so a send goes on at full speed while a file is read.
pub struct Staging {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    /// Whether erased addresses exist at all: only then is each row's hash worth computing.
    check_erasures: bool,
    staged: i64,
}

/// Checked rows, each address once, as [`Staging::add`] takes them: one JSON array that
/// SQLite unpacks (binding ten values per row costs more in the driver than everything
/// SQLite then does with them; `jsonb_each` hands each row over as binary JSON, which `->>`
/// reads without parsing it again). Made on the caller's thread, off SQLite's.
pub struct StagingBatch {
    json: String,
}

/// `consent_source` and `consent_at` are what most rows say (the import's defaults): such
/// rows stage none, and [`Staging::apply`] fills them in. `hash` says whether rows must
/// carry their address's hash for the erasure check ([`Staging::checks_erasures`]).
pub fn staging_batch(
    rows: &[ImportRow],
    consent_source: &str,
    consent_at: &str,
    hash: bool,
) -> Result<StagingBatch> {
    let staged: Vec<Staged<'_>> = rows
        .iter()
        .map(|r| {
            Staged(
                r.line,
                r.email.as_str(),
                hash.then(|| email_hash(&r.email)),
                &r.name,
                r.status.as_str(),
                &r.attributes,
                (r.consent_source != consent_source).then_some(r.consent_source.as_str()),
                (r.consent_at != consent_at).then_some(r.consent_at.as_str()),
                r.consent_ip.as_deref(),
            )
        })
        .collect();
    Ok(StagingBatch {
        json: serde_json::to_string(&staged)?,
    })
}

/// One row as the staging INSERT reads it: a JSON array, in the column order (line,
/// email, email_sha256, name, status, attributes, consent_source, consent_at, consent_ip).
#[derive(Serialize)]
struct Staged<'a>(
    u64,
    &'a str,
    Option<String>,
    &'a str,
    &'a str,
    &'a serde_json::Map<String, serde_json::Value>,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
);

impl Db {
    pub async fn stage_import(&self) -> Result<Staging> {
        let mut conn = self.pool().acquire().await?;
        // Checkpointing the WAL into the database file (with an fsync) after every 4 MB of
        // it, as suits short transactions, costs a large import more than needed; this
        // connection lets it grow to 64 MB first, while it imports.
        sqlx::query("PRAGMA wal_autocheckpoint = 16384")
            .execute(&mut *conn)
            .await?;
        // A previous import on this pooled connection may have failed half-way.
        sqlx::query("DROP TABLE IF EXISTS temp.import_rows")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "CREATE TEMP TABLE import_rows (
                 n INTEGER PRIMARY KEY,
                 line INTEGER NOT NULL,
                 email TEXT NOT NULL,
                 email_sha256 TEXT,
                 name TEXT NOT NULL,
                 status TEXT NOT NULL,
                 attributes TEXT NOT NULL,
                 consent_source TEXT,
                 consent_at TEXT,
                 consent_ip TEXT
             )",
        )
        .execute(&mut *conn)
        .await?;
        let check_erasures: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM erasures)")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Staging {
            conn,
            check_erasures,
            staged: 0,
        })
    }
}

impl Staging {
    /// Adds checked rows; returns how many repeated an address staged before (ignored).
    /// Adds checked rows, each address once (the caller sets repeats aside).
    /// Adds a batch made by [`staging_batch`].
    pub async fn add(&mut self, batch: &StagingBatch) -> Result<()> {
        let added = sqlx::query(
            "INSERT INTO import_rows (line, email, email_sha256, name, status,
                 attributes, consent_source, consent_at, consent_ip)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4,
                    json(value -> 5), value ->> 6, value ->> 7, value ->> 8
             FROM jsonb_each(?) ORDER BY key",
        )
        .bind(&batch.json)
        .execute(&mut *self.conn)
        .await?
        .rows_affected();
        self.staged += added as i64;
        Ok(())
    }

    /// Whether erased addresses exist, so that rows must carry their hash.
    pub fn checks_erasures(&self) -> bool {
        self.check_erasures
    }

    /// Applies the staged rows to the list, `chunk` rows per write transaction (each
    /// rolled back on a dry run). `at` is the import's time; `from` its event source.
    pub async fn apply(
        &mut self,
        at: &str,
        consent_source: &str,
        from: Source,
        chunk: i64,
        dry_run: bool,
    ) -> Result<ImportOutcome> {
        let mut outcome = ImportOutcome::default();
        let mut low = 1;
        while low <= self.staged {
            let high = (low + chunk - 1).min(self.staged);
            let mut tx = sqlx::Connection::begin_with(&mut *self.conn, "BEGIN IMMEDIATE").await?;
            apply_range(&mut tx, low, high, at, consent_source, from, &mut outcome).await?;
            if dry_run {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            low = high + 1;
        }
        Ok(outcome)
    }

    pub async fn discard(mut self) -> Result<()> {
        sqlx::query("DROP TABLE IF EXISTS temp.import_rows")
            .execute(&mut *self.conn)
            .await?;
        sqlx::query("PRAGMA wal_autocheckpoint = 1000")
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

// The staging table has no statistics: left to itself, SQLite walks every active
// subscriber (by the status index) for each range. `CROSS JOIN` keeps the staged range as
// the outer loop, each row finding its subscriber by the unique email index.

/// What a staged row's name and attributes make of an existing subscriber's: an empty name
/// keeps theirs, attributes merge (`json_patch`, the row's values win).
macro_rules! merged {
    () => {
        "CASE WHEN t.name = '' THEN s.name ELSE t.name END AS new_name,
         json_patch(s.attributes, t.attributes) AS new_attributes"
    };
}

/// Applies staged rows `low..=high`: skips addresses that left the list or were erased,
/// updates known active and pending ones whose name or attributes change, adds the rest;
/// one event per change, all set-based.
async fn apply_range(
    tx: &mut SqliteConnection,
    low: i64,
    high: i64,
    at: &str,
    consent_source: &str,
    from: Source,
    outcome: &mut ImportOutcome,
) -> Result<()> {
    // The staged rows already on the list, each found once by its address.
    let known: Vec<(i64, String, SubscriberStatus, bool)> = sqlx::query_as(concat!(
        "SELECT line, email, status, new_name != name OR new_attributes != attributes
         FROM (SELECT t.line, t.email, s.status, s.name, s.attributes, t.n, ",
        merged!(),
        " FROM import_rows t CROSS JOIN subscribers s ON s.email = t.email
          WHERE t.n BETWEEN ?1 AND ?2)
         ORDER BY n"
    ))
    .bind(low)
    .bind(high)
    .fetch_all(&mut *tx)
    .await?;
    let mut changed = 0u64;
    for (line, email, status, differs) in &known {
        if status.is_closed() {
            outcome
                .skipped
                .push((*line as u64, email.clone(), status.to_string()));
        } else if *differs {
            changed += 1;
        } else {
            outcome.unchanged += 1;
        }
    }
    let erased: Vec<(i64, String)> = sqlx::query_as(
        "SELECT t.line, t.email FROM import_rows t CROSS JOIN erasures e ON e.email_sha256 = t.email_sha256
         WHERE t.n BETWEEN ?1 AND ?2
           AND NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.email = t.email)
         ORDER BY t.n",
    )
    .bind(low)
    .bind(high)
    .fetch_all(&mut *tx)
    .await?;
    let erased_count = erased.len() as u64;
    outcome.skipped.extend(
        erased
            .into_iter()
            .map(|(line, email)| (line as u64, email, "erased".to_string())),
    );

    if changed > 0 {
        sqlx::query(concat!(
            "INSERT INTO events (at, kind, source, subscriber_id, detail)
             SELECT ?3, ?4, ?5, id, json_object('fields', json(CASE
                 WHEN new_name != name AND new_attributes != attributes THEN '[\"name\",\"attributes\"]'
                 WHEN new_name != name THEN '[\"name\"]'
                 ELSE '[\"attributes\"]' END))
             FROM (SELECT s.id, s.name, s.attributes, t.n, ",
            merged!(),
            " FROM import_rows t CROSS JOIN subscribers s ON s.email = t.email
              WHERE t.n BETWEEN ?1 AND ?2 AND s.status IN ('active', 'pending'))
             WHERE new_name != name OR new_attributes != attributes
             ORDER BY n"
        ))
        .bind(low)
        .bind(high)
        .bind(at)
        .bind(EventKind::SubscriberUpdated.as_str())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
        // MATERIALIZED: flattened into the UPDATE, the join is reordered around a scan of
        // the whole list.
        sqlx::query(concat!(
            "WITH u AS MATERIALIZED (
                 SELECT id, new_name, new_attributes
                 FROM (SELECT s.id, s.name, s.attributes, ",
            merged!(),
            "     FROM import_rows t CROSS JOIN subscribers s ON s.email = t.email
                  WHERE t.n BETWEEN ?1 AND ?2 AND s.status IN ('active', 'pending'))
                 WHERE new_name != name OR new_attributes != attributes)
             UPDATE subscribers AS target
             SET name = u.new_name, attributes = u.new_attributes, updated_at = ?3
             FROM u WHERE target.id = u.id"
        ))
        .bind(low)
        .bind(high)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    }
    outcome.updated += changed;

    // New addresses: the rest of the range. Rows are numbered from 1 without gaps (the
    // staging table only ever grows by INSERT), so the range's size is its bounds'. A
    // subscriber who signed up through the form meanwhile keeps that record (ON
    // CONFLICT) and counts as unchanged.
    let fresh = (high - low + 1) as u64 - known.len() as u64 - erased_count;
    if fresh == 0 {
        return Ok(());
    }
    // Within this write transaction nobody else adds rows, so the new ones are exactly
    // those above the largest id now: their events come from one range scan.
    let before: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM subscribers")
        .fetch_one(&mut *tx)
        .await?;
    let created = sqlx::query(
        "INSERT INTO subscribers (email, name, status, attributes, consent_source, consent_at,
             consent_ip, created_at, updated_at, confirmed_at, unsubscribed_at, bounced_at,
             complained_at)
         SELECT t.email, t.name, t.status, t.attributes, coalesce(t.consent_source, ?4),
                coalesce(t.consent_at, ?3), t.consent_ip, ?3, ?3,
                CASE WHEN t.status = 'active' THEN ?3 END,
                CASE WHEN t.status = 'unsubscribed' THEN ?3 END,
                CASE WHEN t.status = 'bounced' THEN ?3 END,
                CASE WHEN t.status = 'complained' THEN ?3 END
         FROM import_rows t
         WHERE t.n BETWEEN ?1 AND ?2
           AND (t.email_sha256 IS NULL
                OR NOT EXISTS (SELECT 1 FROM erasures e WHERE e.email_sha256 = t.email_sha256))
         ORDER BY t.n
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(low)
    .bind(high)
    .bind(at)
    .bind(consent_source)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    outcome.created += created;
    outcome.unchanged += fresh.saturating_sub(created);
    sqlx::query(
        "INSERT INTO events (at, kind, source, subscriber_id, detail)
         SELECT ?2, ?3, ?4, id, json_object('status', status) FROM subscribers
         WHERE id > ?1 ORDER BY id",
    )
    .bind(before)
    .bind(at)
    .bind(EventKind::Subscribed.as_str())
    .bind(from.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The attribute names in use (among subscribers with `status`), sorted.
pub async fn attribute_keys(db: &Db, status: Option<&str>) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT j.key FROM subscribers s, json_each(s.attributes) j
         WHERE s.attributes != '{}' AND (?1 IS NULL OR s.status = ?1) ORDER BY j.key",
    )
    .bind(status)
    .fetch_all(db.pool())
    .await?)
}

pub async fn count(db: &Db, status: Option<&str>) -> Result<u64> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM subscribers WHERE ?1 IS NULL OR status = ?1")
            .bind(status)
            .fetch_one(db.pool())
            .await?;
    Ok(n as u64)
}

/// One page of an export, in id order after `after_id`: the rows and the last id.
///
/// SQLite hands the page over as one JSON array: fetching a million rows one by one costs
/// more in the driver's per-row work and thread hand-offs than everything else an export
/// does.
pub async fn export_page(
    db: &Db,
    status: Option<&str>,
    after_id: i64,
    limit: u32,
) -> Result<(Vec<Exported>, Option<i64>)> {
    let (last, page): (Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT max(id), json_group_array(json_array(email, name, status, consent_source,
                    consent_at, consent_ip, json(attributes)) ORDER BY id)
         FROM (SELECT * FROM subscribers WHERE id > ?1 AND (?2 IS NULL OR status = ?2)
               ORDER BY id LIMIT ?3)",
    )
    .bind(after_id)
    .bind(status)
    .bind(i64::from(limit))
    .fetch_one(db.pool())
    .await?;
    let rows = match (last, page) {
        (Some(_), Some(json)) => serde_json::from_str(&json)?,
        _ => Vec::new(),
    };
    Ok((rows, last))
}

/// The columns an export carries: what an import needs to rebuild the list.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Exported(
    pub String,
    pub String,
    pub String,
    pub String,
    pub String,
    pub Option<String>,
    pub serde_json::Map<String, serde_json::Value>,
);
