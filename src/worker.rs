//! The delivery worker: claim due deliveries, personalize, rate-limit, hand to the transport,
//! record the outcome. Shaped as `run_until_stopped` around a public `try_execute_batch`, so
//! tests can drive it one step at a time.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use time::OffsetDateTime;
use tokio::sync::{Mutex, watch};
use tracing::Instrument;

use crate::config::{DeliverySettings, Settings};
use crate::db::deliveries::Claimed;
use crate::db::{Db, parse_timestamp, timestamp};
use crate::domain::Policy;
use crate::domain::reply::Verdict;
use crate::domain::{Bounce, BounceKind, Outcome, SubscriberStatus};
use crate::message::{MessageFactory, Recipient};
use crate::metrics::Metrics;
use crate::pacing::DomainPacer;
use crate::render::{RenderedIssue, Renderer};
use crate::transport::{SendError, Transport};

/// What one step of the worker did.
/// How often a run of successful messages looks at its send's complaint rate.
const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many deliveries were attempted.
    Worked(usize),
    /// Nothing was due.
    Idle,
    /// Work is due but an hourly or daily cap is used up.
    Capped,
}

pub struct Worker {
    db: Db,
    transport: Arc<Transport>,
    factory: Arc<MessageFactory>,
    renderer: Renderer,
    settings: DeliverySettings,
    bounce_policy: Policy,
    limiter: DefaultDirectRateLimiter,
    pacer: DomainPacer,
    metrics: Arc<Metrics>,
    rendered: Mutex<HashMap<i64, Arc<RenderedIssue>>>,
}

impl Worker {
    pub fn new(
        db: Db,
        settings: &Settings,
        factory: MessageFactory,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let d = &settings.delivery;
        let rate =
            NonZeroU32::new(d.rate_per_second).context("delivery.rate_per_second must be > 0")?;
        let burst = NonZeroU32::new(d.burst.max(1)).expect("max(1) is non-zero");
        Ok(Self {
            db,
            transport: Arc::new(Transport::from_settings(settings)?),
            factory: Arc::new(factory),
            renderer: Renderer::for_list_mail(settings)?,
            settings: d.clone(),
            bounce_policy: Policy::from(&settings.bounces),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            pacer: DomainPacer::new(&d.domain_rates, d.rate_per_second),
            metrics,
            rendered: Mutex::new(HashMap::new()),
        })
    }

