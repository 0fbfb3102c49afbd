use std::process::ExitCode;

use clap::Parser;
use mailroom::cli::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Serve { .. } | Command::Worker { .. } => "info",
        _ => "warn",
    };
    mailroom::telemetry::init(default_filter);
    match mailroom::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<mailroom::cli::Exit>().is_some() => {
            let code = e.downcast_ref::<mailroom::cli::Exit>().map_or(1, |x| x.0);
            ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
