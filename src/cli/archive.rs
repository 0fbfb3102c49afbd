//! `mailroom archive …`: the public archive outside `mailroom serve`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::archive::export;
use crate::startup::Context;

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Write the archive as static files for any web host: index pages, one page per
    /// issue, the RSS, Atom and JSON feeds and a sitemap.
    ///
    /// The same pages `mailroom serve` answers under /archive, with relative links, so DIR
    /// can be published under any path. Everything is written beside DIR first and then
    /// takes its place: a failed export leaves DIR as it was. The subscribe forms post to
    /// newsletter.base_url, where `mailroom serve` answers.
    Export {
        /// The folder to write; it must not exist or be empty, unless --force.
        dir: PathBuf,
        /// Where DIR will be published (canonical URLs, feeds, sitemap); default:
        /// archive.base_url, or newsletter.base_url + /archive.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Replace the contents of a DIR that is not empty (a previous export).
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(ctx: &Context, command: ArchiveCommand) -> Result<()> {
    match command {
        ArchiveCommand::Export {
            dir,
            base_url,
            force,
        } => {
            let done =
                export::export(&ctx.settings, &ctx.db, &dir, base_url.as_deref(), force).await?;
            println!(
                "exported {} issue(s) to {}: {} files, {:.1} KiB, to be published at {}/",
                done.issues,
                done.dir.display(),
                done.files,
                done.bytes as f64 / 1024.0,
                done.base_url
            );
        }
    }
    Ok(())
}
