//! `mailroom db …`: back up and check the database while mailroom runs.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::config::Settings;
use crate::db::maintenance;

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

pub(super) async fn run(settings: &Settings, command: DbCommand) -> Result<()> {
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
