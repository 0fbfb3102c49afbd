//! Per-recipient-domain pacing: configured rates (e.g. `gmail.com = 20` per second), and
//! automatic slow-down when a domain answers 421 or 4.7.x, recovering step by step.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How long a domain must stay quiet (no slow-down signal) before its rate steps up.
pub const RECOVERY_STEP: Duration = Duration::from_secs(60);

/// The rate after a slow-down signal: half, never below one message per second.
pub fn slowed(current: u32) -> u32 {
    (current / 2).max(1)
}

/// The rate after a quiet spell: half again as fast, up to `ceiling`.
pub fn recovered(current: u32, ceiling: u32) -> u32 {
    (current + current.div_ceil(2)).min(ceiling)
}

struct Domain {
    rate: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
    changed: Instant,
}

fn limiter(rate: u32) -> Arc<DefaultDirectRateLimiter> {
    let rate = NonZeroU32::new(rate.max(1)).expect("max(1) is non-zero");
    // No burst beyond one second's worth: a domain that asked us to slow down means it.
    Arc::new(RateLimiter::direct(Quota::per_second(rate)))
}

pub struct DomainPacer {
    configured: HashMap<String, u32>,
    /// The rate an unconfigured domain starts from when it first asks us to slow down.
    default_ceiling: u32,
    domains: Mutex<HashMap<String, Domain>>,
}

impl DomainPacer {
    pub fn new(configured: &HashMap<String, u32>, default_ceiling: u32) -> Self {
        let configured: HashMap<String, u32> = configured
            .iter()
            .map(|(d, r)| (d.to_ascii_lowercase(), (*r).max(1)))
            .collect();
        let domains = configured
            .iter()
            .map(|(d, r)| {
                (
                    d.clone(),
                    Domain {
                        rate: *r,
                        limiter: limiter(*r),
                        changed: Instant::now(),
                    },
                )
            })
            .collect();
        Self {
            configured,
            default_ceiling: default_ceiling.max(1),
            domains: Mutex::new(domains),
        }
    }

    fn ceiling(&self, domain: &str) -> u32 {
        self.configured
            .get(domain)
            .copied()
            .unwrap_or(self.default_ceiling)
    }

    /// Waits until `domain` may receive another message.
    pub async fn until_ready(&self, domain: &str) {
        let limiter = {
            let mut domains = self.domains.lock().expect("pacer lock");
            let ceiling = self.ceiling(domain);
            let Some(state) = domains.get_mut(domain) else {
                return;
            };
            if state.rate < ceiling && state.changed.elapsed() >= RECOVERY_STEP {
                state.rate = recovered(state.rate, ceiling);
                state.limiter = limiter(state.rate);
                state.changed = Instant::now();
                tracing::info!(domain, rate = state.rate, "domain recovering");
            }
            if state.rate >= ceiling && !self.configured.contains_key(domain) {
                // Fully recovered and never configured: back to the global limits only.
                domains.remove(domain);
                return;
            }
            state.limiter.clone()
        };
        limiter.until_ready().await;
    }

    /// The domain answered 421 or 4.7.x: halve its rate.
    pub fn slow_down(&self, domain: &str) {
        let mut domains = self.domains.lock().expect("pacer lock");
        let ceiling = self.ceiling(domain);
        let state = domains.entry(domain.to_string()).or_insert_with(|| Domain {
            rate: ceiling,
            limiter: limiter(ceiling),
            changed: Instant::now(),
        });
        state.rate = slowed(state.rate);
        state.limiter = limiter(state.rate);
        state.changed = Instant::now();
        tracing::warn!(domain, rate = state.rate, "domain asked us to slow down");
    }

    /// The current rate for `domain`, if it is paced.
    pub fn rate(&self, domain: &str) -> Option<u32> {
        self.domains
            .lock()
            .expect("pacer lock")
            .get(domain)
            .map(|d| d.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_down_by_half_and_recovers_gradually() {
        assert_eq!(slowed(20), 10);
        assert_eq!(slowed(1), 1);
        assert_eq!(recovered(10, 20), 15);
        assert_eq!(recovered(15, 20), 20);
        assert_eq!(recovered(1, 20), 2);
        let mut rate = 1;
        let mut steps = 0;
        while rate < 50 {
            rate = recovered(rate, 50);
            steps += 1;
        }
        assert_eq!(steps, 9, "from 1/s back to 50/s in nine quiet minutes");
    }

    #[test]
    fn signals_halve_the_domain_rate() {
        let pacer = DomainPacer::new(&HashMap::from([("gmail.com".to_string(), 20)]), 50);
        assert_eq!(pacer.rate("gmail.com"), Some(20));
        assert_eq!(
            pacer.rate("example.org"),
            None,
            "unconfigured domains are not paced"
        );
        pacer.slow_down("gmail.com");
        pacer.slow_down("gmail.com");
        assert_eq!(pacer.rate("gmail.com"), Some(5));
        pacer.slow_down("example.org");
        assert_eq!(
            pacer.rate("example.org"),
            Some(25),
            "starts from the global rate"
        );
    }
}
