//! `mailroom issue …`: import, inspect, finalize, preview and send issues.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::db::Source;
use crate::db::issues::Imported;
use crate::domain::ScheduleField;
use crate::startup::Context;

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Store an issue file (Markdown with TOML front matter) as a draft; re-importing a
    /// draft updates it.
    Import {
        /// The issue file.
        file: PathBuf,
    },
    /// List stored issues, newest first.
    List,
    /// Show one issue: status, hash, sections and items.
    Show {
        number: u32,
        /// Print the stored model as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Click results per item (with `analytics.clicks`): human clicks, unique readers,
    /// click-through (unique readers / delivered) and machine clicks.
    Stats {
        number: u32,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Freeze an issue's content (its hash is recorded); needed before sending.
    Finalize { number: u32 },
    /// Write issue.html, issue.txt and issue.eml for a sample subscriber into a folder.
    Preview {
        number: u32,
        /// Folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Address of the sample subscriber.
        #[arg(long, default_value = "reader@example.org")]
        email: String,
        /// Name of the sample subscriber.
        #[arg(long, default_value = "Sample Reader")]
        name: String,
    },
    /// Check the issue as it will be delivered: size against Gmail's clipping limit, item
    /// links, subject, preheader, the text part, SpamAssassin's score. Exit code 0: all
    /// ok, 1: warnings, 2: errors.
    Check {
        number: u32,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue the issue for every active subscriber; the worker delivers it. Runs `issue
    /// check` first and refuses when it finds errors.
    Send {
        number: u32,
        /// Start no earlier than this time (RFC 3339, e.g. 2026-12-04T07:00:00Z).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Cancel the send if it has not started this long after its start time (or now),
        /// e.g. 6h or 2days: a weekly issue should not arrive days late.
        #[arg(long, value_name = "DURATION")]
        expire_after: Option<String>,
        /// Queue it even when `issue check` finds errors.
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(ctx: &Context, command: IssueCommand) -> Result<()> {
    let db = &ctx.db;
    match command {
        IssueCommand::Import { file } => {
            let issue = crate::issue_file::read(&file)?;
            let outcome = db
                .import_issue(&issue, &file.display().to_string(), Source::Cli)
                .await?;
            let verb = match outcome {
                Imported::Created => "imported",
                Imported::Updated => "updated",
                Imported::Unchanged => "unchanged",
            };
            println!(
                "issue #{} {verb} as draft: {} sections, {} items — \"{}\"",
                issue.number,
                issue.sections.len(),
                issue.item_count(),
                issue.title
            );
        }
        IssueCommand::List => {
            let issues = db.issues().await?;
            if issues.is_empty() {
                println!("no issues yet; import one with `mailroom issue import FILE`");
            }
            for s in issues {
                println!(
                    "#{:<5} {:<10} {}  {}",
                    s.issue.number, s.status, s.issue.date, s.issue.title
                );
            }
        }
        IssueCommand::Show { number, json } => {
            let s = db.require_issue(number).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s.issue)?);
                return Ok(());
            }
            println!("Issue #{}: {}", s.issue.number, s.issue.title);
            println!("status:    {}", s.status);
            println!("date:      {}", s.issue.date);
            println!("subject:   {}", s.issue.subject);
            println!("preheader: {}", s.issue.preheader);
            println!(
                "hash:      {}",
                s.content_hash.as_deref().unwrap_or("(draft: not frozen)")
            );
            for section in &s.issue.sections {
                println!("\n## {}", section.name);
                for item in &section.items {
                    match &item.url {
                        Some(url) => println!("  - {}  <{url}>", item.title),
                        None => println!("  - {}", item.title),
                    }
                }
            }
            if let Some(p) = db.send_progress(number).await? {
                println!("\nsend: {}", serde_json::to_string(&p)?);
            }
        }
        IssueCommand::Stats { number, json } => {
            let stored = db.require_issue(number).await?;
            let items = crate::clicks::item_clicks(db, number).await?;
            let delivered = db.delivered_count(stored.id).await?;
            if json {
                let out = serde_json::json!({
                    "number": number,
                    "delivered": delivered,
                    "items": items,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
                return Ok(());
            }
            print!("{}", stats_table(number, delivered, &items));
        }
        IssueCommand::Finalize { number } => {
            let (changed, s) = db.finalize_issue(number, Source::Cli).await?;
            let hash = s.content_hash.unwrap_or_default();
            if changed {
                println!("issue #{number} finalized; content hash {hash}");
            } else {
                println!(
                    "issue #{number} is already {} (content hash {hash})",
                    s.status
                );
            }
        }
        IssueCommand::Preview {
            number,
            out,
            email,
            name,
        } => {
            preview(ctx, number, &out, &email, &name).await?;
        }
        IssueCommand::Check { number, json } => {
            let stored = db.require_issue(number).await?;
            let report =
                crate::checks::check_issue(&ctx.settings, db, &ctx.factory, &stored).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text(colour_stdout()));
            }
            let code = report.severity.exit_code();
            if code != 0 {
                return Err(super::Exit(code).into());
            }
        }
        IssueCommand::Send {
            number,
            at,
            expire_after,
            force,
        } => {
            let stored = db.require_issue(number).await?;
            let report =
                crate::checks::check_issue(&ctx.settings, db, &ctx.factory, &stored).await?;
            if report.severity != crate::checks::Severity::Ok {
                eprint!("{}", report.to_text(colour_stderr()));
            }
            if crate::checks::refuses(&report, force) {
                anyhow::bail!(
                    "issue #{number} not queued: `issue check` found {} error(s); fix them, or send with --force",
                    report.count(crate::checks::Severity::Error)
                );
            }
            let queued = crate::issues::queue_send(
                &ctx.settings,
                db,
                number,
                at.as_deref(),
                expire_after.as_deref(),
                Source::Cli,
            )
            .await
            .map_err(|e| match e {
                crate::issues::QueueError::Schedule(e) => {
                    let flag = match e.field {
                        ScheduleField::At => "--at",
                        ScheduleField::ExpireAfter => "--expire-after",
                    };
                    anyhow::anyhow!("{flag} {e}")
                }
                crate::issues::QueueError::Settings(e) => {
                    e.context(format!("issue #{number} not queued"))
                }
                crate::issues::QueueError::Db(e) => e.into(),
            })?;
            let (schedule, total) = (queued.schedule, queued.deliveries);
            let when = schedule
                .start_at
                .map(|t| format!(" from {t}"))
                .unwrap_or_default();
            let until = schedule
                .expires_at
                .map(|t| format!(", unless not started by {t}"))
                .unwrap_or_default();
            println!(
                "issue #{number} queued for {total} subscriber(s){when}{until}; `mailroom worker --drain` or \
                 `mailroom serve` delivers it"
            );
        }
    }
    Ok(())
}

pub(super) fn colour_stdout() -> bool {
    use std::io::IsTerminal as _;
    std::io::stdout().is_terminal()
}

fn colour_stderr() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal()
}

