//! Mail that comes back to us: messages to the List-Unsubscribe mailto address (and, later,
//! bounces and complaints). Read from standard input (an MTA pipe), files, or a Maildir.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mail_parser::{HeaderValue, MessageParser};

use crate::db::unsubscribe::Change;
use crate::db::{Db, Source};
use crate::token::TokenKeys;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Unsubscribed,
    AlreadyUnsubscribed,
    /// Bounced or complained before: stays so.
    Closed,
    /// Addressed to unsubscribe+TOKEN but the token does not verify.
    InvalidToken,
    /// Not addressed to an address mailroom handles; left for other processing.
    NotOurs,
}

/// Counts for a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub unsubscribed: usize,
    pub already: usize,
    pub closed: usize,
    pub invalid: usize,
    pub not_ours: usize,
}

impl Report {
    fn add(&mut self, handled: &Handled) {
        match handled {
            Handled::Unsubscribed => self.unsubscribed += 1,
            Handled::AlreadyUnsubscribed => self.already += 1,
            Handled::Closed => self.closed += 1,
            Handled::InvalidToken => self.invalid += 1,
            Handled::NotOurs => self.not_ours += 1,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} unsubscribed, {} already unsubscribed, {} bounced/complained (unchanged), \
             {} invalid token(s), {} not for mailroom",
            self.unsubscribed, self.already, self.closed, self.invalid, self.not_ours
        )
    }
}

pub struct Inbound<'a> {
    pub db: &'a Db,
    pub keys: &'a TokenKeys,
    /// Domain of unsubscribe+TOKEN@… addresses.
    pub unsubscribe_domain: &'a str,
}

impl Inbound<'_> {
    /// Handles one raw message. `envelope_recipient` is the address the MTA delivered it
    /// to, when it says so (headers can be forged or rewritten; the envelope cannot).
    pub async fn handle(&self, raw: &[u8], envelope_recipient: Option<&str>) -> Result<Handled> {
        let candidates = match envelope_recipient {
            Some(rcpt) => vec![rcpt.to_string()],
            None => recipients(raw),
        };
        let Some(token) = candidates.iter().find_map(|a| self.unsubscribe_token(a)) else {
            return Ok(Handled::NotOurs);
        };
        let Some(claim) = self.keys.verify_unsubscribe(&token) else {
            tracing::warn!("mailto unsubscribe with an invalid token");
            return Ok(Handled::InvalidToken);
        };
        let change = self
            .db
            .unsubscribe(
                claim.subscriber_id,
                Some(claim.issue_number),
                Source::Mailto,
            )
            .await?;
        Ok(match change {
            Change::Done => Handled::Unsubscribed,
            Change::Unchanged => Handled::AlreadyUnsubscribed,
            Change::Blocked(_) => Handled::Closed,
            Change::Unknown => Handled::InvalidToken,
        })
    }

    /// `unsubscribe+TOKEN@domain` → TOKEN (local parts may have been case-folded).
    fn unsubscribe_token(&self, address: &str) -> Option<String> {
        let (local, domain) = address.trim().trim_matches(['<', '>']).rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(self.unsubscribe_domain) {
            return None;
        }
        let lower = local.to_ascii_lowercase();
        lower.strip_prefix("unsubscribe+").map(str::to_string)
    }

    /// Processes every message in `maildir/new`, moving each handled one to `cur/` (flagged
    /// seen) so a re-run does not see it again. Messages for other addresses stay in `new/`.
    pub async fn maildir(&self, maildir: &Path) -> Result<Report> {
        let new = maildir.join("new");
        let cur = maildir.join("cur");
        std::fs::create_dir_all(&cur).with_context(|| format!("creating {}", cur.display()))?;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&new)
            .with_context(|| format!("reading {}", new.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        let mut report = Report::default();
        for path in entries {
            let raw =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let handled = self
                .handle(&raw, None)
                .await
                .with_context(|| path.display().to_string())?;
            report.add(&handled);
            if handled != Handled::NotOurs {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("message");
                let base = name.split(':').next().unwrap_or(name);
                let target = cur.join(format!("{base}:2,S"));
                std::fs::rename(&path, &target)
                    .with_context(|| format!("moving {} to cur/", path.display()))?;
            }
        }
        Ok(report)
    }

    /// Processes one message (a file, or standard input) and counts it in `report`.
    pub async fn message(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
        report: &mut Report,
    ) -> Result<()> {
        report.add(&self.handle(raw, envelope_recipient).await?);
        Ok(())
    }
}

/// Where a message says it was delivered to: the MTA's delivery headers first, then To/Cc.
fn recipients(raw: &[u8]) -> Vec<String> {
    let Some(message) = MessageParser::default().parse_headers(raw) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let HeaderValue::Text(text) = value {
                out.push(text.to_string());
            } else if let HeaderValue::Address(addr) = value {
                out.extend(addr.iter().filter_map(|a| a.address().map(str::to_string)));
            }
        }
    }
    for list in [message.to(), message.cc()].into_iter().flatten() {
        out.extend(list.iter().filter_map(|a| a.address().map(str::to_string)));
    }
    out
}
