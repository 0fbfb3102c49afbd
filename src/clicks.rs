//! Click counts per item: following a `/c/TOKEN` link to its item's URL, telling a
//! person's click from a machine's, and the per-item results.
//!
//! Security scanners (Microsoft Defender/Safe Links, Mimecast, Proofpoint, …) follow every
//! link of a message, often within seconds of its arrival; counted as readers they would
//! make every item look equally popular. A click is taken for a machine's when any rule
//! says so (the README's "Click counts" explains each):
//!
//! - it is a HEAD request;
//! - its user agent is missing or on the scanner list ([`SCANNER_AGENTS`] and
//!   `analytics.scanner_user_agents`);
//! - it comes within `analytics.scanner_window_seconds` of the delivery being sent (or
//!   while the delivery is still in flight);
//! - it completes a burst: clicks of one delivery within `analytics.burst_seconds` that
//!   cover at least `burst_min_links` different links and `burst_fraction` of the
//!   message's links. The burst's earlier clicks, counted as a person's when they came,
//!   move to the machine count then.
//!
//! Machine clicks are redirected like any other: a scanner must learn nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use crate::config::AnalyticsSettings;
use crate::db::clicks::{Counted, NewClick, Reclassify};
use crate::db::{self, Db};
use crate::domain::{IssueStatus, MachineReason};
use crate::token::ClickClaim;

/// User-agent substrings (lower case) of link scanners, previewers and scripts. People
/// click in browsers and mail apps, whose user agents contain none of these.
pub const SCANNER_AGENTS: &[&str] = &[
    // Microsoft: Defender for Office 365 / Safe Links detonation, Bing and Office previews.
    "bingpreview",
    "bingbot",
    "safelinks",
    "office existence discovery",
    "skypeuripreview",
    "microsoftpreview",
    // Mail security gateways that announce themselves.
    "mimecast",
    "proofpoint",
    "barracuda",
    "ironport",
    "trendmicro",
    "forcepoint",
    "sophos",
    "fortiguard",
    "zscaler",
    "symantec",
    // Google's fetchers and scanners.
    "googlebot",
    "google-safety",
    "googleimageproxy",
    "google-inspectiontool",
    "apis-google",
    "feedfetcher-google",
    // Headless and automated browsers.
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    // HTTP libraries and command-line clients.
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "java/",
    "okhttp",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    // Link previews in chats and social sites (a forwarded link unfurled is not a read).
    "slackbot",
    "twitterbot",
    "facebookexternalhit",
    "linkedinbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    // Crawlers in general.
    "crawler",
    "spider",
];

/// The classification rules, from `[analytics]`.
#[derive(Debug, Clone)]
pub struct Rules {
    early: time::Duration,
    burst: Duration,
    burst_min_links: usize,
    burst_fraction: f64,
    /// Lower case: the built-in list and the configured one.
    agents: Vec<String>,
}

impl Rules {
    pub fn new(a: &AnalyticsSettings) -> Self {
        Self {
            early: time::Duration::seconds(
                i64::try_from(a.scanner_window_seconds).unwrap_or(i64::MAX),
            ),
            burst: Duration::from_secs(a.burst_seconds),
            burst_min_links: a.burst_min_links as usize,
            burst_fraction: a.burst_fraction,
            agents: SCANNER_AGENTS
                .iter()
                .map(|s| s.to_string())
                .chain(
                    a.scanner_user_agents
                        .iter()
                        .map(|s| s.trim().to_lowercase()),
                )
                .collect(),
        }
    }

    /// What one request says about itself, before any burst is considered: `None` for a
    /// person's click as far as this request shows.
    pub fn first_look(&self, request: &Request<'_>) -> Option<MachineReason> {
        if request.head {
            return Some(MachineReason::Head);
        }
        let agent = request.user_agent.map(str::trim).unwrap_or_default();
        // Every browser and mail app sends one; scripts often do not.
        if agent.is_empty() {
            return Some(MachineReason::Agent);
        }
        let agent = agent.to_ascii_lowercase();
        if self.agents.iter().any(|a| agent.contains(a.as_str())) {
            return Some(MachineReason::Agent);
        }
        match request.since_sent {
            // Not recorded as sent yet: the message is in flight, and only a gateway
            // scanning it on the way can have it.
            None => Some(MachineReason::Early),
            Some(age) if age < self.early => Some(MachineReason::Early),
            Some(_) => None,
        }
    }