/// The `issue stats` table: one row per item with a link, in issue order.
fn stats_table(number: u32, delivered: i64, items: &[crate::clicks::ItemClicks]) -> String {
    use std::fmt::Write;
    let mut out = format!("Issue #{number}: {delivered} delivered\n");
    if items.is_empty() {
        out.push_str("no item has a link\n");
        return out;
    }
    // Titles are cut so that a row fits a terminal; --json has them whole.
    let cut = |s: &str, n: usize| -> String {
        if s.chars().count() <= n {
            s.to_string()
        } else {
            let mut t: String = s.chars().take(n - 1).collect();
            t.push('\u{2026}');
            t
        }
    };
    let section_width = items
        .iter()
        .map(|i| i.section.chars().count().min(24))
        .max()
        .unwrap_or(0)
        .max("section".len());
    let title_width = items
        .iter()
        .map(|i| i.title.chars().count().min(48))
        .max()
        .unwrap_or(0)
        .max("item".len());
    let _ = writeln!(
        out,
        "{:<section_width$}  {:<title_width$}  {:>6}  {:>7}  {:>8}  {:>7}",
        "section", "item", "human", "unique", "through", "machine"
    );
    for i in items {
        let _ = writeln!(
            out,
            "{:<section_width$}  {:<title_width$}  {:>6}  {:>7}  {:>7.1}%  {:>7}",
            cut(&i.section, 24),
            cut(&i.title, 48),
            i.human_clicks,
            i.unique_humans,
            i.click_through * 100.0,
            i.machine_clicks
        );
    }
    out
}

pub(super) async fn preview(
    ctx: &Context,
    number: u32,
    out: &Path,
    email: &str,
    name: &str,
) -> Result<()> {
    let stored = ctx.db.require_issue(number).await?;
    let preview = crate::issues::preview(&ctx.settings, &ctx.factory, &stored, email, name)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = [
        ("issue.html", preview.html.into_bytes()),
        ("issue.txt", preview.text.into_bytes()),
        ("issue.eml", preview.eml),
        ("issue.mjml", preview.mjml.into_bytes()),
    ];
    for (file, bytes) in files {
        let path = out.join(file);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
