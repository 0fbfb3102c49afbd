//! The `mailroom` command line: parsing with clap, one function per command.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::config::{Settings, TransportKind};
use crate::db::Source;
use crate::db::deliveries::{Schedule, ScheduleField, SendAction};
use crate::db::issues::Imported;
use crate::db::maintenance;
use crate::db::subscribers::{Added, ListQuery, NewSubscriber, Removed};
use crate::db::unsubscribe::Change;
use crate::domain::{IssueStatus, SubscriberEmail, SubscriberStatus};
use crate::message::Recipient;
use crate::render::Renderer;
use crate::startup::{Application, Context, shutdown_signal};

/// Self-hosted newsletter delivery: issue files in, one personalized email per subscriber out.
#[derive(Debug, Parser)]
#[command(name = "mailroom", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file layered over the defaults (default: ./mailroom.toml if present).
    #[arg(long, global = true, env = "MAILROOM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import, inspect, finalize, preview and send issues.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Add and import subscribers.
    #[command(subcommand)]
    Subscribers(SubscriberCommand),
    /// Watch sends.
    #[command(subcommand)]
    Send(SendCommand),
    /// Process mail sent back to mailroom — mailto unsubscribes, bounces and complaints:
    /// from standard input (an MTA pipe), from files, from an mbox, from a Maildir whose
    /// handled messages move to cur/, or from a POP3 mailbox.
    Ingest {
        /// Message files (.eml), one message each; none reads one message from standard
        /// input.
        files: Vec<PathBuf>,
        /// Process every message in DIR/new: handled ones move to DIR/cur, unreadable ones
        /// to DIR/.quarantine/new, mail for other addresses stays.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["files", "mbox"])]
        maildir: Option<PathBuf>,
        /// Process every message of an mbox file.
        #[arg(long, value_name = "FILE", conflicts_with = "files")]
        mbox: Option<PathBuf>,
        /// Fetch every message from the POP3 mailbox in [bounces.pop3]; handled ones are
        /// deleted there (unless delete_after = false), mail for other addresses stays.
        #[arg(long, conflicts_with_all = ["files", "maildir", "mbox", "recipient"])]
        pop3: bool,
        /// The envelope recipient, as an MTA pipe passes it (e.g. Postfix's ${recipient});
        /// more reliable than the message's headers.
        #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["maildir", "mbox"])]
        recipient: Option<String>,
    },
    /// Read bounces and complaints, and list and count those applied to the list.
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// Run the delivery worker (without the HTTP server).
    Worker {
        /// Exit once nothing is due instead of waiting for new work (for cron and scripts).
        #[arg(long)]
        drain: bool,
    },
    /// Run the HTTP server and the delivery worker until Ctrl-C or SIGTERM.
    Serve {
        /// Serve HTTP only; delivery is left to separate `mailroom worker` processes.
        #[arg(long)]
        http_only: bool,
    },
    /// Back up and check the SQLite database, also while mailroom runs.
    #[command(subcommand)]
    Db(DbCommand),
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Write a consistent copy of the database, also while mailroom delivers.
    ///
    /// One snapshot of the whole database (SQLite's VACUUM INTO), safe while `serve` or
    /// workers write. It is written under a temporary name beside FILE, synced and checked,
    /// and only then named FILE, so a failed backup never leaves half a file there.
    Backup {
        /// Where to write the copy; an existing file is refused unless --force.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Check the database for damage (SQLite's integrity and foreign-key checks).
    ///
    /// Exits non-zero with the problems listed if any are found; changes nothing.
    Check {
        /// Check this file instead of the configured database (a backup, before restoring
        /// it).
        file: Option<PathBuf>,
    },
}

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
    /// Queue the issue for every active subscriber; the worker delivers it.
    Send {
        number: u32,
        /// Start no earlier than this time (RFC 3339, e.g. 2026-12-04T07:00:00Z).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Cancel the send if it has not started this long after its start time (or now),
        /// e.g. 6h or 2days: a weekly issue should not arrive days late.
        #[arg(long, value_name = "DURATION")]
        expire_after: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCommand {
    /// Add one subscriber (consent recorded as given through the CLI).
    Add {
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, value_enum, default_value = "active")]
        status: NewStatus,
    },
    /// Erase a subscriber on request: their data goes, a hash of the address stays so no
    /// import re-adds them. To stop mail but keep the record, use `unsubscribe`.
    Remove { email: String },
    /// Unsubscribe someone on their behalf (a request by phone, a support ticket).
    Unsubscribe { email: String },
    /// Show one subscriber: status, consent, and every change with when and how.
    Show { email: String },
    /// List subscribers, oldest first.
    List {
        #[arg(long, value_enum)]
        status: Option<SubscriberStatus>,
        /// Only addresses or names containing TEXT (case-insensitive).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u64,
    },
    /// Import a CSV file: header row with `email` and optionally `name`, `status`,
    /// `consent_source`, `consent_at`, `consent_ip`; other columns become attributes.
    /// Existing subscribers are updated (name, attributes), never revived if they left.
    /// All rows or none, unless --skip-invalid.
    Import {
        file: PathBuf,
        /// Status for new subscribers whose row has none.
        #[arg(long, value_enum, default_value = "active")]
        status: NewStatus,
        /// Import the valid rows and report the others, instead of importing nothing.
        #[arg(long)]
        skip_invalid: bool,
        /// Check the file and report what would change, without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the list as CSV (to standard output, or --output); importing it reproduces
    /// the list.
    Export {
        #[arg(long, value_enum)]
        status: Option<SubscriberStatus>,
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Count subscribers per status.
    Stats,
}

/// The statuses a new subscriber may start in.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NewStatus {
    Active,
    Pending,
}