    /// Whether `distinct` different links of a message with `links` links is most of them.
    fn is_burst(&self, distinct: usize, links: usize) -> bool {
        distinct >= self.burst_min_links && distinct as f64 >= self.burst_fraction * links as f64
    }
}

/// A request for a counted link, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub head: bool,
    pub user_agent: Option<&'a str>,
    /// Time since the delivery was recorded as sent; `None` if it is not yet.
    pub since_sent: Option<time::Duration>,
}

/// One recent click of a delivery, kept in memory for `burst_seconds` only.
#[derive(Debug, Clone, Copy)]
struct Recent {
    at: Instant,
    item: u16,
    /// How it was counted, while it counts as a person's.
    human: Option<Counted>,
}

/// The last `burst_seconds` of clicks per delivery. In memory on purpose: no time of any
/// click is ever written down (unless clicks are kept per subscriber). Several `serve`
/// processes behind one address each see only their own share of a burst.
#[derive(Debug, Default)]
pub struct Bursts {
    by_delivery: HashMap<i64, Vec<Recent>>,
    since_sweep: usize,
}

impl Bursts {
    /// Looks at a new click of `delivery` on `item` at `now`. When it completes a burst,
    /// returns the earlier clicks counted as a person's (each is no longer one from here
    /// on); `None` when it does not.
    pub fn observe(
        &mut self,
        rules: &Rules,
        delivery: i64,
        item: u16,
        links: usize,
        now: Instant,
    ) -> Option<Vec<Reclassify>> {
        let recent = self.by_delivery.entry(delivery).or_default();
        recent.retain(|r| now.saturating_duration_since(r.at) <= rules.burst);
        let mut items: Vec<u16> = recent.iter().map(|r| r.item).collect();
        items.push(item);
        items.sort_unstable();
        items.dedup();
        if !rules.is_burst(items.len(), links) {
            return None;
        }
        Some(
            recent
                .iter_mut()
                .filter_map(|r| {
                    r.human.take().map(|counted| Reclassify {
                        item: r.item,
                        counted,
                    })
                })
                .collect(),
        )
    }

    /// Keeps the click for the bursts to come; `human` is how it was counted as a person's.
    pub fn remember(
        &mut self,
        rules: &Rules,
        delivery: i64,
        item: u16,
        now: Instant,
        human: Option<Counted>,
    ) {
        self.by_delivery.entry(delivery).or_default().push(Recent {
            at: now,
            item,
            human,
        });
        // Deliveries nobody clicks any more are forgotten now and then.
        self.since_sweep += 1;
        if self.since_sweep >= 1024 {
            self.since_sweep = 0;
            self.by_delivery.retain(|_, recent| {
                recent
                    .last()
                    .is_some_and(|r| now.saturating_duration_since(r.at) <= rules.burst)
            });
        }
    }

    #[cfg(test)]
    fn deliveries(&self) -> usize {
        self.by_delivery.len()
    }
}

/// An issue's item URLs, by item index; issues past draft never change, so kept.
#[derive(Debug)]
struct IssueLinks {
    issue_id: i64,
    urls: Vec<Option<String>>,
    /// How many items have a URL: the message's counted links.
    links: usize,
}

/// The time the rules see: the system's, moved forward by [`Clicks::skip_time`].
#[derive(Debug, Default)]
struct Clock {
    skipped_ms: AtomicU64,
}

impl Clock {
    fn now(&self) -> (OffsetDateTime, Instant) {
        let skipped = Duration::from_millis(self.skipped_ms.load(Ordering::Relaxed));
        (
            OffsetDateTime::now_utc() + skipped,
            Instant::now() + skipped,
        )
    }
}

