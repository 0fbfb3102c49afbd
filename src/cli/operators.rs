//! `mailroom operators …`: the accounts that sign in to the web dashboard.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::db::Source;
use crate::startup::Context;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator. The password is asked for twice on the terminal, or read as
    /// the first line of standard input with --password-stdin.
    Add {
        name: String,
        /// Read the password from standard input (scripts, secrets managers).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password; the operator's sessions end.
    Password {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators and how many sessions each has open.
    List,
    /// Remove an operator; their sessions end.
    Remove { name: String },
}

pub(super) async fn run(ctx: &Context, command: OperatorCommand) -> Result<()> {
    match command {
        OperatorCommand::Add {
            name,
            password_stdin,
        } => {
            crate::operators::check_name(&name)?;
            let password = read_password(password_stdin)?;
            crate::operators::add(&ctx.db, &name, &password).await?;
            println!(
                "operator {name} added; sign in at {}/admin",
                ctx.settings.newsletter.base_url.trim_end_matches('/')
            );
        }
        OperatorCommand::Password {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let ended = crate::operators::set_password(&ctx.db, &name, &password).await?;
            println!("password of {name} changed; {ended} session(s) ended");
        }
        OperatorCommand::List => {
            let operators = ctx.db.operators().await?;
            if operators.is_empty() {
                println!("no operators yet; add one with `mailroom operators add NAME`");
            }
            for o in operators {
                println!(
                    "{:<24} since {}  {} open session(s)",
                    o.name, o.created_at, o.sessions
                );
            }
        }
        OperatorCommand::Remove { name } => {
            ctx.db.remove_operator(&name, Source::Cli).await?;
            println!("operator {name} removed; their sessions ended");
        }
    }
    Ok(())
}

/// The first line of standard input, or a password typed twice on the terminal.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        crate::operators::check_password(&password)?;
        return Ok(password);
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "standard input is not a terminal: pass --password-stdin to read the password from it"
    );
    let password = rpassword::prompt_password("Password: ").context("reading the password")?;
    crate::operators::check_password(&password)?;
    let again = rpassword::prompt_password("Again: ").context("reading the password")?;
    anyhow::ensure!(
        password == again,
        "the two passwords differ; nothing changed"
    );
    Ok(password)
}
