//! The runtime policy in one value: how often AWS calls are attempted and how long they back
//! off, how often a rollout is polled, and the lock's time to live. Built once at start
//! ([`Tuning::from_env`]) and carried by the `AwsContext`; no other module reads these knobs.
//!
//! Test knobs (environment): `DECKHAND_MAX_ATTEMPTS` (attempts per call, 4),
//! `DECKHAND_RETRY_BACKOFF_MS` (first retry delay, 500 ms), `DECKHAND_POLL_INTERVAL_MS` (a fixed
//! poll interval; also the first back-off on CloudFront's TooManyInvalidationsInProgress),
//! `DECKHAND_LOCK_TTL` (a duration like `2s`; 15 min), `DECKHAND_LIST_RANGE_KEYS` (known keys
//! per concurrent listing range, 1,000: tests split small sites), `DECKHAND_ROLE_DURATION` (the
//! session `role-to-assume` asks STS for, a duration like `6s`; 1 h: tests outlive it),
//! `DECKHAND_HISTORY_PAGE` (release ids per listing page and in the history index, 1,000: tests
//! page small histories).

use std::time::Duration;

use aws_config::retry::RetryConfig;

/// The whole runtime policy (see the module docs for the knobs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuning {
    /// Attempts per AWS call, the first included.
    pub(crate) max_attempts: u32,
    /// Delay before the first retry; doubles on each further one up to `max_backoff`.
    pub(crate) retry_backoff: Duration,
    /// Longest delay between two attempts of a call.
    pub(crate) max_backoff: Duration,
    /// A fixed poll interval (tests); `None`: each wait's own schedule.
    pub(crate) poll_interval: Option<Duration>,
    /// How long a deploy's lock lives without a heartbeat.
    pub(crate) lock_ttl: Duration,
    /// Known keys per range when the site bucket is listed in concurrent ranges.
    pub(crate) list_range_keys: usize,
    /// The session `role-to-assume` asks for (DurationSeconds).
    pub(crate) role_duration: Duration,
    /// Release ids per ListObjectsV2 page of the records, and ids the history index keeps.
    pub(crate) history_page: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            retry_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            poll_interval: None,
            lock_ttl: Duration::from_secs(15 * 60),
            list_range_keys: 1000,
            role_duration: Duration::from_secs(3600),
            history_page: 1000,
        }
    }
}

/// A poll schedule: `base` after a change, growing by half while nothing changes, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Polls {
    pub(crate) base: Duration,
    pub(crate) max: Duration,
}

/// The longest back-off while CloudFront has too many invalidations in progress.
const BUSY_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The first back-off on TooManyInvalidationsInProgress without `DECKHAND_POLL_INTERVAL_MS`.
const BUSY_BACKOFF: Duration = Duration::from_secs(5);

impl Tuning {
    /// Reads the test knobs from the environment (a knob that does not parse keeps its default).
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let ms = |name: &str| {
            get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        let d = Self::default();
        Self {
            max_attempts: get("DECKHAND_MAX_ATTEMPTS")
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(d.max_attempts),
            retry_backoff: ms("DECKHAND_RETRY_BACKOFF_MS").unwrap_or(d.retry_backoff),
            max_backoff: d.max_backoff,
            poll_interval: ms("DECKHAND_POLL_INTERVAL_MS")
                .map(|p| p.max(Duration::from_millis(10))),
            lock_ttl: get("DECKHAND_LOCK_TTL")
                .and_then(|v| humantime::parse_duration(&v).ok())
                .filter(|t| !t.is_zero())
                .unwrap_or(d.lock_ttl),
            list_range_keys: get("DECKHAND_LIST_RANGE_KEYS")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(d.list_range_keys),
            role_duration: get("DECKHAND_ROLE_DURATION")
                .and_then(|v| humantime::parse_duration(&v).ok())
                .filter(|t| !t.is_zero())
                .unwrap_or(d.role_duration),
            history_page: get("DECKHAND_HISTORY_PAGE")
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| (1..=1000).contains(n))
                .unwrap_or(d.history_page),
        }
    }

    /// The SDK's standard retry (exponential backoff with jitter, the retry quota) for every
    /// client.
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.retry_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// For publishing site files (each PutObject, part, copy): twice the attempts. S3 answers a
    /// burst of uploads with 503 SlowDown, and one file that gives up stops the publish.
    pub(crate) fn upload_retry_config(&self) -> RetryConfig {
        self.retry_config()
            .with_max_attempts(self.max_attempts.saturating_mul(2))
    }

    /// CreateInvalidation while the distribution is busy: from the poll interval (5 s) doubling
    /// to 60 s, without jitter, for as many attempts as fit in `patience`.
    pub(crate) fn busy_retry_config(&self, patience: Duration) -> RetryConfig {
        let first = self.poll_interval.unwrap_or(BUSY_BACKOFF);
        RetryConfig::standard()
            .with_max_attempts(attempts_within(first, BUSY_MAX_BACKOFF, patience))
            .with_initial_backoff(first)
            .with_max_backoff(BUSY_MAX_BACKOFF)
            .with_use_static_exponential_base(true)
    }

    /// A rollout's polls: 2 s growing to 15 s while nothing changes (fixed with the knob).
    pub(crate) fn rollout_polls(&self) -> Polls {
        match self.poll_interval {
            Some(p) => Polls { base: p, max: p },
            None => Polls {
                base: Duration::from_secs(2),
                max: Duration::from_secs(15),
            },
        }
    }
}

