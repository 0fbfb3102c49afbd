//! `mailroom ingest`: mail sent back to mailroom, from files, an mbox, a Maildir or POP3.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::startup::Context;

/// Where `mailroom ingest` reads messages from.
pub(super) enum Inbox {
    /// Files of one message each; none: one message from standard input.
    Files(Vec<PathBuf>),
    Mbox(PathBuf),
    Maildir(PathBuf),
    /// The mailbox in `[bounces.pop3]`.
    Pop3,
}

pub(super) async fn run(ctx: &Context, from: Inbox, recipient: Option<&str>) -> Result<()> {
    let max_bytes = ctx.settings.bounces.max_message_bytes;
    let inbound = crate::inbound::Inbound::new(&ctx.db, ctx.factory.keys(), &ctx.settings);
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
