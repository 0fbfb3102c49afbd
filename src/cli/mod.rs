//! The `mailroom` command line: parsing with clap, and one module per group of commands,
//! each a thin layer over library functions that prints what they did.

mod archive;
mod bounces;
mod db;
mod ingest;
mod issue;
mod operators;
mod send;
mod subscribers;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use crate::config::{Settings, TransportKind};
use crate::domain::IssueStatus;
use crate::domain::SendAction;
use crate::startup::{Application, Context, shutdown_signal};

pub use archive::ArchiveCommand;
pub use bounces::BouncesCommand;
pub use db::DbCommand;
pub use issue::IssueCommand;
pub use operators::OperatorCommand;
pub use send::SendCommand;
pub use subscribers::{NewStatus, SubscriberCommand};

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
    /// Check the sending setup against Gmail's and Yahoo's bulk-sender rules: SPF, DKIM,
    /// DMARC alignment, the bounce domain's MX, base_url, the relays' TLS and credentials.
    /// Exits 0 when all pass, 1 on warnings, 2 on failures.
    Doctor {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The public archive of sent issues: export it as static files.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Accounts for the web dashboard (/admin): add, list, remove, change a password.
    #[command(subcommand)]
    Operators(OperatorCommand),
}

/// Ends the command with this exit code, having said what there was to say: `issue check`
/// and `doctor` exit 1 on warnings and 2 on errors.
#[derive(Debug, thiserror::Error)]
#[error("exit code {0}")]
pub struct Exit(pub u8);

fn doctor_failed(e: anyhow::Error) -> Result<()> {
    eprintln!("error: {e:#}");
    Err(Exit(2).into())
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    // Parsing bounces is a pure function of the files: it needs neither configuration nor
    // a database, so it works on a machine where mailroom is not set up.
    if let Command::Bounces(BouncesCommand::Parse { files }) = &cli.command {
        return bounces::parse(files);
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        // For the doctor, exit 1 means warnings: a setup it cannot even read is a failure.
        Err(e) if matches!(cli.command, Command::Doctor { .. }) => return doctor_failed(e),
        settings => settings?,
    };
    match cli.command {
        Command::Serve { http_only } => serve(settings, http_only).await,
        // Not through Context::open: that creates and migrates the database, and a check
        // must be able to look at a file mailroom could not start on.
        Command::Db(c) => db::run(&settings, c).await,
        // Needs no database: it looks at DNS, the relays and base_url.
        Command::Doctor { json } => {
            let report = match crate::doctor::run(&settings).await {
                Ok(report) => report,
                Err(e) => return doctor_failed(e),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_text(issue::colour_stdout()));
            }
            match report.status.exit_code() {
                0 => Ok(()),
                code => Err(Exit(code).into()),
            }
        }
        command => {
            let ctx = Context::open(settings).await?;
            match command {
                Command::Issue(c) => issue::run(&ctx, c).await,
                Command::Subscribers(c) => subscribers::run(&ctx, c).await,
                Command::Send(SendCommand::Status {
                    number,
                    follow: false,
                }) => send::status(&ctx, number).await,
                Command::Send(SendCommand::Status {
                    number,
                    follow: true,
                }) => send::follow(&ctx, number).await,
                Command::Send(SendCommand::Pause { number }) => {
                    send::control(&ctx, number, SendAction::Pause).await
                }
                Command::Send(SendCommand::Resume { number }) => {
                    send::control(&ctx, number, SendAction::Resume).await
                }
                Command::Send(SendCommand::Cancel { number }) => {
                    send::control(&ctx, number, SendAction::Cancel).await
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
                        _ if pop3 => ingest::Inbox::Pop3,
                        (Some(dir), _) => ingest::Inbox::Maildir(dir),
                        (None, Some(file)) => ingest::Inbox::Mbox(file),
                        (None, None) => ingest::Inbox::Files(files),
                    };
                    ingest::run(&ctx, from, recipient.as_deref()).await
                }
                Command::Bounces(BouncesCommand::List { limit, class }) => {
                    bounces::list(&ctx, limit, class.as_deref()).await
                }
                Command::Bounces(BouncesCommand::Stats { days }) => {
                    bounces::stats(&ctx, days).await
                }
                Command::Archive(c) => archive::run(&ctx, c).await,
                Command::Operators(c) => operators::run(&ctx, c).await,
                Command::Serve { .. }
                | Command::Db(_)
                | Command::Doctor { .. }
                | Command::Bounces(BouncesCommand::Parse { .. }) => {
                    unreachable!("handled above")
                }
            }
        }
    }
}

async fn worker(ctx: &Context, drain: bool) -> Result<()> {
    warn_about_unsubscribe_links(&ctx.settings);
    let worker = ctx.worker()?;
    // On a runtime thread rather than `main`'s: the tasks it spawns per message then start
    // on the same thread (tokio's LIFO slot) and wake it there, instead of crossing threads
    // twice per message; idle runtime threads still steal them when the CPU is busy.
    let shutdown = shutdown_signal();
    let attempted = tokio::spawn(async move { worker.run_until_stopped(shutdown, drain).await })
        .await
        .context("the delivery worker stopped abnormally")??;
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
