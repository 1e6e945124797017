//! What to do about an error ([`ErrorClass`]) and retries with capped exponential backoff
//! ([`RetryPolicy`]), shared by the provider loop, the image pipeline and `genim serve`.
//!
//! Two modes: a bounded number of attempts (the default), or [`RetryPolicy::until_success`]
//! for transient errors that may last long (an API outage), which never gives up on them and
//! logs one line when an outage starts and one when it ends instead of one per attempt.
//! Errors that are not transient are returned at once in both modes.

use std::{
    fmt::{self, Display},
    future::Future,
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

/// What a caller should do about an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// The same call may work later (connection refused, timeout, HTTP 5xx, 429): retry with
    /// capped backoff, possibly for a long time.
    Transient,
    /// This request will never work (content-policy refusal, an invalid request for this
    /// prompt): give it up; `genim serve` answers 4xx without charging.
    Rejected,
    /// Every request fails the same way until the operator acts (bad key, unknown model, bad
    /// URL, full disk): stop with a clear error instead of failing each request.
    Config,
}

impl ErrorClass {
    /// `transient`, `rejected` or `config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Rejected => "rejected",
            Self::Config => "config",
        }
    }
}

impl Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an error may go away when the same call is made again (network, 5xx, 429,
/// timeouts) or is final (bad request, refused prompt, undecodable image, revert).
pub trait Retryable: Display {
    /// `true` when retrying can help.
    fn is_retryable(&self) -> bool;

    /// How long the other side asked to wait before the next attempt (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl Retryable for crate::store::StoreError {
    fn is_retryable(&self) -> bool {
        crate::store::StoreError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        crate::store::StoreError::retry_after(self)
    }
}

impl Retryable for crate::generate::GenerateError {
    fn is_retryable(&self) -> bool {
        crate::generate::GenerateError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        crate::generate::GenerateError::retry_after(self)
    }
}

impl Retryable for crate::pipeline::PipelineError {
    fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    fn retry_after(&self) -> Option<Duration> {
        crate::pipeline::PipelineError::retry_after(self)
    }
}

impl Retryable for crate::chain::ChainError {
    fn is_retryable(&self) -> bool {
        use crate::chain::ChainError::*;
        matches!(self, Unreachable { .. } | Rpc { .. } | Timeout { .. })
    }
}

/// How retries show in the logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetryLog {
    /// A warning for every failed attempt.
    #[default]
    EachAttempt,
    /// A warning when failures start, debug lines while they last, and one line when the call
    /// works again: for long outages under [`RetryPolicy::until_success`].
    PerOutage,
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; [`RetryPolicy::UNLIMITED`] retries transient
    /// errors until they succeed.
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Longest delay between two attempts (a `Retry-After` is honoured up to it).
    pub max_delay: Duration,
    /// How retries are logged.
    pub log: RetryLog,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            log: RetryLog::EachAttempt,
        }
    }
}

impl RetryPolicy {
    /// [`attempts`](Self::attempts) meaning "no limit for transient errors".
    pub const UNLIMITED: u32 = u32::MAX;

