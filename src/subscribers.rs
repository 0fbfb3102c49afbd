//! Subscriber lists as CSV: a streaming import that writes all or nothing, and a streaming
//! export that a later import turns back into the same list.
//!
//! Columns by header name, in any order: `email` (required), `name`, `status`,
//! `consent_source`, `consent_at`, `consent_ip`; every other column is an attribute.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::db::subscribers::{Exported, ImportRow, StagingBatch, staging_batch};
use crate::db::{Db, Source, timestamp};
use crate::domain::{SubscriberEmail, SubscriberStatus};

/// Rows read and checked per round trip to the staging table.
const CHUNK: usize = 3000;
/// Staged rows applied per write transaction: a few hundred milliseconds of the write lock
/// each. Fewer, larger ranges write each page of the address index fewer times.
const APPLY_ROWS: i64 = 100000;
/// Columns in an import file: the six known ones plus attributes. Far more than any real
/// list carries, and it bounds the work a hostile header row can ask for.
const MAX_COLUMNS: usize = 1000;
/// The header row's bytes: 1000 columns of 100 characters, quoted, with room to spare.
const MAX_HEADER_BYTES: u64 = 256 * 1024;
/// Column names become attribute names in templates; a sentence is already too long.
const MAX_COLUMN_NAME: usize = 100;
/// Subscribers per export round trip.
const PAGE: u32 = 5000;
/// Invalid rows listed in a report; the rest are counted.
const LISTED: usize = 50;

const RESERVED: [&str; 6] = [
    "email",
    "name",
    "status",
    "consent_source",
    "consent_at",
    "consent_ip",
];

/// How an import treats the rows it reads.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Status of new subscribers whose row has no `status`.
    pub status: SubscriberStatus,
    /// Import the good rows even if some are invalid (default: nothing is written).
    pub skip_invalid: bool,
    /// Check and count everything, write nothing.
    pub dry_run: bool,
    /// Consent source recorded when a row has none.
    pub consent_source: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub file: String,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub duplicates: u64,
    /// (line, address, status): left the list, so not revived.
    pub skipped: Vec<(u64, String, String)>,
    /// (line, reason), the first `LISTED`.
    pub invalid: Vec<(u64, String)>,
    pub invalid_count: u64,
    /// Whether the changes were committed.
    pub written: bool,
}

impl ImportReport {
    fn invalid(&mut self, line: u64, reason: String) {
        self.invalid_count += 1;
        if self.invalid.len() < LISTED {
            self.invalid.push((line, reason));
        }
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (line, reason) in &self.invalid {
            writeln!(f, "{}:{line}: {reason}", self.file)?;
        }
        if self.invalid_count > self.invalid.len() as u64 {
            writeln!(
                f,
                "{}: … and {} more invalid row(s)",
                self.file,
                self.invalid_count - self.invalid.len() as u64
            )?;
        }
        for (line, email, status) in self.skipped.iter().take(LISTED) {
            writeln!(
                f,
                "{}:{line}: skipped {email}: {status}, never re-added by an import",
                self.file
            )?;
        }
        if self.skipped.len() > LISTED {
            writeln!(
                f,
                "{}: … and {} more skipped",
                self.file,
                self.skipped.len() - LISTED
            )?;
        }
        write!(
            f,
            "{}: {} row(s): {} added, {} updated, {} unchanged, {} skipped, {} duplicate(s), {} invalid",
            self.file,
            self.rows,
            self.created,
            self.updated,
            self.unchanged,
            self.skipped.len(),
            self.duplicates,
            self.invalid_count
        )?;
        if !self.written {
            write!(f, " — nothing was written")?;
        }
        Ok(())
    }
}

/// The header row, mapped once.
struct Columns {
    email: usize,
    name: Option<usize>,
    status: Option<usize>,
    consent_source: Option<usize>,
    consent_at: Option<usize>,
    consent_ip: Option<usize>,
    attributes: Vec<(usize, String)>,
}