/// Attempts (the first included) whose back-offs `first`, `2 first`, … (each at most `max`)
/// add up to no more than `patience`.
fn attempts_within(first: Duration, max: Duration, patience: Duration) -> u32 {
    let mut attempts = 1;
    let mut waited = Duration::ZERO;
    let mut next = first.max(Duration::from_millis(1));
    while attempts < 100 {
        waited += next.min(max);
        if waited > patience {
            break;
        }
        attempts += 1;
        next = next.saturating_mul(2);
    }
    attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning(vars: &[(&str, &str)]) -> Tuning {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Tuning::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_without_knobs_and_knobs_when_set() {
        assert_eq!(tuning(&[]), Tuning::default());
        let t = tuning(&[
            ("DECKHAND_MAX_ATTEMPTS", "2"),
            ("DECKHAND_RETRY_BACKOFF_MS", "20"),
            ("DECKHAND_POLL_INTERVAL_MS", "100"),
            ("DECKHAND_LOCK_TTL", "2s"),
            ("DECKHAND_LIST_RANGE_KEYS", "3"),
        ]);
        assert_eq!(t.max_attempts, 2);
        assert_eq!(t.list_range_keys, 3);
        assert_eq!(t.retry_backoff, Duration::from_millis(20));
        assert_eq!(t.poll_interval, Some(Duration::from_millis(100)));
        assert_eq!(t.lock_ttl, Duration::from_secs(2));
        assert_eq!(t.retry_config().max_attempts(), 2);
        assert_eq!(t.upload_retry_config().max_attempts(), 4);
        assert_eq!(
            t.rollout_polls(),
            Polls {
                base: Duration::from_millis(100),
                max: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn knobs_that_do_not_parse_keep_their_defaults() {
        let t = tuning(&[
            ("DECKHAND_MAX_ATTEMPTS", "0"),
            ("DECKHAND_RETRY_BACKOFF_MS", "soon"),
            ("DECKHAND_POLL_INTERVAL_MS", " "),
            ("DECKHAND_LOCK_TTL", "0s"),
            ("DECKHAND_LIST_RANGE_KEYS", "0"),
        ]);
        assert_eq!(t, Tuning::default());
        assert_eq!(
            tuning(&[("DECKHAND_POLL_INTERVAL_MS", "1")]).poll_interval,
            Some(Duration::from_millis(10))
        );
    }

    #[test]
    fn busy_retries_fit_in_the_patience() {
        let ms = Duration::from_millis;
        // 100 + 200 + 400 = 700 ms fit in 1 s; + 800 does not: 4 attempts.
        assert_eq!(attempts_within(ms(100), ms(60_000), ms(1000)), 4);
        // 5 + 10 + 20 + 40 + 60 + 60 … s within 10 min: 12 back-offs (555 s), 13 attempts.
        let first = Duration::from_secs(5);
        let max = Duration::from_secs(60);
        assert_eq!(attempts_within(first, max, Duration::from_secs(600)), 13);
        assert_eq!(attempts_within(first, max, Duration::from_secs(1)), 1);
        let c = tuning(&[("DECKHAND_POLL_INTERVAL_MS", "100")]).busy_retry_config(ms(1000));
        assert_eq!(c.max_attempts(), 4);
        assert_eq!(c.initial_backoff(), ms(100));
        assert!(c.use_static_exponential_base());
    }
}
