//! `mailroom send …`: watch and steer a send.

use anyhow::{Context as _, Result};
use clap::Subcommand;

use crate::db::Source;
use crate::domain::SendAction;
use crate::startup::{Context, shutdown_signal};

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

pub(super) async fn control(ctx: &Context, number: u32, action: SendAction) -> Result<()> {
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
pub(super) async fn follow(ctx: &Context, number: u32) -> Result<()> {
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
        let finished = p.status.is_over();
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

pub(super) async fn status(ctx: &Context, number: u32) -> Result<()> {
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