/// Follows and counts clicks on `/c/TOKEN` links.
#[derive(Debug)]
pub struct Clicks {
    db: Db,
    rules: Rules,
    clock: Clock,
    per_subscriber: bool,
    issues: Mutex<HashMap<u32, Arc<IssueLinks>>>,
    /// Held across the click's write: a burst's reclassification must see every earlier
    /// click of the delivery counted. SQLite serializes the writes anyway.
    bursts: tokio::sync::Mutex<Bursts>,
}

impl Clicks {
    pub fn new(db: Db, settings: &AnalyticsSettings) -> Self {
        Self {
            db,
            rules: Rules::new(settings),
            clock: Clock::default(),
            per_subscriber: settings.per_subscriber,
            issues: Mutex::new(HashMap::new()),
            bursts: tokio::sync::Mutex::new(Bursts::default()),
        }
    }

    /// Moves this service's clock forward: a test plays a reader who comes back minutes
    /// after a scanner, without waiting for the burst window to pass.
    pub fn skip_time(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.clock.skipped_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Where a click goes: the item's URL from the stored issue, or `None` when the token
    /// names no such issue, item or delivery (a 404). With `count`, the click is counted;
    /// a failure to count is logged and the reader still gets through.
    pub async fn follow(
        &self,
        claim: ClickClaim,
        head: bool,
        user_agent: Option<&str>,
        count: bool,
    ) -> db::Result<Option<String>> {
        let Some(links) = self.issue_links(claim.issue_number).await? else {
            return Ok(None);
        };
        let Some(Some(url)) = links.urls.get(usize::from(claim.item)) else {
            return Ok(None);
        };
        // A preview's links name delivery 0: they work, and count for nothing.
        if claim.delivery_id == 0 {
            return Ok(Some(url.clone()));
        }
        let Some(delivery) = self.db.clicked_delivery(claim.delivery_id).await? else {
            return Ok(None);
        };
        if delivery.issue_id != links.issue_id {
            return Ok(None);
        }
        if !count {
            return Ok(Some(url.clone()));
        }
        let (now, instant) = self.clock.now();
        let since_sent = match delivery.sent_at.as_deref().map(db::parse_timestamp) {
            Some(Ok(sent)) => Some(now - sent),
            Some(Err(e)) => return Err(e),
            None => None,
        };
        let request = Request {
            head,
            user_agent,
            since_sent,
        };
        let click = NewClick {
            issue_id: links.issue_id,
            item: claim.item,
            delivery_id: claim.delivery_id,
            subscriber_id: self.per_subscriber.then_some(delivery.subscriber_id),
            machine: self.rules.first_look(&request),
            at: db::timestamp(now),
        };
        if let Err(e) = self.count(click, links.links, instant).await {
            tracing::warn!(error = format!("{e:#}"), "a click was not counted");
        }
        Ok(Some(url.clone()))
    }

    async fn count(&self, mut click: NewClick, links: usize, now: Instant) -> db::Result<()> {
        let mut bursts = self.bursts.lock().await;
        let earlier = bursts.observe(&self.rules, click.delivery_id, click.item, links, now);
        if earlier.is_some() && click.machine.is_none() {
            click.machine = Some(MachineReason::Burst);
        }
        let counted = match self
            .db
            .record_click(&click, earlier.as_deref().unwrap_or_default())
            .await
        {
            Ok(counted) => counted,
            Err(e) => {
                // Not written: the earlier clicks are still counted as a person's.
                for e in earlier.unwrap_or_default() {
                    bursts.remember(&self.rules, click.delivery_id, e.item, now, Some(e.counted));
                }
                return Err(e);
            }
        };
        let human = click.machine.is_none().then_some(counted);
        bursts.remember(&self.rules, click.delivery_id, click.item, now, human);
        Ok(())
    }

    async fn issue_links(&self, number: u32) -> db::Result<Option<Arc<IssueLinks>>> {
        if let Some(links) = self.issues.lock().expect("issue cache").get(&number) {
            return Ok(Some(links.clone()));
        }
        let Some(stored) = self.db.issue(number).await? else {
            return Ok(None);
        };
        let urls: Vec<Option<String>> = stored.issue.items().map(|i| i.url.clone()).collect();
        let links = Arc::new(IssueLinks {
            issue_id: stored.id,
            links: urls.iter().flatten().count(),
            urls,
        });
        // A draft can still change; a finalized issue's content is frozen.
        if stored.status != IssueStatus::Draft {
            self.issues
                .lock()
                .expect("issue cache")
                .insert(number, links.clone());
        }
        Ok(Some(links))
    }
}

/// One item's click results: what `issue stats`, the API and the dashboard show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemClicks {
    /// The item's index across sections, as click tokens name it.
    pub item: u16,
    pub section: String,
    pub title: String,
    pub url: String,
    /// Clicks counted as a person's, repeats included.
    pub human_clicks: i64,
    /// Deliveries with at least one click counted as a person's: unique readers.
    pub unique_humans: i64,
    /// Clicks counted as a machine's.
    pub machine_clicks: i64,
    /// Messages of the issue handed over.
    pub delivered: i64,
    /// `unique_humans / delivered`; 0 before anything is delivered.
    pub click_through: f64,
}