impl Columns {
    fn new(headers: &csv::StringRecord) -> Result<Self, String> {
        if headers.len() > MAX_COLUMNS {
            return Err(format!(
                "the header row has {} columns; at most {MAX_COLUMNS} are accepted",
                headers.len()
            ));
        }
        let names: Vec<String> = headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(format!("column {} has no name in the header row", i + 1));
            }
            if name.chars().count() > MAX_COLUMN_NAME {
                return Err(format!(
                    "column {}'s name is longer than {MAX_COLUMN_NAME} characters",
                    i + 1
                ));
            }
            if !seen.insert(name) {
                return Err(format!("column {name:?} appears twice in the header row"));
            }
        }
        let find = |wanted: &str| names.iter().position(|n| n == wanted);
        let email = find("email")
            .ok_or("the header row has no `email` column (expected e.g. email,name)".to_string())?;
        Ok(Self {
            email,
            name: find("name"),
            status: find("status"),
            consent_source: find("consent_source"),
            consent_at: find("consent_at"),
            consent_ip: find("consent_ip"),
            attributes: headers
                .iter()
                .enumerate()
                .filter(|(i, _)| !RESERVED.contains(&names[*i].as_str()))
                .map(|(i, h)| (i, h.trim().to_string()))
                .collect(),
        })
    }

    fn row(
        &self,
        record: &csv::StringRecord,
        line: u64,
        options: &ImportOptions,
        now: &str,
    ) -> Result<ImportRow, String> {
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(unescape)
                .unwrap_or_default()
        };
        let raw = cell(Some(self.email));
        let email = SubscriberEmail::parse(&raw).map_err(|e| format!("email {raw:?}: {e}"))?;
        let name = cell(self.name).trim().to_string();
        if name.chars().any(char::is_control) || name.chars().count() > 200 {
            return Err("name: must be one line of at most 200 characters".into());
        }
        let status = match cell(self.status).trim() {
            "" => options.status,
            s => s.parse().map_err(|e| format!("status: {e}"))?,
        };
        let consent_source = match cell(self.consent_source).trim() {
            "" => options.consent_source.clone(),
            s if s.len() <= 100 && !s.chars().any(char::is_control) => s.to_string(),
            _ => return Err("consent_source: must be one line of at most 100 characters".into()),
        };
        let consent_at = match cell(self.consent_at).trim() {
            "" => now.to_string(),
            s => OffsetDateTime::parse(s, &Rfc3339)
                .map(timestamp)
                .map_err(|_| {
                    format!("consent_at: {s:?} is not an RFC 3339 time like 2026-01-31T09:00:00Z")
                })?,
        };
        let consent_ip = match cell(self.consent_ip).trim() {
            "" => None,
            s => Some(
                s.parse::<IpAddr>()
                    .map_err(|_| format!("consent_ip: {s:?} is not an IP address"))?
                    .to_string(),
            ),
        };
        let mut attributes = serde_json::Map::new();
        for (i, key) in &self.attributes {
            let value = record.get(*i).map(unescape).unwrap_or_default();
            if value.len() > 1000 {
                return Err(format!("{key}: longer than 1000 characters"));
            }
            if !value.is_empty() {
                attributes.insert(key.clone(), serde_json::Value::String(value));
            }
        }
        Ok(ImportRow {
            line,
            email,
            name,
            status,
            consent_source,
            consent_at,
            consent_ip,
            attributes,
        })
    }
}