    /// Retries transient errors without an attempt limit, backing off from `base_delay` up to
    /// `max_delay`, one log line per outage. Cancel it by dropping the future.
    pub fn until_success(base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            attempts: Self::UNLIMITED,
            base_delay,
            max_delay,
            log: RetryLog::PerOutage,
        }
    }

    /// Whether transient errors are retried forever.
    pub fn is_unlimited(&self) -> bool {
        self.attempts == Self::UNLIMITED
    }

    /// The delay before attempt `attempt + 1` (1-based `attempt`), with up to 25% jitter derived
    /// from `salt` so that parallel jobs don't retry in lockstep.
    pub fn delay(&self, attempt: u32, salt: u64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        let jitter = capped.as_millis() as u64 / 4;
        let extra = if jitter == 0 {
            0
        } else {
            salt.wrapping_add(u64::from(attempt))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                % jitter
        };
        capped + Duration::from_millis(extra)
    }

    /// Runs `call` until it succeeds, fails with an error that is not retryable, or `attempts`
    /// are used up; returns the last error then. `what` names the call in the logs.
    pub async fn run<T, E, F, Fut>(&self, what: &str, salt: u64, mut call: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt: u32 = 1;
        let mut outage: Option<Instant> = None;
        loop {
            let err = match call().await {
                Ok(value) => {
                    if let Some(since) = outage
                        && self.log == RetryLog::PerOutage
                    {
                        let down_ms = since.elapsed().as_millis() as u64;
                        info!(attempts = attempt, down_ms, "{what} works again");
                    }
                    return Ok(value);
                }
                Err(err) => err,
            };
            if !err.is_retryable() || (!self.is_unlimited() && attempt >= self.attempts) {
                return Err(err);
            }
            let mut delay = self.delay(attempt, salt);
            if let Some(asked) = err.retry_after() {
                delay = delay.max(asked.min(self.max_delay));
            }
            let retry_in_ms = delay.as_millis() as u64;
            match (self.log, outage) {
                (RetryLog::PerOutage, Some(_)) => {
                    debug!(%err, attempt, retry_in_ms, "{what} still failing");
                }
                (RetryLog::PerOutage, None) => {
                    warn!(%err, retry_in_ms, "{what} failed; retrying until it works");
                }
                (RetryLog::EachAttempt, _) => {
                    warn!(%err, attempt, retry_in_ms, "{what} failed, retrying");
                }
            }
            outage.get_or_insert_with(Instant::now);
            tokio::time::sleep(delay).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Flaky(bool);
    impl Display for Flaky {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "flaky (retryable: {})", self.0)
        }
    }
    impl Retryable for Flaky {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            log: RetryLog::EachAttempt,
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let out = quick()
            .run("test", 1, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Flaky(true))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn stops_at_permanent_errors_and_after_the_last_attempt() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = quick()
            .run("test", 1, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Flaky(false))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "permanent: no retry");

        calls.store(0, Ordering::SeqCst);
        let out: Result<(), _> = quick()
            .run("test", 1, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Flaky(true))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4, "all attempts used");
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let policy = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert!(policy.delay(1, 0) >= Duration::from_millis(100));
        assert!(policy.delay(2, 0) >= Duration::from_millis(200));
        assert!(policy.delay(9, 3) <= Duration::from_millis(1250));
    }

    #[tokio::test]
    async fn until_success_outlasts_a_long_outage_and_stops_at_permanent_errors() {
        let policy = RetryPolicy::until_success(Duration::from_millis(1), Duration::from_millis(2));
        assert!(policy.is_unlimited());
        let calls = AtomicU32::new(0);
        // Far more failures than the default policy's 5 attempts.
        let out = policy
            .run("test", 1, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 40 {
                    Err(Flaky(true))
                } else {
                    Ok("up")
                }
            })
            .await;
        assert_eq!(out.unwrap(), "up");
        assert_eq!(calls.load(Ordering::SeqCst), 41);

        calls.store(0, Ordering::SeqCst);
        let out: Result<(), _> = policy
            .run("test", 1, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Flaky(false))
            })
            .await;
        assert!(out.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "permanent: no retry");
    }

    #[derive(Debug)]
    struct SlowDown;
    impl Display for SlowDown {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("429")
        }
    }
    impl Retryable for SlowDown {
        fn is_retryable(&self) -> bool {
            true
        }
        fn retry_after(&self) -> Option<Duration> {
            Some(Duration::from_millis(60))
        }
    }

    #[tokio::test]
    async fn retry_after_is_honoured_up_to_the_cap() {
        let policy = RetryPolicy {
            attempts: 2,
            ..quick()
        };
        let started = Instant::now();
        let _: Result<(), _> = policy.run("test", 1, || async { Err(SlowDown) }).await;
        // Capped at max_delay (4 ms), not the 60 ms asked for.
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
        let patient = RetryPolicy {
            max_delay: Duration::from_secs(1),
            ..policy
        };
        let started = Instant::now();
        let _: Result<(), _> = patient.run("test", 1, || async { Err(SlowDown) }).await;
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "{:?}",
            started.elapsed()
        );
    }
}
