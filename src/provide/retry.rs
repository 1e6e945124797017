//! Retries with exponential backoff for the provider's generator, store and RPC calls.

use std::{fmt::Display, future::Future, time::Duration};
use tracing::warn;

/// Whether an error may go away when the same call is made again (network, 5xx, 429,
/// timeouts) or is final (bad request, refused prompt, undecodable image, revert).
pub trait Retryable: Display {
    /// `true` when retrying can help.
    fn is_retryable(&self) -> bool;
}

impl Retryable for crate::store::StoreError {
    fn is_retryable(&self) -> bool {
        crate::store::StoreError::is_retryable(self)
    }
}

impl Retryable for crate::generate::GenerateError {
    fn is_retryable(&self) -> bool {
        crate::generate::GenerateError::is_retryable(self)
    }
}

impl Retryable for crate::chain::ChainError {
    fn is_retryable(&self) -> bool {
        use crate::chain::ChainError::*;
        matches!(self, Unreachable { .. } | Rpc { .. } | Timeout { .. })
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
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
            salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) % jitter
        };
        capped + Duration::from_millis(extra)
    }

    /// Runs `call` until it succeeds, fails permanently, or `attempts` are used up; returns the
    /// last error then. `what` names the call in the logs.
    pub async fn run<T, E, F, Fut>(&self, what: &str, salt: u64, mut call: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(err) if err.is_retryable() && attempt < self.attempts => {
                    let delay = self.delay(attempt, salt);
                    warn!(%err, attempt, retry_in_ms = delay.as_millis() as u64, "{what} failed, retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
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
        };
        assert!(policy.delay(1, 0) >= Duration::from_millis(100));
        assert!(policy.delay(2, 0) >= Duration::from_millis(200));
        assert!(policy.delay(9, 3) <= Duration::from_millis(1250));
    }
}