/// Reads `path` and upserts its rows. Invalid rows are reported with their line; unless
/// `skip_invalid`, any of them means nothing is written. An address that unsubscribed,
/// bounced, complained or was erased is skipped, never revived. The first row of an
/// address wins; later ones count as duplicates.
///
/// The file is read once into a staging table of the import's own connection (which
/// locks nothing), then applied set-based in ranges of [`APPLY_ROWS`] rows, each range a
/// write transaction of its own: a running send and other operators wait for the write
/// lock at most one range's time (milliseconds), never the whole file's, which would
/// outlast their busy timeout. An import interrupted while applying has written whole
/// ranges; running it again completes it, since it is an upsert.
pub async fn import(db: &Db, path: &Path, options: &ImportOptions) -> Result<ImportReport> {
    let at = crate::db::now();
    let started = std::time::Instant::now();
    // Reading and checking rows is Rust's work, staging them SQLite's (on its own thread):
    // a reader thread hands checked chunks over a short queue so the two overlap.
    let mut rows = Rows::open(path, "importing")?;
    let mut staging = db.stage_import().await?;
    let (batches, mut arriving) = tokio::sync::mpsc::channel::<StagingBatch>(2);
    let reader = {
        let (options, at) = (options.clone(), at.clone());
        let hash = staging.checks_erasures();
        tokio::task::spawn_blocking(move || -> Result<ImportReport> {
            let mut report = rows.report();
            // The first row of an address wins; later ones are counted and set aside here,
            // by 128 bits of the address's SHA-256 (16 MB for a million addresses; two
            // addresses sharing them is far less likely than a disk error).
            let mut seen = std::collections::HashSet::<[u8; 16]>::new();
            let mut chunk = Vec::with_capacity(CHUNK);
            loop {
                chunk.clear();
                let more = rows.next_chunk(&mut report, &mut chunk, &options, &at)?;
                let checked = chunk.len();
                chunk.retain(|row| seen.insert(address_key(&row.email)));
                report.duplicates += (checked - chunk.len()) as u64;
                // Once a bad row means nothing is written, the rest is only checked.
                let wanted = options.skip_invalid || report.invalid_count == 0;
                if wanted && !chunk.is_empty() {
                    let batch = staging_batch(&chunk, &options.consent_source, &at, hash)?;
                    if batches.blocking_send(batch).is_err() {
                        break; // Staging failed; its error is the one reported.
                    }
                }
                if !more {
                    break;
                }
            }
            rows.finish();
            Ok(report)
        })
    };
    let mut staged = Ok(());
    while let Some(batch) = arriving.recv().await {
        if let Err(e) = staging.add(&batch).await {
            staged = Err(e);
            break;
        }
    }
    drop(arriving);
    let mut report = reader.await.context("the import's reader thread")??;
    staged?;
    tracing::debug!(elapsed = ?started.elapsed(), rows = report.rows, "import staged");
    if !options.skip_invalid && report.invalid_count > 0 {
        staging.discard().await?;
        return Ok(report);
    }
    let outcome = staging
        .apply(
            &at,
            &options.consent_source,
            Source::CsvImport,
            APPLY_ROWS,
            options.dry_run,
        )
        .await?;
    tracing::debug!(elapsed = ?started.elapsed(), "import applied");
    staging.discard().await?;
    add(&mut report, outcome);
    report.written = !options.dry_run;
    Ok(report)
}

/// One pass over an import file: its header mapped, then its rows a chunk at a time.
struct Rows {
    file_name: String,
    reader: csv::Reader<std::io::Chain<std::io::Cursor<Vec<u8>>, BufReader<std::fs::File>>>,
    columns: Columns,
    record: csv::StringRecord,
    progress: ProgressBar,
}

impl Rows {
    fn open(path: &Path, verb: &str) -> Result<Self> {
        let file_name = path.display().to_string();
        let file =
            std::fs::File::open(path).with_context(|| format!("{file_name}: cannot open"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut input = BufReader::with_capacity(1 << 16, file);
        if input
            .fill_buf()
            .with_context(|| format!("{file_name}: cannot read"))?
            .starts_with(b"\xef\xbb\xbf")
        {
            input.consume(3);
        }
        // The CSV reader holds a whole record in memory: a header "line" of megabytes would
        // cost hundreds of them before the column count could be refused.
        let mut header = Vec::new();
        (&mut input)
            .take(MAX_HEADER_BYTES + 1)
            .read_until(b'\n', &mut header)
            .with_context(|| format!("{file_name}: cannot read"))?;
        if header.len() as u64 > MAX_HEADER_BYTES {
            anyhow::bail!(
                "{file_name}:1: the header row is longer than {} KiB; a list has at most \
                 {MAX_COLUMNS} columns with short names",
                MAX_HEADER_BYTES / 1024
            );
        }
        let input = std::io::Cursor::new(header).chain(input);
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => anyhow::bail!(
                "{file_name}:1: cannot read the header row: {}",
                csv_reason(&e)
            ),
        };
        let columns = Columns::new(&headers).map_err(|e| anyhow::anyhow!("{file_name}:1: {e}"))?;
        Ok(Self {
            file_name,
            reader,
            columns,
            record: csv::StringRecord::new(),
            progress: progress_bar(size, verb, true),
        })
    }

    fn report(&self) -> ImportReport {
        ImportReport {
            file: self.file_name.clone(),
            ..ImportReport::default()
        }
    }

    /// Reads rows into `chunk` until it holds [`CHUNK`] valid ones or the file ends; bad
    /// rows go to the report. Returns whether there may be more.
    fn next_chunk(
        &mut self,
        report: &mut ImportReport,
        chunk: &mut Vec<ImportRow>,
        options: &ImportOptions,
        at: &str,
    ) -> Result<bool> {
        while chunk.len() < CHUNK {
            let line = self.reader.position().line();
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return Ok(false),
                Ok(true) => {
                    report.rows += 1;
                    let line = self.record.position().map_or(line, |p| p.line());
                    match self.columns.row(&self.record, line, options, at) {
                        Ok(row) => chunk.push(row),
                        Err(reason) => report.invalid(line, reason),
                    }
                }
                Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    return Err(e).with_context(|| format!("{}: cannot read", self.file_name));
                }
                Err(e) => {
                    report.rows += 1;
                    let line = e.position().map_or(line, |p| p.line());
                    report.invalid(line, csv_reason(&e));
                }
            }
        }
        self.progress.set_position(self.reader.position().byte());
        Ok(true)
    }

    fn finish(self) {
        self.progress.finish_and_clear();
    }
}

