//! `mailroom bounces …`: read bounce messages, and list and count the applied ones.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::startup::Context;

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Print one JSON line per recipient of each bounce, complaint or auto-reply in the
    /// files (a file may be an mbox of several messages); `{"bounce": false}` for a message
    /// that is none of those.
    Parse {
        /// Message files (.eml or mbox).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The most recent bounces and complaints applied to the list, newest first.
    List {
        /// How many to show.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this class.
        #[arg(long, value_parser = ["hard", "soft", "complaint"])]
        class: Option<String>,
    },
    /// Bounces and complaints of the last days, by reason and by recipient domain.
    Stats {
        /// How many days back to count.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

pub(super) async fn list(ctx: &Context, limit: u32, class: Option<&str>) -> Result<()> {
    let class = class.and_then(crate::domain::BounceClass::parse);
    let rows = ctx.db.recent_bounces(limit, class).await?;
    if rows.is_empty() {
        println!("no bounces recorded");
    }
    for b in rows {
        let code = match (b.reply_code, &b.status) {
            (Some(reply), Some(status)) => format!("{reply} {status}"),
            (Some(reply), None) => reply.to_string(),
            (None, Some(status)) => status.clone(),
            (None, None) => "-".into(),
        };
        let uncounted = if b.counted { "" } else { " (not counted)" };
        println!(
            "{}  {:<9} {:<15} {:<9} {}  issue #{}  via {}{uncounted}  {}",
            b.received_at,
            b.class,
            b.reason,
            code,
            b.email,
            b.issue_number,
            b.source,
            one_line(&b.diagnostic, 100)
        );
    }
    Ok(())
}

pub(super) async fn stats(ctx: &Context, days: u32) -> Result<()> {
    let since = crate::db::timestamp(
        time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days)),
    );
    let s = ctx.db.bounce_stats(&since).await?;
    println!(
        "last {days} days (since {since}): {} hard, {} soft, {} complaint(s)",
        s.hard, s.soft, s.complaint
    );
    if s.by_reason.is_empty() {
        return Ok(());
    }
    println!("\nby reason:");
    for (class, reason, n) in &s.by_reason {
        println!("  {n:>6}  {class:<9} {reason}");
    }
    println!("\nby recipient domain:          hard    soft  complaint");
    for d in &s.by_domain {
        println!(
            "  {:<25} {:>7} {:>7} {:>10}",
            d.domain, d.hard, d.soft, d.complaint
        );
    }
    Ok(())
}

/// A diagnostic on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

pub(super) fn parse(files: &[PathBuf]) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for file in files {
        let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let name = file.display().to_string();
        for (n, parsed) in crate::bounce::parse_file(&raw).iter().enumerate() {
            let msg = n + 1;
            let lines = match parsed {
                crate::bounce::Parsed::NotBounce => {
                    vec![serde_json::json!({ "file": name, "msg": msg, "bounce": false })]
                }
                crate::bounce::Parsed::Bounce(reports) => reports
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "file": name,
                            "msg": msg,
                            "recipient": r.recipient,
                            "class": r.class,
                            "reason": r.reason,
                            "status": r.status,
                            "reply_code": r.reply_code,
                            "feedback_type": r.feedback_type,
                            "diagnostic": r.diagnostic,
                            "message_id": r.original.message_id,
                            "envelope_from": r.original.envelope_from,
                        })
                    })
                    .collect(),
            };
            for line in lines {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}
