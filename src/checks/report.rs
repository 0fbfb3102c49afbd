//! Findings and their severities, and how a report reads for people.

use serde::Serialize;

/// How bad a finding is. Ordered: a report is as bad as its worst finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// The command's exit code: 0 all ok, 1 warnings, 2 errors.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
        }
    }

    /// ANSI colour for a terminal.
    pub fn colour(self) -> &'static str {
        match self {
            Severity::Ok => "\x1b[32m",
            Severity::Warning => "\x1b[33m",
            Severity::Error => "\x1b[31m",
        }
    }
}

/// One thing a check found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check: size, subject, preheader, text, link, spamassassin.
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    /// The item it concerns: "Section / Title".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Finding {
    pub fn new(check: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            check,
            severity,
            message: message.into(),
            item: None,
            url: None,
        }
    }
    pub fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Severity::Ok, message)
    }
    pub fn warning(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Severity::Warning, message)
    }
    pub fn error(check: &'static str, message: impl Into<String>) -> Self {
        Self::new(check, Severity::Error, message)
    }
    pub fn for_item(mut self, item: String, url: Option<String>) -> Self {
        self.item = Some(item);
        self.url = url;
        self
    }
}

/// SpamAssassin's verdict on the delivered message.
#[derive(Debug, Clone, Serialize)]
pub struct SpamScore {
    pub score: f64,
    pub required: f64,
    pub rules: Vec<String>,
}

/// Everything `issue check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub number: u32,
    /// The worst finding's.
    pub severity: Severity,
    /// Whose values the message was built with.
    pub recipient: String,
    pub size: super::SizeReport,
    pub spamassassin: Option<SpamScore>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(
        number: u32,
        recipient: String,
        size: super::SizeReport,
        spamassassin: Option<SpamScore>,
        findings: Vec<Finding>,
    ) -> Self {
        let severity = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        Self {
            number,
            severity,
            recipient,
            size,
            spamassassin,
            findings,
        }
    }

    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// The report for people: one aligned row per finding; `colour` for a terminal.
    pub fn to_text(&self, colour: bool) -> String {
        let mut out = format!(
            "Issue #{} as {} would get it\n",
            self.number, self.recipient
        );
        let rows: Vec<Row> = self
            .findings
            .iter()
            .map(|f| {
                let mut message = f.message.clone();
                if let Some(item) = &f.item {
                    message = format!("{item}: {message}");
                }
                if let Some(url) = &f.url {
                    message.push_str(&format!(" <{url}>"));
                }
                Row {
                    severity: f.severity,
                    label: f.severity.as_str(),
                    name: f.check.to_string(),
                    message,
                }
            })
            .collect();
        out.push_str(&table(&rows, colour));
        out.push_str(&format!(
            "{} error(s), {} warning(s)\n",
            self.count(Severity::Error),
            self.count(Severity::Warning)
        ));
        out
    }
}

/// One line of a report for people.
pub struct Row {
    pub severity: Severity,
    /// What the first column says: the severity in the command's own words.
    pub label: &'static str,
    pub name: String,
    pub message: String,
}

/// Rows as aligned columns: severity, check, message.
pub fn table(rows: &[Row], colour: bool) -> String {
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let label = format!("{:<7}", r.label);
        let label = if colour {
            format!("{}{label}\x1b[0m", r.severity.colour())
        } else {
            label
        };
        out.push_str(&format!("{label}  {:<width$}  {}\n", r.name, r.message));
    }
    out
}
