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

/// How often a run of successful messages looks at its send's complaint rate.
const HEALTH_CHECK_EVERY: Duration = Duration::from_millis(250);
/// The most outcomes one commit takes, and how long the first of a group waits for others.
const GROUP_MAX: usize = 128;
const GROUP_WINDOW: Duration = Duration::from_millis(20);

/// What claiming found.
enum Claim {
    Batch(Vec<Claimed>),
    Nothing,
    Capped,
}

/// A message's place in the order sessions are taken: it waits for `before` (the message
/// claimed just before it has its session, or gave up), and lets the next one go by
/// dropping `mine`. With a refusal marking its send before its session is released, a
/// message claimed after a refused one never goes out before the pause is committed.
struct Turn {
    before: Option<tokio::sync::oneshot::Receiver<()>>,
    mine: tokio::sync::oneshot::Sender<()>,
}

/// Gives claimed deliveries back to the queue.
async fn release(
    worker: &Worker,
    ids: &[i64],
    held: &std::sync::Mutex<std::collections::HashSet<i64>>,
    fail: &(dyn Fn(anyhow::Error) + Sync),
) {
    if ids.is_empty() {
        return;
    }
    {
        let mut held = held.lock().expect("held set");
        for id in ids {
            held.remove(id);
        }
    }
    if let Err(e) = worker.db.release_deliveries(ids).await {
        fail(e.into());
    }
}

/// Takes the queued deliveries of `sends` out of the queue; returns their ids, to be given
/// back.
fn take_sends(queue: &mut std::collections::VecDeque<Claimed>, sends: &[i64]) -> Vec<i64> {
    let mut taken = Vec::new();
    queue.retain(|q| {
        let keep = !sends.contains(&q.send_id);
        if !keep {
            taken.push(q.id);
        }
        keep
    });
    taken
}

