//! Reading subscriber lists from CSV: every row checked before anything is written.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};

use crate::db::subscribers::NewSubscriber;
use crate::domain::SubscriberEmail;

/// Rows that could not be imported, each with its line number and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvErrors {
    pub file: String,
    pub rows: Vec<(u64, String)>,
}

impl std::fmt::Display for CsvErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} invalid row(s); nothing was imported",
            self.file,
            self.rows.len()
        )?;
        for (i, (line, reason)) in self.rows.iter().enumerate() {
            if i == 20 {
                writeln!(f, "  … and {} more", self.rows.len() - 20)?;
                break;
            }
            writeln!(f, "  {}:{line}: {reason}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for CsvErrors {}

/// Parses a CSV with a header row naming an `email` column and optionally `name`.
/// Duplicate addresses within the file keep their first row.
pub fn read_csv(path: &Path) -> Result<Vec<NewSubscriber>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(parse_csv(&path.display().to_string(), &bytes)?)
}

pub fn parse_csv(file: &str, bytes: &[u8]) -> Result<Vec<NewSubscriber>, CsvErrors> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let fail = |line, reason: String| CsvErrors {
        file: file.to_string(),
        rows: vec![(line, reason)],
    };
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| fail(1, format!("cannot read the header row: {e}")))?;
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let Some(email_col) = column("email") else {
        return Err(fail(
            1,
            "the header row has no `email` column (expected: email,name)".into(),
        ));
    };
    let name_col = column("name");
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push((line, csv_reason(&e)));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let raw = record.get(email_col).unwrap_or_default();
        let name = name_col
            .and_then(|i| record.get(i))
            .unwrap_or_default()
            .trim();
        if name.chars().any(char::is_control) || name.chars().count() > 200 {
            errors.push((
                line,
                "the name must be one line of at most 200 characters".into(),
            ));
            continue;
        }
        match SubscriberEmail::parse(raw) {
            Ok(email) => {
                if seen.insert(email.clone()) {
                    out.push(NewSubscriber {
                        email,
                        name: name.to_string(),
                    });
                }
            }
            Err(e) => errors.push((line, format!("email {raw:?}: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CsvErrors {
            file: file.to_string(),
            rows: errors,
        })
    }
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