    /// Works until `shutdown` turns true, or (with `drain`) until nothing is due and no
    /// other worker holds a claim.
    /// On shutdown no new message is started; in-flight ones finish and are recorded, and
    /// unstarted claims are released for the next worker.
    pub async fn run_until_stopped(
        &self,
        mut shutdown: watch::Receiver<bool>,
        drain: bool,
    ) -> Result<u64> {
        let stop = Arc::new(AtomicBool::new(*shutdown.borrow()));
        let watcher = {
            let stop = stop.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _ = shutdown.wait_for(|s| *s).await;
                stop.store(true, Ordering::SeqCst);
            })
        };
        let mut attempted = 0u64;
        let result = loop {
            if stop.load(Ordering::SeqCst) {
                break Ok(attempted);
            }
            match self.try_execute_batch(&stop).await {
                Ok(Step::Worked(n)) => attempted += n as u64,
                Ok(Step::Capped) => {
                    tracing::info!("sending cap reached; waiting for the window to move");
                    if drain {
                        break Ok(attempted);
                    }
                    let pause = Duration::from_millis(self.settings.poll_interval_ms);
                    let _ = tokio::time::timeout(pause, shutdown.wait_for(|s| *s)).await;
                }
                Ok(Step::Idle) => {
                    if let Err(e) = self.db.complete_finished_sends().await {
                        break Err(e.into());
                    }
                    // Claims held by other (possibly dead) workers are outstanding work: a
                    // drain waits for them to finish or for their leases to lapse.
                    match self.db.leased_deliveries().await {
                        Ok(0) if drain => break Ok(attempted),
                        Ok(_) => {}
                        Err(e) => break Err(e.into()),
                    }
                    let pause = Duration::from_millis(self.settings.poll_interval_ms);
                    let _ = tokio::time::timeout(pause, shutdown.wait_for(|s| *s)).await;
                }
                Err(e) if drain => break Err(e),
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "delivery batch failed");
                    let pause = Duration::from_millis(self.settings.poll_interval_ms);
                    let _ = tokio::time::timeout(pause, shutdown.wait_for(|s| *s)).await;
                }
            }
        };
        watcher.abort();
        result
    }

    /// Claims one batch and delivers it with up to `concurrency` messages in flight.
    pub async fn try_execute_batch(&self, stop: &AtomicBool) -> Result<Step> {
        let lease =
            OffsetDateTime::now_utc() + Duration::from_secs(self.settings.lease_seconds.into());
        for send in self.db.expire_unstarted_sends().await? {
            tracing::warn!(send, "send expired before it could start; cancelled");
        }
        let limit = match self.quota_allowance().await? {
            Some(0) => return Ok(Step::Capped),
            Some(left) => left.min(self.settings.batch_size),
            None => self.settings.batch_size,
        };
        let claimed = self.db.claim_deliveries(&timestamp(lease), limit).await?;
        if claimed.is_empty() {
            return Ok(Step::Idle);
        }
        let count = claimed.len();
        let mut unstarted: Vec<i64> = Vec::new();
        let queue = futures_util::stream::iter(claimed.iter()).filter_map(|c| {
            let proceed = !stop.load(Ordering::SeqCst);
            if !proceed {
                unstarted.push(c.id);
            }
            std::future::ready(proceed.then_some(c))
        });
        // Delivering and recording run side by side: finished outcomes go through a small
        // channel to a recorder that writes whatever has queued up in one transaction.
        // Writing inline would stall every in-flight SMTP transaction for each commit; the
        // bounded channel keeps the unrecorded (crash-duplicable) messages to those in flight.
        let concurrency = self.settings.concurrency as usize;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<(&Claimed, Outcome)>(concurrency);
        let first_error: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
        let delivering = async {
            let mut finished = queue
                .map(|c| async move { (c, self.deliver(c).await) })
                .buffer_unordered(concurrency);
            while let Some((c, result)) = finished.next().await {
                match result {
                    Ok(outcome) => {
                        if sender.send((c, outcome)).await.is_err() {
                            break; // The recorder failed; its error is reported below.
                        }
                    }
                    // Left claimed: the lease runs out and the delivery is tried again.
                    Err(e) => {
                        first_error.lock().expect("error slot").get_or_insert(e);
                    }
                }
            }
            drop(sender);
        };
        let recording = async {
            // A failure can raise a send's bounce rate at once; complaints arrive through
            // ingest at any time, so they are looked at every so often rather than per
            // group (at full speed a group is often a single message).
            let mut health_checked: Option<std::time::Instant> = None;
            while let Some(first) = receiver.recv().await {
                let mut group = vec![first];
                while let Ok(next) = receiver.try_recv() {
                    group.push(next);
                }
                let written = self.db.finish_deliveries(&group, &self.bounce_policy).await;
                let due = group
                    .iter()
                    .any(|(_, o)| !matches!(o, Outcome::Sent { .. }))
                    || health_checked.is_none_or(|at| at.elapsed() >= HEALTH_CHECK_EVERY);
                let checked = match written {
                    Ok(()) if due => {
                        health_checked = Some(std::time::Instant::now());
                        self.check_send_health(&group).await
                    }
                    Ok(()) => Ok(()),
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = checked {
                    first_error.lock().expect("error slot").get_or_insert(e);
                    receiver.close();
                }
            }
        };
        tokio::join!(delivering, recording);
        if !unstarted.is_empty() {
            self.db.release_deliveries(&unstarted).await?;
        }
        if let Some(e) = first_error.into_inner().expect("error slot") {
            return Err(e);
        }
        Ok(Step::Worked(count - unstarted.len()))
    }

    /// Pauses any send in this group whose bounce or complaint rate is now too high.
    async fn check_send_health(&self, outcomes: &[(&Claimed, Outcome)]) -> Result<()> {
        let mut sends: Vec<i64> = outcomes.iter().map(|(c, _)| c.send_id).collect();
        sends.sort_unstable();
        sends.dedup();
        let d = &self.settings;
        for send_id in sends {
            let paused = self
                .db
                .pause_if_unhealthy(
                    send_id,
                    d.pause_hard_bounce_rate,
                    d.pause_complaint_rate,
                    d.pause_min_attempts,
                )
                .await?;
            if let Some(reason) = paused {
                tracing::error!(
                    send = send_id,
                    reason,
                    "send paused: check the list before resuming"
                );
            }
        }
        Ok(())
    }

    /// How many more messages the hourly and daily caps allow now; `None` without caps.
    async fn quota_allowance(&self) -> Result<Option<u32>> {
        let now = OffsetDateTime::now_utc();
        let mut allowance: Option<u32> = None;
        for (cap, window) in [
            (self.settings.max_per_hour, Duration::from_secs(3600)),
            (self.settings.max_per_day, Duration::from_secs(86_400)),
        ] {
            if cap == 0 {
                continue;
            }
            let sent = self.db.sent_since(&timestamp(now - window)).await?;
            let left = u32::try_from(i64::from(cap) - sent).unwrap_or(0);
            allowance = Some(allowance.map_or(left, |a| a.min(left)));
        }
        Ok(allowance)
    }

    async fn deliver(&self, c: &Claimed) -> Result<Outcome> {
        let span = tracing::info_span!(
            "delivery",
            delivery = c.id,
            subscriber = c.subscriber_id,
            issue = c.issue_id
        );
        async {
            let outcome = self.attempt(c).await?;
            self.metrics.attempt(outcome.label());
            match &outcome {
                Outcome::Sent { .. } => tracing::debug!("sent"),
                other => tracing::warn!(outcome = ?other, "not delivered"),
            }
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, c: &Claimed) -> Result<Outcome> {
        if c.subscriber_status != SubscriberStatus::Active {
            // Left the list after the send was queued: they get nothing.
            return Ok(Outcome::Suppressed {
                reason: format!("subscriber is {}", c.subscriber_status),
            });
        }
        let issue = match self.rendered_issue(c.issue_id).await? {
            Ok(issue) => issue,
            Err(error) => {
                tracing::error!(error, "the issue cannot be rendered; pausing the send");
                return Ok(Outcome::PauseSend {
                    reason: "the issue cannot be rendered".into(),
                    error,
                });
            }
        };
        let domain = c.email.rsplit('@').next().unwrap_or_default();
        self.limiter.until_ready().await;
        self.pacer.until_ready(domain).await;
        let started = std::time::Instant::now();
        // Building and handing over a message is the CPU-heavy part. As a task of its own
        // it runs on any runtime thread; inside the batch's stream it would all run on the
        // one thread polling the batch, leaving the other cores idle.
        let (factory, transport) = (self.factory.clone(), self.transport.clone());
        let (delivery_id, subscriber_id) = (c.id, c.subscriber_id);
        let (email, name, nonce) = (c.email.clone(), c.name.clone(), c.nonce.clone());
        let attributes = c.attributes.clone();
        let task = tokio::spawn(
            async move {
                let message = factory.build(
                    &issue,
                    &Recipient {
                        delivery_id,
                        subscriber_id,
                        email: &email,
                        name: &name,
                        nonce: &nonce,
                        attributes: &attributes,
                    },
                )?;
                let sent = transport.send(&message).await;
                anyhow::Ok((message, sent))
            }
            .in_current_span(),
        )
        .await;
        // A message that cannot be built will not build on the next attempt either: the
        // send pauses with the reason rather than claiming the delivery again and again.
        let (message, sent) = match task {
            Ok(Ok(built)) => built,
            Ok(Err(e)) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "message cannot be built; pausing the send"
                );
                return Ok(Outcome::PauseSend {
                    reason: format!(
                        "the message to subscriber {} cannot be built",
                        c.subscriber_id
                    ),
                    error: format!("{e:#}"),
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "building the message failed; pausing the send");
                return Ok(Outcome::PauseSend {
                    reason: format!(
                        "the message to subscriber {} cannot be built",
                        c.subscriber_id
                    ),
                    error: e.to_string(),
                });
            }
        };
        self.metrics
            .transport_seconds
            .observe(started.elapsed().as_secs_f64());
        let error = match sent {
            Ok(reply) => {
                return Ok(Outcome::Sent {
                    message_id: message.message_id,
                    reply,
                });
            }
            Err(error) => error,
        };
        let bounce = |kind| Bounce {
            kind,
            status: status_of(&error),
            error: error.message.clone(),
            reply_code: error.code,
            enhanced: error.enhanced,
        };
        Ok(match error.verdict() {
            Verdict::Sent => Outcome::Sent {
                message_id: message.message_id,
                reply: error.message,
            },
            Verdict::Retry { slow_domain } => {
                if slow_domain {
                    self.pacer.slow_down(domain);
                }
                self.retry_or_give_up(c, &error)?
            }
            Verdict::HardBounce => Outcome::Failed(bounce(BounceKind::Hard)),
            Verdict::SoftBounce => Outcome::Failed(bounce(BounceKind::Soft)),
            Verdict::Blocked => {
                self.pacer.slow_down(domain);
                tracing::warn!(
                    domain,
                    error = %error,
                    "refused by the receiver's policy: check the sending reputation and authentication"
                );
                Outcome::Failed(bounce(BounceKind::Blocked))
            }
            Verdict::ContentRejected => {
                tracing::error!(error = %error, "the relay refused the message itself; pausing the send");
                Outcome::PauseSend {
                    reason: "the relay refused the message itself".into(),
                    error: error.message,
                }
            }
        })
    }

    /// Backs off exponentially; past the maximum age the delivery is a soft bounce.
    fn retry_or_give_up(&self, c: &Claimed, error: &SendError) -> Result<Outcome> {
        let now = OffsetDateTime::now_utc();
        let queued = parse_timestamp(&c.created_at)?;
        let max_age = Duration::from_secs(u64::from(self.settings.retry_max_age_hours) * 3600);
        let exponent = u32::try_from(c.attempts.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(16);
        let delay = Duration::from_secs(u64::from(self.settings.retry_base_seconds) << exponent);
        let due = now + delay;
        if due - queued > max_age {
            return Ok(Outcome::Failed(Bounce {
                kind: BounceKind::Soft,
                status: status_of(error),
                error: format!("expired after {} attempts: {}", c.attempts, error.message),
                reply_code: error.code,
                enhanced: error.enhanced,
            }));
        }
        Ok(Outcome::Retry {
            due_at: timestamp(due),
            error: error.message.clone(),
        })
    }

    /// The issue rendered once for everyone; the inner error says why it cannot be
    /// rendered at all (the outer one is the database's, worth retrying).
    async fn rendered_issue(
        &self,
        issue_id: i64,
    ) -> Result<std::result::Result<Arc<RenderedIssue>, String>> {
        let mut cache = self.rendered.lock().await;
        if let Some(r) = cache.get(&issue_id) {
            return Ok(Ok(r.clone()));
        }
        let stored = self.db.issue_by_id(issue_id).await?;
        let rendered = match self.renderer.render(&stored.issue) {
            Ok(rendered) => Arc::new(rendered),
            Err(e) => return Ok(Err(format!("{e:#}"))),
        };
        cache.insert(issue_id, rendered.clone());
        Ok(Ok(rendered))
    }
}

/// "550 5.1.1": the reply and enhanced codes as recorded with a bounce.
fn status_of(error: &SendError) -> String {
    match (error.code, error.enhanced) {
        (Some(code), Some(e)) => format!("{code} {e}"),
        (Some(code), None) => code.to_string(),
        (None, _) => "no reply".to_string(),
    }
}