impl From<NewStatus> for SubscriberStatus {
    fn from(s: NewStatus) -> Self {
        match s {
            NewStatus::Active => SubscriberStatus::Active,
            NewStatus::Pending => SubscriberStatus::Pending,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// Progress of an issue's send.
    Status {
        number: u32,
        /// Keep watching: a live progress bar (sent, retrying, failed, suppressed,
        /// remaining, rate, ETA) until the send is done or cancelled.
        #[arg(long)]
        follow: bool,
    },
    /// Stop handing out the send's deliveries; messages in flight finish.
    Pause { number: u32 },
    /// Continue a paused send.
    Resume { number: u32 },
    /// Stop a send for good; whoever has not received it yet will not.
    Cancel { number: u32 },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    // Parsing bounces is a pure function of the files: it needs neither configuration nor
    // a database, so it works on a machine where mailroom is not set up.
    if let Command::Bounces(BouncesCommand::Parse { files }) = &cli.command {
        return parse_bounces(files);
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { http_only } => serve(settings, http_only).await,
        // Not through Context::open: that creates and migrates the database, and a check
        // must be able to look at a file mailroom could not start on.
        Command::Db(c) => database(&settings, c).await,
        command => {
            let ctx = Context::open(settings).await?;
            match command {
                Command::Issue(c) => issue(&ctx, c).await,
                Command::Subscribers(c) => subscribers(&ctx, c).await,
                Command::Send(SendCommand::Status {
                    number,
                    follow: false,
                }) => send_status(&ctx, number).await,
                Command::Send(SendCommand::Status {
                    number,
                    follow: true,
                }) => follow_send(&ctx, number).await,
                Command::Send(SendCommand::Pause { number }) => {
                    control(&ctx, number, SendAction::Pause).await
                }
                Command::Send(SendCommand::Resume { number }) => {
                    control(&ctx, number, SendAction::Resume).await
                }
                Command::Send(SendCommand::Cancel { number }) => {
                    control(&ctx, number, SendAction::Cancel).await
                }
                Command::Worker { drain } => worker(&ctx, drain).await,
                Command::Ingest {
                    files,
                    maildir,
                    mbox,
                    pop3,
                    recipient,
                } => {
                    let from = match (maildir, mbox) {
                        _ if pop3 => Inbox::Pop3,
                        (Some(dir), _) => Inbox::Maildir(dir),
                        (None, Some(file)) => Inbox::Mbox(file),
                        (None, None) => Inbox::Files(files),
                    };
                    ingest(&ctx, from, recipient.as_deref()).await
                }
                Command::Bounces(BouncesCommand::List { limit, class }) => {
                    list_bounces(&ctx, limit, class.as_deref()).await
                }
                Command::Bounces(BouncesCommand::Stats { days }) => bounce_stats(&ctx, days).await,
                Command::Serve { .. }
                | Command::Db(_)
                | Command::Bounces(BouncesCommand::Parse { .. }) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

async fn issue(ctx: &Context, command: IssueCommand) -> Result<()> {
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
        IssueCommand::Send {
            number,
            at,
            expire_after,
        } => {
            let schedule =
                Schedule::parse(at.as_deref(), expire_after.as_deref()).map_err(|e| {
                    let flag = match e.field {
                        ScheduleField::At => "--at",
                        ScheduleField::ExpireAfter => "--expire-after",
                    };
                    anyhow::anyhow!("{flag} {e}")
                })?;
            ctx.settings
                .check_unsubscribe_links()
                .with_context(|| format!("issue #{number} not queued"))?;
            let (_, total) = db.schedule_send(number, &schedule, Source::Cli).await?;
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

async fn preview(ctx: &Context, number: u32, out: &Path, email: &str, name: &str) -> Result<()> {
    let stored = ctx.db.require_issue(number).await?;
    let email = SubscriberEmail::parse(email).with_context(|| format!("--email {email:?}"))?;
    let renderer = Renderer::new(&ctx.settings.newsletter)?;
    let rendered = renderer.render(&stored.issue)?;
    // A sample delivery id of 0 and subscriber id of 0: its tokens verify but name no one.
    let message = ctx.factory.build(
        &rendered,
        &Recipient {
            delivery_id: 0,
            subscriber_id: 0,
            email: email.as_str(),
            name,
            nonce: "preview",
            attributes: "{}",
        },
    )?;
    let personal = crate::render::Personal {
        attributes: None,
        name: if name.is_empty() {
            &ctx.settings.newsletter.default_name
        } else {
            name
        },
        email: email.as_str(),
        unsubscribe_url: &message.unsubscribe_url,
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = [
        (
            "issue.html",
            rendered.html.personalize(&personal).into_bytes(),
        ),
        (
            "issue.txt",
            rendered.text.personalize(&personal).into_bytes(),
        ),
        ("issue.eml", message.bytes),
        (
            "issue.mjml",
            renderer.mjml_source(&stored.issue)?.into_bytes(),
        ),
    ];
    for (file, bytes) in files {
        let path = out.join(file);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

async fn subscribers(ctx: &Context, command: SubscriberCommand) -> Result<()> {
    match command {
        SubscriberCommand::Add {
            email,
            name,
            status,
        } => {
            let email = SubscriberEmail::parse(&email).with_context(|| format!("{email:?}"))?;
            let name = name.trim().to_string();
            anyhow::ensure!(
                !name.chars().any(char::is_control),
                "--name must be one line"
            );
            match ctx
                .db
                .add_subscriber(
                    &NewSubscriber {
                        status: status.into(),
                        ..NewSubscriber::active(email.clone(), name)
                    },
                    Source::Cli,
                )
                .await?
            {
                Added::Created(id) => println!(
                    "added {email} (subscriber {id}, {})",
                    SubscriberStatus::from(status)
                ),
                Added::Erased => anyhow::bail!(
                    "{email} was removed from the list on request; only their own confirmed \
                     subscription can add them again"
                ),
                Added::Exists { id, status } => {
                    println!(
                        "{email} is already on the list (subscriber {id}, {status}); left unchanged"
                    )
                }
            }
        }
        SubscriberCommand::Import {
            file,
            status,
            skip_invalid,
            dry_run,
        } => {
            let options = crate::subscribers::ImportOptions {
                status: status.into(),
                skip_invalid,
                dry_run,
                consent_source: "import".into(),
            };
            let report = crate::subscribers::import(&ctx.db, &file, &options).await?;
            if report.invalid_count > 0 && !skip_invalid {
                anyhow::bail!("{report}\n(--skip-invalid imports the valid rows)");
            }
            println!("{report}");
        }
        SubscriberCommand::Export { status, output } => {
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    crate::subscribers::export(&ctx.db, status, file, true).await?
                }
                None => {
                    let stdout = std::io::stdout().lock();
                    crate::subscribers::export(&ctx.db, status, stdout, true).await?
                }
            };
            eprintln!("exported {written} subscriber(s)");
        }
        SubscriberCommand::Remove { email } => {
            let s = require_subscriber(ctx, &email).await?;
            match ctx.db.remove_subscriber(s.id, Source::Admin).await? {
                Removed::Done { status } => println!(
                    "{} removed (was {status}); a hash of the address is kept so no import adds it again",
                    s.email
                ),
                Removed::Unknown => anyhow::bail!("{} is not on the list", s.email),
            }
        }
        SubscriberCommand::List {
            status,
            search,
            limit,
        } => {
            let mut query = ListQuery {
                status,
                search,
                limit: 1000,
                after_id: 0,
            };
            let mut shown = 0u64;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            'pages: loop {
                let page = ctx.db.list_subscribers(&query).await?;
                let Some(last) = page.last() else { break };
                query.after_id = last.id;
                for s in &page {
                    if limit > 0 && shown == limit {
                        break 'pages;
                    }
                    writeln!(
                        out,
                        "{:>8}  {:<12}  {:<40}  {}",
                        s.id, s.status, s.email, s.name
                    )?;
                    shown += 1;
                }
            }
            out.flush()?;
            eprintln!("{shown} subscriber(s)");
        }
        SubscriberCommand::Unsubscribe { email } => {
            let s = require_subscriber(ctx, &email).await?;
            let email = &s.email;
            match ctx.db.unsubscribe(s.id, None, Source::Admin).await? {
                Change::Done => println!("{email} unsubscribed"),
                Change::Unchanged => println!("{email} was already unsubscribed"),
                Change::Blocked(status) => {
                    println!("{email} is {status}; it receives nothing already")
                }
                Change::Unknown => anyhow::bail!("{email} is not on the list"),
            }
        }
        SubscriberCommand::Show { email } => {
            let s = require_subscriber(ctx, &email).await?;
            println!("{} (subscriber {})", s.email, s.id);
            println!("name:     {}", s.name);
            println!("status:   {}", s.status);
            println!(
                "consent:  {} at {}{}",
                s.consent_source,
                s.consent_at,
                s.consent_ip
                    .map(|ip| format!(" from {ip}"))
                    .unwrap_or_default()
            );
            println!("history:");
            for e in crate::db::events::for_subscriber(ctx.db.pool(), s.id).await? {
                let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
                let issue = detail["issue"]
                    .as_u64()
                    .map(|n| format!(" (issue #{n})"))
                    .unwrap_or_default();
                println!("  {}  {:<13} via {}{issue}", e.at, e.kind, e.source);
            }
        }
        SubscriberCommand::Stats => {
            let s = ctx.db.subscriber_stats().await?;
            println!(
                "active {}  pending {}  unsubscribed {}  bounced {}  complained {}",
                s.active, s.pending, s.unsubscribed, s.bounced, s.complained
            );
        }
    }
    Ok(())
}

/// Where `mailroom ingest` reads messages from.
enum Inbox {
    /// Files of one message each; none: one message from standard input.
    Files(Vec<PathBuf>),
    Mbox(PathBuf),
    Maildir(PathBuf),
    /// The mailbox in `[bounces.pop3]`.
    Pop3,
}

async fn ingest(ctx: &Context, from: Inbox, recipient: Option<&str>) -> Result<()> {
    let max_bytes = ctx.settings.bounces.max_message_bytes;
    let inbound = crate::inbound::Inbound {
        db: &ctx.db,
        classifier: crate::inbound::Classifier {
            keys: ctx.factory.keys(),
            unsubscribe_domain: &ctx.settings.delivery.unsubscribe_domain,
            bounce_domain: &ctx.settings.delivery.bounce_domain,
            max_bytes,
        },
        policy: ctx.settings.bounces.policy(),
    };
    let mut report = crate::inbound::Report::default();
    match from {
        Inbox::Maildir(dir) => {
            let report = inbound.maildir(&dir).await?;
            println!("{}: {report}", dir.display());
            return Ok(());
        }
        Inbox::Pop3 => {
            let pop3 = &ctx.settings.bounces.pop3;
            let report = inbound.pop3(pop3).await?;
            println!("{}:{}: {report}", pop3.host, pop3.port);
            return Ok(());
        }
        Inbox::Mbox(file) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            inbound
                .mbox(&bytes, &mut report)
                .await
                .with_context(|| file.display().to_string())?;
        }
        Inbox::Files(files) if files.is_empty() => {
            // One byte past the cap is enough to know the message is too large; an MTA
            // pipe still gets exit status 0, so the refused message does not bounce back.
            let mut raw = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(std::io::stdin(), max_bytes.saturating_add(1)),
                &mut raw,
            )
            .context("reading standard input")?;
            inbound.message(&raw, recipient, &mut report).await?;
        }
        Inbox::Files(files) => {
            for file in files {
                let handled = match crate::inbound::read_message(&file, max_bytes)? {
                    Ok(raw) => inbound.handle(&raw, recipient).await,
                    Err(refused) => Ok(refused),
                };
                report.add(&handled.with_context(|| file.display().to_string())?);
            }
        }
    }
    println!("{report}");
    Ok(())
}

async fn list_bounces(ctx: &Context, limit: u32, class: Option<&str>) -> Result<()> {
    let class = class.and_then(crate::db::bounces::BounceClass::parse);
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

async fn bounce_stats(ctx: &Context, days: u32) -> Result<()> {
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

fn parse_bounces(files: &[PathBuf]) -> Result<()> {
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

async fn control(ctx: &Context, number: u32, action: SendAction) -> Result<()> {
    let before = ctx.db.control_send(number, action, Source::Admin).await?;
    let p = ctx
        .db
        .send_progress(number)
        .await?
        .context("send vanished")?;
    println!(
        "send of issue #{number}: {before} → {}; sent {}/{}, {} not yet delivered",
        p.status,
        p.sent,
        p.total,
        p.queued + p.retry + p.sending
    );
    Ok(())
}

/// Redraws the send's progress every second until it is done or cancelled (or Ctrl-C).
async fn follow_send(ctx: &Context, number: u32) -> Result<()> {
    use std::io::IsTerminal;
    let first = ctx.db.send_progress(number).await?.with_context(|| {
        format!("issue #{number} has not been sent; `mailroom issue send {number}`")
    })?;
    let bar = indicatif::ProgressBar::new(first.total as u64);
    if std::io::stdout().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut shutdown = shutdown_signal();
    let mut samples: std::collections::VecDeque<(std::time::Instant, i64)> = Default::default();
    loop {
        let p = ctx
            .db
            .send_progress(number)
            .await?
            .context("send vanished")?;
        let done = p.sent + p.failed + p.suppressed;
        let now = std::time::Instant::now();
        samples.push_back((now, p.sent));
        // Rate over the last ten seconds: recent enough to react, smooth enough to read.
        while samples.len() > 2 && now.duration_since(samples[0].0).as_secs() > 10 {
            samples.pop_front();
        }
        let (t0, s0) = samples[0];
        let elapsed = now.duration_since(t0).as_secs_f64();
        let rate = if elapsed > 0.0 {
            (p.sent - s0) as f64 / elapsed
        } else {
            0.0
        };
        let remaining = p.queued + p.sending + p.retry;
        let eta = if rate > 0.0 {
            format!("{}s", (remaining as f64 / rate).ceil())
        } else {
            "-".into()
        };
        let line = format!(
            "{} · sent {} · retrying {} · failed {} · suppressed {} · remaining {} · {rate:.0}/s · ETA {eta}",
            p.status, p.sent, p.retry, p.failed, p.suppressed, remaining
        );
        bar.set_position(done as u64);
        bar.set_message(line.clone());
        let finished = matches!(p.status.as_str(), "done" | "cancelled");
        if bar.is_hidden() && (finished || samples.len() % 5 == 1) {
            println!("issue #{number}: {line}");
        }
        if finished {
            bar.finish();
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = shutdown.changed() => { bar.abandon(); return Ok(()); }
        }
    }
}

/// The subscriber with this address, or an error naming it.
async fn require_subscriber(
    ctx: &Context,
    email: &str,
) -> Result<crate::db::subscribers::Subscriber> {
    let email = SubscriberEmail::parse(email).with_context(|| format!("{email:?}"))?;
    ctx.db
        .subscriber_by_email(&email)
        .await?
        .with_context(|| format!("{email} is not on the list"))
}

async fn send_status(ctx: &Context, number: u32) -> Result<()> {
    let p = ctx.db.send_progress(number).await?.with_context(|| {
        format!("issue #{number} has not been sent; `mailroom issue send {number}`")
    })?;
    println!(
        "issue #{number}: {}  total {}  sent {}  queued {}  sending {}  retry {}  failed {}  suppressed {}",
        p.status, p.total, p.sent, p.queued, p.sending, p.retry, p.failed, p.suppressed
    );
    if let Some(reason) = &p.paused_reason {
        println!("paused: {reason}");
        println!("`mailroom send resume {number}` continues it, `send cancel {number}` ends it");
    }
    Ok(())
}

async fn worker(ctx: &Context, drain: bool) -> Result<()> {
    warn_about_unsubscribe_links(&ctx.settings);
    let worker = ctx.worker()?;
    let attempted = worker.run_until_stopped(shutdown_signal(), drain).await?;
    if drain {
        let where_to = match ctx.settings.delivery.transport {
            TransportKind::Outbox => {
                format!("outbox {}", ctx.settings.delivery.outbox_dir.display())
            }
            TransportKind::Smtp => format!("SMTP relay {}", ctx.settings.smtp.host),
        };
        println!("worker drained: {attempted} delivery attempt(s) through the {where_to}");
        for s in ctx.db.issues().await? {
            if !matches!(s.status, IssueStatus::Sending | IssueStatus::Sent) {
                continue;
            }
            if let Some(p) = ctx.db.send_progress(s.issue.number).await? {
                println!(
                    "  issue #{}: {} — sent {}/{}, retry {}, failed {}, suppressed {}",
                    s.issue.number, p.status, p.sent, p.total, p.retry, p.failed, p.suppressed
                );
                if let Some(reason) = &p.paused_reason {
                    println!("    paused: {reason}");
                }
            }
        }
    }
    Ok(())
}

async fn database(settings: &Settings, command: DbCommand) -> Result<()> {
    let database = &settings.database.path;
    match command {
        DbCommand::Backup { file, force } => {
            if !force && file.exists() {
                anyhow::bail!(
                    "{} already exists; pass --force to replace it",
                    file.display()
                );
            }
            let backup = maintenance::backup(database, &file, force).await?;
            println!(
                "backed up {} to {} ({:.1} MiB, {} bytes)",
                database.display(),
                backup.path.display(),
                backup.bytes as f64 / (1024.0 * 1024.0),
                backup.bytes
            );
        }
        DbCommand::Check { file } => {
            let path = file.as_deref().unwrap_or(database);
            let problems = maintenance::check(path).await?;
            if !problems.is_empty() {
                anyhow::bail!(
                    "{}: the database is damaged ({} problem(s) found):\n  {}\n\
                     Restore the latest good backup (see Backups in the README).",
                    path.display(),
                    problems.len(),
                    problems.join("\n  ")
                );
            }
            println!(
                "{}: ok (integrity_check, foreign_key_check)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Sends already queued (or queued before the settings changed) still go out, so say it
/// where the operator looks when deliveries start.
fn warn_about_unsubscribe_links(settings: &Settings) {
    if let Err(e) = settings.check_unsubscribe_links() {
        tracing::warn!("{e:#}");
    }
}

async fn serve(settings: Settings, http_only: bool) -> Result<()> {
    warn_about_unsubscribe_links(&settings);
    let app = Application::build(settings).await?;
    tracing::info!(address = %app.local_addr(), http_only, "mailroom serving");
    println!("mailroom listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown_signal(), !http_only).await
}