/// The click results of every item with a link of issue `issue_number`, in issue order
/// (items nobody clicked included, with zeros).
pub async fn item_clicks(db: &Db, issue_number: u32) -> Result<Vec<ItemClicks>, db::Error> {
    let stored = db.require_issue(issue_number).await?;
    let counts = db.click_counts(stored.id).await?;
    let delivered = db.delivered_count(stored.id).await?;
    let mut out = Vec::new();
    let mut index = 0usize;
    for section in &stored.issue.sections {
        for item in &section.items {
            let n = index;
            index += 1;
            let (Some(url), Ok(item_index)) = (&item.url, u16::try_from(n)) else {
                continue;
            };
            let c = counts.iter().find(|c| c.item == i64::from(item_index));
            let unique_humans = c.map_or(0, |c| c.unique_humans);
            out.push(ItemClicks {
                item: item_index,
                section: section.name.clone(),
                title: item.title.clone(),
                url: url.clone(),
                human_clicks: c.map_or(0, |c| c.human_clicks),
                unique_humans,
                machine_clicks: c.map_or(0, |c| c.machine_clicks),
                delivered,
                click_through: if delivered > 0 {
                    unique_humans as f64 / delivered as f64
                } else {
                    0.0
                },
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> AnalyticsSettings {
        AnalyticsSettings {
            clicks: true,
            text_links: false,
            per_subscriber: false,
            scanner_window_seconds: 60,
            burst_seconds: 2,
            burst_min_links: 3,
            burst_fraction: 0.5,
            scanner_user_agents: vec!["  Acme-LinkGuard ".into()],
        }
    }

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn request(head: bool, agent: Option<&str>, seconds: Option<i64>) -> Request<'_> {
        Request {
            head,
            user_agent: agent,
            since_sent: seconds.map(time::Duration::seconds),
        }
    }

    #[test]
    fn a_browser_get_long_after_delivery_is_a_person() {
        let rules = Rules::new(&settings());
        assert_eq!(
            rules.first_look(&request(false, Some(FIREFOX), Some(3600))),
            None
        );
        assert_eq!(
            rules.first_look(&request(false, Some(FIREFOX), Some(60))),
            None
        );
    }

    #[test]
    fn head_requests_are_machines_whoever_sends_them() {
        let rules = Rules::new(&settings());
        assert_eq!(
            rules.first_look(&request(true, Some(FIREFOX), Some(3600))),
            Some(MachineReason::Head)
        );
    }

    #[test]
    fn scanner_and_missing_user_agents_are_machines() {
        let rules = Rules::new(&settings());
        for agent in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Mimecast URL Protect",
            "Mozilla/5.0 (compatible; BingPreview/1.0b)",
            "Go-http-client/1.1",
            "Mozilla/5.0 acme-linkguard/2.0",
            "",
            "   ",
        ] {
            assert_eq!(
                rules.first_look(&request(false, Some(agent), Some(3600))),
                Some(MachineReason::Agent),
                "{agent:?}"
            );
        }
        assert_eq!(
            rules.first_look(&request(false, None, Some(3600))),
            Some(MachineReason::Agent)
        );
    }

    #[test]
    fn clicks_before_a_person_could_read_are_machines() {
        let rules = Rules::new(&settings());
        assert_eq!(
            rules.first_look(&request(false, Some(FIREFOX), Some(59))),
            Some(MachineReason::Early)
        );
        assert_eq!(
            rules.first_look(&request(false, Some(FIREFOX), Some(0))),
            Some(MachineReason::Early)
        );
        // Not yet recorded as sent: only something on the way can have the message.
        assert_eq!(
            rules.first_look(&request(false, Some(FIREFOX), None)),
            Some(MachineReason::Early)
        );
        let off = Rules::new(&AnalyticsSettings {
            scanner_window_seconds: 0,
            ..settings()
        });
        assert_eq!(
            off.first_look(&request(false, Some(FIREFOX), Some(0))),
            None
        );
    }

    fn counted(n: i64) -> Counted {
        Counted {
            made_unique: true,
            event_id: Some(n),
        }
    }

    #[test]
    fn a_burst_over_most_links_reclassifies_its_earlier_human_clicks() {
        let rules = Rules::new(&settings());
        let mut bursts = Bursts::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A message with 5 links; 3 different ones within 2 s is a burst (3 >= 2.5).
        assert_eq!(bursts.observe(&rules, 1, 0, 5, t0), None);
        bursts.remember(&rules, 1, 0, t0, Some(counted(10)));
        assert_eq!(bursts.observe(&rules, 1, 1, 5, t0 + ms(300)), None);
        bursts.remember(&rules, 1, 1, t0 + ms(300), None); // a HEAD, say
        // The same link again does not make it a burst.
        assert_eq!(bursts.observe(&rules, 1, 1, 5, t0 + ms(400)), None);
        bursts.remember(&rules, 1, 1, t0 + ms(400), Some(counted(11)));
        let earlier = bursts
            .observe(&rules, 1, 2, 5, t0 + ms(900))
            .expect("a burst");
        assert_eq!(
            earlier,
            vec![
                Reclassify {
                    item: 0,
                    counted: counted(10)
                },
                Reclassify {
                    item: 1,
                    counted: counted(11)
                },
            ]
        );
        bursts.remember(&rules, 1, 2, t0 + ms(900), None);
        // Further clicks of the burst are machines too; nothing is taken back twice.
        assert_eq!(
            bursts.observe(&rules, 1, 3, 5, t0 + ms(1000)),
            Some(Vec::new())
        );
    }

    #[test]
    fn slow_clicks_few_links_and_other_deliveries_make_no_burst() {
        let rules = Rules::new(&settings());
        let mut bursts = Bursts::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // A reader going through the issue: one link every few seconds.
        for (n, item) in [0u16, 1, 2, 3, 4].into_iter().enumerate() {
            let at = t0 + s(3 * n as u64);
            assert_eq!(bursts.observe(&rules, 7, item, 5, at), None, "item {item}");
            bursts.remember(&rules, 7, item, at, Some(counted(n as i64)));
        }
        // Three links of a message with ten: not most of them.
        for item in 0..3u16 {
            assert_eq!(bursts.observe(&rules, 8, item, 10, t0), None);
            bursts.remember(&rules, 8, item, t0, Some(counted(0)));
        }
        // Two deliveries' clicks never add up.
        for (delivery, item) in [(20, 0u16), (21, 1), (22, 2)] {
            assert_eq!(bursts.observe(&rules, delivery, item, 3, t0), None);
            bursts.remember(&rules, delivery, item, t0, Some(counted(0)));
        }
        // Fewer links than burst_min_links: never a burst, however fast.
        for item in [0u16, 1, 0, 1] {
            assert_eq!(bursts.observe(&rules, 30, item, 2, t0), None);
            bursts.remember(&rules, 30, item, t0, Some(counted(0)));
        }
    }

    #[test]
    fn quiet_deliveries_are_forgotten() {
        let rules = Rules::new(&settings());
        let mut bursts = Bursts::default();
        let t0 = Instant::now();
        for delivery in 0..1023 {
            bursts.remember(&rules, delivery, 0, t0, None);
        }
        assert_eq!(bursts.deliveries(), 1023);
        bursts.remember(&rules, 5000, 0, t0 + Duration::from_secs(10), None);
        assert_eq!(bursts.deliveries(), 1);
    }
}