/// 128 bits of the address's SHA-256: what tells a repeated address in a file.
fn address_key(email: &SubscriberEmail) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(email.as_str().as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn add(report: &mut ImportReport, applied: crate::db::subscribers::ImportOutcome) {
    report.created += applied.created;
    report.updated += applied.updated;
    report.unchanged += applied.unchanged;
    report.skipped.extend(applied.skipped);
}

/// Writes the list (or the subscribers with `status`) as CSV, streaming from the database.
/// Returns the number of subscribers written.
pub async fn export(
    db: &Db,
    status: Option<SubscriberStatus>,
    out: impl Write,
    show_progress: bool,
) -> Result<u64> {
    let status = status.map(SubscriberStatus::as_str);
    let keys = crate::db::subscribers::attribute_keys(db, status).await?;
    let total = crate::db::subscribers::count(db, status).await?;
    let progress = progress_bar(total, "exporting", show_progress);
    let mut writer =
        csv::WriterBuilder::new().from_writer(std::io::BufWriter::with_capacity(1 << 16, out));
    let mut header: Vec<&str> = RESERVED.to_vec();
    header.extend(keys.iter().map(String::as_str));
    writer.write_record(&header)?;
    let mut written = 0u64;
    let mut after = 0;
    loop {
        let (page, last) = crate::db::subscribers::export_page(db, status, after, PAGE).await?;
        let Some(last) = last else { break };
        after = last;
        for row in page {
            let Exported(email, name, status, consent_source, consent_at, consent_ip, attributes) =
                row;
            for field in [&email, &name, &status, &consent_source, &consent_at] {
                writer.write_field(escape(field).as_bytes())?;
            }
            writer.write_field(consent_ip.as_deref().unwrap_or_default())?;
            for key in &keys {
                match attributes.get(key) {
                    Some(serde_json::Value::String(v)) => {
                        writer.write_field(escape(v).as_bytes())?
                    }
                    Some(serde_json::Value::Null) | None => writer.write_field("")?,
                    Some(other) => writer.write_field(escape(&other.to_string()).as_bytes())?,
                }
            }
            writer.write_record(None::<&[u8]>)?;
            written += 1;
        }
        progress.set_position(written);
    }
    writer.flush()?;
    progress.finish_and_clear();
    Ok(written)
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR at the start)
/// gets a leading apostrophe, which spreadsheets show as text; `unescape` removes it again
/// so an export imports back unchanged.
fn escape(value: &str) -> std::borrow::Cow<'_, str> {
    if needs_escape(value) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

fn unescape(value: &str) -> String {
    match value.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => rest.to_string(),
        _ => value.to_string(),
    }
}

/// Also true for a value that already starts with apostrophes before a formula character,
/// so that one comes back with its own apostrophes intact.
fn needs_escape(value: &str) -> bool {
    let bare = value.trim_start_matches('\'');
    bare.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A bar on standard error, only when a person is watching it.
fn progress_bar(len: u64, verb: &str, wanted: bool) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{verb} [{{bar:30}}] {{percent}}% {{elapsed}} (ETA {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8; save the file as UTF-8".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{escape, unescape};

    #[test]
    fn formula_cells_round_trip_as_text() {
        for value in [
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "'quoted",
            "'=x",
            "''+y",
            "plain",
            "",
        ] {
            assert_eq!(unescape(&escape(value)), value);
        }
        assert_eq!(escape("=1+1"), "'=1+1");
        assert_eq!(escape("Ada"), "Ada");
    }
}
