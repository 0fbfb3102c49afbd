//! Prometheus metrics: worker counters and timings, and list and queue sizes read from
//! the database at scrape time.

use anyhow::Result;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::db::Db;
use crate::domain::{DeliveryStatus, SubscriberStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    /// Delivery attempts by outcome (sent, retry, failed, suppressed, paused).
    pub attempts: Family<OutcomeLabel, Counter>,
    /// Seconds the transport took per message (SMTP transaction or file write).
    pub transport_seconds: Histogram,
    subscribers: Family<StatusLabel, Gauge>,
    queue: Family<StatusLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mailroom");
        let attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts by outcome",
            attempts.clone(),
        );
        let transport_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "transport_seconds",
            "Time the transport took per message",
            transport_seconds.clone(),
        );
        let subscribers = Family::<StatusLabel, Gauge>::default();
        registry.register("subscribers", "Subscribers by status", subscribers.clone());
        let queue = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "queue_deliveries",
            "Deliveries of running or paused sends by state",
            queue.clone(),
        );
        Self {
            registry,
            attempts,
            transport_seconds,
            subscribers,
            queue,
        }
    }

    pub fn attempt(&self, outcome: &str) {
        self.attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition format, with the database gauges refreshed first.
    pub async fn render(&self, db: &Db) -> Result<String> {
        let stats = db.subscriber_stats().await?;
        for (status, n) in [
            (SubscriberStatus::Active, stats.active),
            (SubscriberStatus::Pending, stats.pending),
            (SubscriberStatus::Unsubscribed, stats.unsubscribed),
            (SubscriberStatus::Bounced, stats.bounced),
            (SubscriberStatus::Complained, stats.complained),
        ] {
            self.subscribers
                .get_or_create(&StatusLabel {
                    status: status.as_str().into(),
                })
                .set(n);
        }
        for state in DeliveryStatus::ALL {
            self.queue
                .get_or_create(&StatusLabel {
                    status: state.as_str().into(),
                })
                .set(0);
        }
        for (state, n) in db.open_queue_counts().await? {
            self.queue
                .get_or_create(&StatusLabel {
                    status: state.as_str().into(),
                })
                .set(n);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