/// What one step of the worker did.

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
    /// Sends an outcome is pausing (the relay refused the message itself, or it cannot be
    /// built), until the pause is committed: messages of theirs already built or claimed
    /// are given back instead of sent. Checked by a message once it holds its session,
    /// and filled before the refused one lets its session go, so none slips through.
    halted: Arc<std::sync::Mutex<std::collections::HashSet<i64>>>,
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
            halted: Arc::default(),
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
            match self.execute(&stop, None).await {
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
        self.execute(stop, Some(1)).await
    }

    /// Delivers claimed batches, up to `max_batches` of them (all that are due without), with
    /// up to `concurrency` messages in flight. The next batch is claimed while the last
    /// messages of the current one are on the wire, so the sessions never wait for a claim
    /// (at a batch boundary they otherwise all fall idle for the claim's round trip).
    async fn execute(&self, stop: &AtomicBool, max_batches: Option<usize>) -> Result<Step> {
        let concurrency = self.settings.concurrency.max(1) as usize;
        // Twice as many messages in flight as sessions: while a session carries one
        // message the next is being built, so no session waits for a build.
        let in_flight_max = 2 * concurrency;
        // The last call's recorder committed (or failed to commit) every pause it saw; a
        // send left here would have its deliveries given back forever.
        self.halted.lock().expect("halted set").clear();
        // Delivering and recording run side by side: finished outcomes go through a
        // channel to a recorder that writes them in group commits (see `record`).
        let (sender, receiver) = tokio::sync::mpsc::channel::<(Claimed, Outcome)>(GROUP_MAX);
        let first_error: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
        let recorded = std::sync::atomic::AtomicUsize::new(0);
        // Deliveries claimed here and not yet recorded (queued, in flight, or waiting for
        // the recorder): a claim can return one of them again when its lease ran out
        // meanwhile, and it must not go twice.
        let held: std::sync::Mutex<std::collections::HashSet<i64>> = Default::default();
        // Sends the recorder's health check just paused: their queued deliveries are given
        // back at once rather than sent from the queue claimed before the pause.
        let unhealthy: std::sync::Mutex<Vec<i64>> = Default::default();
        let fail = |e: anyhow::Error| {
            first_error.lock().expect("error slot").get_or_insert(e);
        };
        let delivering = async {
            let mut queue: std::collections::VecDeque<Claimed> = Default::default();
            let mut in_flight = futures_util::stream::FuturesUnordered::new();
            let mut claiming: Option<futures_util::future::BoxFuture<'_, Result<Claim>>> = None;
            let (mut batches, mut attempted) = (0usize, 0usize);
            let mut end = Step::Idle;
            let (mut more, mut recorder_failed) = (true, false);
            let mut turn: Option<tokio::sync::oneshot::Receiver<()>> = None;
            // Sends paused while a claim was running: that claim may have been written
            // before the pause and return their deliveries. Only that claim is filtered;
            // later ones see the pause in the database, and a resume must not be ignored.
            let mut paused_during_claim: Vec<i64> = Vec::new();
            loop {
                let paused = std::mem::take(&mut *unhealthy.lock().expect("unhealthy list"));
                if !paused.is_empty() {
                    if claiming.is_some() {
                        paused_during_claim.extend(&paused);
                    }
                    release(self, &take_sends(&mut queue, &paused), &held, &fail).await;
                }
                let stopping = recorder_failed || stop.load(Ordering::SeqCst);
                while !stopping && in_flight.len() < in_flight_max {
                    let Some(c) = queue.pop_front() else { break };
                    // Sessions are taken in claim order, however long each build took.
                    let (mine, next) = tokio::sync::oneshot::channel::<()>();
                    let before = turn.replace(next);
                    in_flight.push(async move {
                        let outcome = self.deliver(&c, Turn { before, mine }).await;
                        (c, outcome)
                    });
                }
                if stopping {
                    more = false;
                }
                // Low water: fewer queued than a round of sessions takes.
                if more
                    && claiming.is_none()
                    && queue.len() < in_flight_max
                    && max_batches.is_none_or(|m| batches < m)
                {
                    // Claimed here but not yet recorded: the caps must count them too.
                    let outstanding =
                        queue.len() + in_flight.len() + attempted - recorded.load(Ordering::SeqCst);
                    claiming = Some(Box::pin(self.claim(outstanding)));
                } else if max_batches.is_some_and(|m| batches >= m) {
                    more = false;
                }
                if in_flight.is_empty() && claiming.is_none() && (queue.is_empty() || stopping) {
                    break;
                }
                tokio::select! {
                    Some((c, result)) = in_flight.next(), if !in_flight.is_empty() => {
                        attempted += 1;
                        if result.is_err() {
                            held.lock().expect("held set").remove(&c.id);
                        }
                        match result {
                            // Built, but its send is pausing: back to the queue.
                            Ok(None) => release(self, &[c.id], &held, &fail).await,
                            Ok(Some(outcome)) => {
                                if matches!(outcome, Outcome::PauseSend { .. }) {
                                    self.halted.lock().expect("halted set").insert(c.send_id);
                                    let given_back = take_sends(&mut queue, &[c.send_id]);
                                    release(self, &given_back, &held, &fail).await;
                                }
                                if sender.send((c, outcome)).await.is_err() {
                                    // The recorder failed; its error is reported below.
                                    recorder_failed = true;
                                }
                            }
                            // Left claimed: the lease runs out and the delivery is tried again.
                            Err(e) => fail(e),
                        }
                    }
                    claimed = async { claiming.as_mut().expect("claim in progress").await },
                        if claiming.is_some() => {
                        claiming = None;
                        let stale = std::mem::take(&mut paused_during_claim);
                        match claimed {
                            Ok(Claim::Batch(claimed)) => {
                                batches += 1;
                                let (fresh, given_back): (Vec<Claimed>, Vec<Claimed>) = {
                                    let mut held = held.lock().expect("held set");
                                    let pausing = self.halted.lock().expect("halted set");
                                    claimed
                                        .into_iter()
                                        .filter(|c| held.insert(c.id))
                                        .partition(|c| {
                                            !pausing.contains(&c.send_id)
                                                && !stale.contains(&c.send_id)
                                        })
                                };
                                let given_back: Vec<i64> = given_back.iter().map(|c| c.id).collect();
                                release(self, &given_back, &held, &fail).await;
                                queue.extend(fresh);
                            }
                            Ok(Claim::Nothing) => more = false,
                            Ok(Claim::Capped) => {
                                more = false;
                                end = Step::Capped;
                            }
                            Err(e) => {
                                more = false;
                                fail(e);
                            }
                        }
                    }
                }
            }
            drop(sender);
            // Claimed but never started (a stop, or a recorder that failed): given back
            // so the next worker starts them at once instead of after the lease.
            let unstarted: Vec<i64> = queue.iter().map(|c| c.id).collect();
            release(self, &unstarted, &held, &fail).await;
            if attempted > 0 {
                end = Step::Worked(attempted);
            }
            end
        };
        let (step, ()) = tokio::join!(
            delivering,
            self.record(receiver, &recorded, &held, &unhealthy, &fail)
        );
        if let Some(e) = first_error.into_inner().expect("error slot") {
            return Err(e);
        }
        Ok(step)
    }

    /// The next batch of due deliveries, within the hourly and daily caps.
    /// `outstanding`: claimed by this worker and not yet recorded as sent.
    async fn claim(&self, outstanding: usize) -> Result<Claim> {
        for send in self.db.expire_unstarted_sends().await? {
            tracing::warn!(send, "send expired before it could start; cancelled");
        }
        let outstanding = u32::try_from(outstanding).unwrap_or(u32::MAX);
        let limit = match self.quota_allowance().await? {
            Some(left) if left <= outstanding => return Ok(Claim::Capped),
            Some(left) => (left - outstanding).min(self.settings.batch_size),
            None => self.settings.batch_size,
        };
        let lease =
            OffsetDateTime::now_utc() + Duration::from_secs(self.settings.lease_seconds.into());
        let claimed = self.db.claim_deliveries(&timestamp(lease), limit).await?;
        Ok(if claimed.is_empty() {
            Claim::Nothing
        } else {
            Claim::Batch(claimed)
        })
    }

    /// Writes outcomes as they come, in group commits: whatever has queued, plus what
    /// arrives within `GROUP_WINDOW` of the first, up to `GROUP_MAX`. A commit's cost is
    /// mostly fixed (five round trips to SQLite's thread, the WAL frames of the pages it
    /// touched), so at full speed a group of dozens costs little more than a group of one.
    /// The price is the crash window: outcomes not yet committed when the process dies are
    /// sent again by the next worker, at most the messages in flight plus two groups.
    async fn record(
        &self,
        mut receiver: tokio::sync::mpsc::Receiver<(Claimed, Outcome)>,
        recorded: &std::sync::atomic::AtomicUsize,
        held: &std::sync::Mutex<std::collections::HashSet<i64>>,
        unhealthy: &std::sync::Mutex<Vec<i64>>,
        fail: &(dyn Fn(anyhow::Error) + Sync),
    ) {
        // A failure can raise a send's bounce rate at once; complaints arrive through
        // ingest at any time, so they are looked at every so often rather than per group.
        let mut health_checked: Option<std::time::Instant> = None;
        while let Some(first) = receiver.recv().await {
            let window = tokio::time::Instant::now() + GROUP_WINDOW;
            let mut group = vec![first];
            // A failure ends the group: the health check after its commit may pause the
            // send, and every message sent while the window stays open is one more to a
            // list that may be bad. Healthy sends have few failures, so few short groups.
            while group.len() < GROUP_MAX && matches!(group.last(), Some((_, Outcome::Sent { .. })))
            {
                match receiver.try_recv() {
                    Ok(next) => group.push(next),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(window, receiver.recv()).await {
                            Ok(Some(next)) => group.push(next),
                            Ok(None) | Err(_) => break,
                        }
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => break,
                }
            }
            let written = self.db.finish_deliveries(&group, &self.bounce_policy).await;
            recorded.fetch_add(group.len(), Ordering::SeqCst);
            {
                let mut held = held.lock().expect("held set");
                for (c, _) in &group {
                    held.remove(&c.id);
                }
            }
            if written.is_ok() {
                // Committed: claims no longer return the paused sends' deliveries, and a
                // resume from now on must find them sendable.
                let mut pausing = self.halted.lock().expect("halted set");
                for (c, o) in &group {
                    if matches!(o, Outcome::PauseSend { .. }) {
                        pausing.remove(&c.send_id);
                    }
                }
            }
            let due = group
                .iter()
                .any(|(_, o)| !matches!(o, Outcome::Sent { .. }))
                || health_checked.is_none_or(|at| at.elapsed() >= HEALTH_CHECK_EVERY);
            let checked = match written {
                Ok(()) if due => {
                    health_checked = Some(std::time::Instant::now());
                    self.check_send_health(&group).await.map(|paused| {
                        unhealthy.lock().expect("unhealthy list").extend(paused);
                    })
                }
                Ok(()) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = checked {
                fail(e);
                receiver.close();
            }
        }
    }

    /// Pauses any send in this group whose bounce or complaint rate is now too high;
    /// returns those it paused.
    async fn check_send_health(&self, outcomes: &[(Claimed, Outcome)]) -> Result<Vec<i64>> {
        let mut sends: Vec<i64> = outcomes.iter().map(|(c, _)| c.send_id).collect();
        sends.sort_unstable();
        sends.dedup();
        let d = &self.settings;
        let mut paused_now = Vec::new();
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
                paused_now.push(send_id);
            }
        }
        Ok(paused_now)
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

    /// `None`: built, but not sent because its send is pausing.
    async fn deliver(&self, c: &Claimed, turn: Turn) -> Result<Option<Outcome>> {
        let span = tracing::info_span!(
            "delivery",
            delivery = c.id,
            subscriber = c.subscriber_id,
            issue = c.issue_id
        );
        async {
            let Some(outcome) = self.attempt(c, turn).await? else {
                return Ok(None);
            };
            self.metrics.attempt(outcome.label());
            match &outcome {
                Outcome::Sent { .. } => tracing::debug!("sent"),
                other => tracing::warn!(outcome = ?other, "not delivered"),
            }
            Ok(Some(outcome))
        }
        .instrument(span)
        .await
    }

    async fn attempt(&self, c: &Claimed, turn: Turn) -> Result<Option<Outcome>> {
        if c.subscriber_status != SubscriberStatus::Active {
            // Left the list after the send was queued: they get nothing.
            return Ok(Some(Outcome::Suppressed {
                reason: format!("subscriber is {}", c.subscriber_status),
            }));
        }
        let issue = match self.rendered_issue(c.issue_id).await? {
            Ok(issue) => issue,
            Err(error) => {
                tracing::error!(error, "the issue cannot be rendered; pausing the send");
                return Ok(Some(Outcome::PauseSend {
                    reason: "the issue cannot be rendered".into(),
                    error,
                }));
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
        let (halted, send_id) = (self.halted.clone(), c.send_id);
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
                // Built ahead; now wait for the message claimed before this one to have
                // its session (or to have given up), then for a session, then look again
                // at the send.
                if let Some(before) = turn.before {
                    let _ = before.await;
                }
                let session = transport.session().await;
                drop(turn.mine);
                if halted.lock().expect("halted set").contains(&send_id) {
                    return anyhow::Ok(None);
                }
                let sent = transport.send(&message).await;
                if let Err(e) = &sent
                    && matches!(e.verdict(), Verdict::ContentRejected)
                {
                    // Before the session goes to the next message, which may be this send's.
                    halted.lock().expect("halted set").insert(send_id);
                }
                drop(session);
                anyhow::Ok(Some((message, sent)))
            }
            .in_current_span(),
        )
        .await;
        // A message that cannot be built will not build on the next attempt either: the
        // send pauses with the reason rather than claiming the delivery again and again.
        let (message, sent) = match task {
            Ok(Ok(Some(built))) => built,
            Ok(Ok(None)) => return Ok(None),
            Ok(Err(e)) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "message cannot be built; pausing the send"
                );
                return Ok(Some(Outcome::PauseSend {
                    reason: format!(
                        "the message to subscriber {} cannot be built",
                        c.subscriber_id
                    ),
                    error: format!("{e:#}"),
                }));
            }
            Err(e) => {
                tracing::error!(error = %e, "building the message failed; pausing the send");
                return Ok(Some(Outcome::PauseSend {
                    reason: format!(
                        "the message to subscriber {} cannot be built",
                        c.subscriber_id
                    ),
                    error: e.to_string(),
                }));
            }
        };
        self.metrics
            .transport_seconds
            .observe(started.elapsed().as_secs_f64());
        let error = match sent {
            Ok(reply) => {
                return Ok(Some(Outcome::Sent {
                    message_id: message.message_id,
                    reply,
                }));
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
        Ok(Some(match error.verdict() {
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
        }))
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
