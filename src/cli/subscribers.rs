//! `mailroom subscribers …`: the list, one address or a CSV file at a time.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::db::Source;
use crate::db::subscribers::{Added, ListQuery, NewSubscriber, Removed};
use crate::db::unsubscribe::Change;
use crate::domain::{SubscriberEmail, SubscriberStatus};
use crate::startup::Context;

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

pub(super) async fn run(ctx: &Context, command: SubscriberCommand) -> Result<()> {
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

/// The subscriber with this address, or an error naming it.
pub(super) async fn require_subscriber(
    ctx: &Context,
    email: &str,
) -> Result<crate::db::subscribers::Subscriber> {
    let email = SubscriberEmail::parse(email).with_context(|| format!("{email:?}"))?;
    ctx.db
        .subscriber_by_email(&email)
        .await?
        .with_context(|| format!("{email} is not on the list"))
}
