//! The ledger of `genim serve`: one record per x402 payment, so that one payment buys one image.
//!
//! A payment (a signed EIP-3009 authorization, keyed by `chain:asset:from:nonce`) is claimed
//! before any work starts. The claim is atomic: of all the requests that carry the same payment
//! at once, on one instance or several, exactly one gets [`Claim::Acquired`] and runs the
//! inference; the others get [`Claim::Busy`] and [`Ledger::wait`] for it, and every later retry
//! gets [`Claim::Done`] with the stored result, until the record is purged after the
//! authorization's `validBefore` (by then the payment cannot be settled again either).
//!
//! The holder of a claim holds a **lease**: it renews it with [`Ledger::save`] while it works and
//! ends it with [`Ledger::complete`] (result stored, payment settled) or [`Ledger::abandon`]
//! (nothing charged: the authorization may be used again). When a holder dies (`kill -9`, a lost
//! instance), its lease expires and the next claim takes the record over with the saved
//! progress ([`Claim::Acquired`]`(Some(..))`), so no paid result is lost. The `owner` string is
//! the fencing token: once another owner took the record over, the old one's writes fail with
//! [`LedgerError::LeaseLost`]. Owner ids must therefore be unique per attempt (an instance id plus
//! a request id); a claim repeated by the current owner (a retry after a lost reply) is granted
//! again.
//!
//! The server's flow, in short:
//!
//! ```ignore
//! let ledger = ledger::open("embedded").await?; // or "postgres://..."
//! loop {
//!     match ledger.claim(&key, &fingerprint, &owner, LEASE, valid_before + MARGIN).await? {
//!         // Run, or resume from `previous.data`; `save` progress at least every LEASE / 3
//!         // (it renews the lease), settle, then `complete(result)`; `abandon` if nothing was
//!         // charged. A LeaseLost on any of them: stop, another request has it now.
//!         Claim::Acquired(previous) => break run(previous).await,
//!         Claim::Busy(_) => {
//!             ledger.wait(&key, WAIT).await?; // then claim again
//!         }
//!         Claim::Done(entry) => break replay(entry.data),
//!         Claim::Conflict(_) => break Err(payment_already_used()),
//!     }
//! }
//! ```
//!
//! Two implementations, chosen by [`open`]'s spec:
//! - [`EmbeddedLedger`] (`embedded:PATH`, the default): a redb file, one process at a time.
//! - [`PostgresLedger`] (`postgres://...`): one table shared by several instances; leases run
//!   on the database's clock.

mod embedded;
mod postgres;

pub use embedded::EmbeddedLedger;
pub use postgres::{PostgresLedger, PostgresOptions};

use crate::retry::{ErrorClass, Retryable};
use std::{
    future::Future,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::Notify;

/// Where [`open`] puts the embedded ledger when the spec gives no path.
pub const DEFAULT_EMBEDDED_PATH: &str = ".genim/serve/ledger.redb";

/// One payment's record. `data` is the server's own state (opaque JSON to the ledger).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The payment, e.g. `8453:0xasset:0xfrom:0xnonce` (the server builds it).
    pub key: String,
    /// Fingerprint of the request the payment was first used for.
    pub request: String,
    /// The server's progress or final result; `null` in a new record. Keep it small (CIDs,
    /// hashes, transaction ids), never the image itself: every `save` rewrites it.
    pub data: serde_json::Value,
    /// Final: the result is stored (and the payment settled).
    pub done: bool,
    /// Who holds the lease (an instance/request id); `None` when done.
    pub owner: Option<String>,
    /// When the lease ends, unix ms (on the database's clock for PostgreSQL); `None` when done.
    pub lease_until: Option<i64>,
    /// Unix s after which the record may be purged (the authorization's validBefore + a margin).
    pub expires_at: i64,
    /// Last write, unix ms.
    pub updated_at: i64,
    /// Incremented by every write (1 for a new record).
    pub version: u64,
}

impl Entry {
    /// Whether `owner` holds this record's lease (it may have expired meanwhile).
    pub fn is_owned_by(&self, owner: &str) -> bool {
        !self.done && self.owner.as_deref() == Some(owner)
    }
}

/// The answer to [`Ledger::claim`].
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// You hold the lease: `None` = new record; `Some` = the record as you now hold it, taken
    /// over after the previous owner's lease expired (resume from its `data`), or granted again
    /// to the same owner.
    Acquired(Option<Entry>),
    /// Another owner holds a live lease (same request): [`Ledger::wait`] for it, then claim again.
    Busy(Entry),
    /// Finished: replay its result.
    Done(Entry),
    /// The payment was already used for a different request.
    Conflict(Entry),
}

impl Claim {
    /// The record behind the answer (`None` only for a new record).
    pub fn entry(&self) -> Option<&Entry> {
        match self {
            Self::Acquired(entry) => entry.as_ref(),
            Self::Busy(entry) | Self::Done(entry) | Self::Conflict(entry) => Some(entry),
        }
    }

    /// `acquired`, `busy`, `done` or `conflict` (for logs and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Acquired(_) => "acquired",
            Self::Busy(_) => "busy",
            Self::Done(_) => "done",
            Self::Conflict(_) => "conflict",
        }
    }
}

/// A ledger failure. Messages are one line and never carry credentials.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// `owner` no longer holds the record: another owner took it over after the lease expired,
    /// or it is done. Stop working on it; never settle the payment.
    #[error("the lease on payment {key} was lost: another request took it over or it is finished")]
    LeaseLost { key: String },
    /// No record for this payment (abandoned or purged meanwhile).
    #[error("no ledger record for payment {key}")]
    NotFound { key: String },
    /// Transient: the database is down, unreachable or too slow. Retry later; the operation may
    /// or may not have been applied (every operation is safe to repeat by the same owner).
    #[error("{what} is unavailable: {reason}")]
    Unavailable { what: String, reason: String },
    /// Another process has the embedded ledger open.
    #[error(
        "the ledger {path} is already open in another process (one genim serve per embedded \
         ledger; use a PostgreSQL ledger for several instances)"
    )]
    Locked { path: PathBuf },
    /// A record or the database file cannot be read back.
    #[error("corrupt ledger {what}: {reason}")]
    Corrupt { what: String, reason: String },
    /// The embedded ledger's file cannot be created, read or written (permissions, full disk).
    #[error("cannot use the ledger file {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// The spec, URL, credentials or database schema are wrong: the operator must act.
    #[error("bad ledger configuration: {reason}")]
    Config { reason: String },
    /// The database refused an operation for a reason that retrying will not fix.
    #[error("{what} failed: {reason}")]
    Backend { what: String, reason: String },
}

impl LedgerError {
    /// Whether the same call may work later ([`LedgerError::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// What the server should do about it: retry (transient), give this request up (rejected:
    /// the lease is gone), or stop and tell the operator (config).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unavailable { .. } => ErrorClass::Transient,
            Self::LeaseLost { .. } | Self::NotFound { .. } => ErrorClass::Rejected,
            Self::Locked { .. }
            | Self::Corrupt { .. }
            | Self::Io { .. }
            | Self::Config { .. }
            | Self::Backend { .. } => ErrorClass::Config,
        }
    }
}

impl Retryable for LedgerError {
    fn is_retryable(&self) -> bool {
        self.is_transient()
    }
}

/// The store behind `genim serve`'s payments. Every method is safe to call concurrently, from
/// one instance or several (PostgreSQL); usable as `Arc<dyn Ledger>`.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Atomically: creates the record leased to `owner` for `lease`, or reports Busy/Done/Conflict,
    /// or takes over an expired lease (or grants it again to the same `owner`).
    async fn claim(
        &self,
        key: &str,
        request: &str,
        owner: &str,
        lease: Duration,
        expires_at: i64,
    ) -> Result<Claim, LedgerError>;

    /// Saves progress (`data`), renewing the lease for `lease`; fails with
    /// [`LedgerError::LeaseLost`] if `owner` no longer holds it ([`LedgerError::NotFound`] if the
    /// record is gone). A lease that expired but that nobody took over is still held.
    async fn save(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
    ) -> Result<Entry, LedgerError>;

    /// [`Ledger::save`] that may return before the write is on disk (a crash may lose it; the next
    /// durable write takes it along), for progress whose loss only repeats work that charges
    /// nobody. The PostgreSQL ledger writes it as `save` does.
    async fn stage(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
    ) -> Result<Entry, LedgerError> {
        self.save(key, owner, data, lease).await
    }

    /// Saves the final `data`, marks the record done and releases the lease (same LeaseLost rule).
    /// Repeating it with the same `data` once it succeeded returns the record again (a retry
    /// after a lost reply).
    async fn complete(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
    ) -> Result<Entry, LedgerError>;

    /// Deletes the record (nothing was charged: the authorization may be used again); same
    /// LeaseLost rule. A record already gone is fine.
    async fn abandon(&self, key: &str, owner: &str) -> Result<(), LedgerError>;

    /// The record, if any.
    async fn get(&self, key: &str) -> Result<Option<Entry>, LedgerError>;

    /// Waits until the record is done (`Some`, done), abandoned (`None`) or its lease expired
    /// (`Some`, not done: claim it), woken by this instance's writes and polling, up to
    /// `timeout`; then returns the record as it is (still leased).
    async fn wait(&self, key: &str, timeout: Duration) -> Result<Option<Entry>, LedgerError>;

    /// Deletes the records with `expires_at < now` (unix s); returns how many.
    async fn purge_expired(&self, now: i64) -> Result<u64, LedgerError>;

    /// A one-line description without credentials (for logs and /healthz).
    fn describe(&self) -> String;

    /// A cheap liveness check (one read).
    async fn health(&self) -> Result<(), LedgerError>;
}

/// Opens a ledger from a spec: `embedded` (at [`DEFAULT_EMBEDDED_PATH`]), `embedded:PATH`, or
/// `postgres://user:pass@host:port/db` (also `postgresql://`; the table is created if missing).
pub async fn open(spec: &str) -> Result<Arc<dyn Ledger>, LedgerError> {
    let spec = spec.trim();
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let ledger = PostgresLedger::connect(spec, PostgresOptions::default()).await?;
        return Ok(Arc::new(ledger));
    }
    let path = match spec.strip_prefix("embedded") {
        Some("") => DEFAULT_EMBEDDED_PATH,
        Some(rest) => match rest.strip_prefix(':') {
            Some("") | None => return Err(bad_spec(spec)),
            Some(path) => path,
        },
        None => return Err(bad_spec(spec)),
    };
    Ok(Arc::new(EmbeddedLedger::open(path).await?))
}

fn bad_spec(spec: &str) -> LedgerError {
    LedgerError::Config {
        reason: format!(
            "unknown ledger '{}': expected embedded, embedded:PATH or postgres://USER:PASS@HOST:PORT/DB",
            crate::http::redact_url_str(spec)
        ),
    }
}

/// Now, unix ms, by this machine's clock.
pub(crate) fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A lease in ms, capped so that `now + lease` cannot overflow.
pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).map_or(i64::MAX / 4, |ms| ms.min(i64::MAX / 4))
}

/// What [`wait_loop`] sees at each look.
pub(crate) enum Probe {
    /// Done, gone or claimable: `wait` returns it.
    Settled(Option<Entry>),
    /// Still leased, for `left` more by the ledger's clock.
    Leased { entry: Entry, left: Duration },
}

/// [`Ledger::wait`] for both implementations: looks, then sleeps until this instance writes
/// (`changed`), the lease ends, or the next poll (`poll` doubling up to `max_poll`: other
/// instances' writes are only seen by polling).
pub(crate) async fn wait_loop<F, Fut>(
    changed: &Notify,
    timeout: Duration,
    mut poll: Duration,
    max_poll: Duration,
    mut probe: F,
) -> Result<Option<Entry>, LedgerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Probe, LedgerError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        // Registered before the look, so a write between the look and the sleep still wakes us.
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (entry, left) = match probe().await? {
            Probe::Settled(entry) => return Ok(entry),
            Probe::Leased { entry, left } => (entry, left),
        };
        let now = Instant::now();
        if now >= deadline {
            return Ok(Some(entry));
        }
        // 1 ms past the lease's end, so the next look sees it expired.
        let nap = poll
            .min(left + Duration::from_millis(1))
            .min(deadline - now);
        let _ = tokio::time::timeout(nap, notified).await;
        poll = (poll * 2).min(max_poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            key: "8453:0xa:0xb:0x01".into(),
            request: "r1".into(),
            data: serde_json::Value::Null,
            done: false,
            owner: Some("o1".into()),
            lease_until: Some(1),
            expires_at: 2,
            updated_at: 3,
            version: 1,
        }
    }

    #[tokio::test]
    async fn open_rejects_unknown_specs_without_echoing_credentials() {
        for spec in [
            "redis://u:hunter2secret@h/0",
            "embedded:",
            "embeddedx",
            "mysql://h",
        ] {
            let err = open(spec).await.unwrap_err();
            assert!(matches!(err, LedgerError::Config { .. }), "{spec}: {err:?}");
            let text = err.to_string();
            assert!(!text.contains("hunter2secret"), "{text}");
            assert!(text.contains("embedded:PATH"), "{text}");
        }
    }

    #[test]
    fn errors_are_one_line_and_classified() {
        let errors = [
            LedgerError::LeaseLost { key: "k".into() },
            LedgerError::Unavailable {
                what: "PostgreSQL ledger at postgres://127.0.0.1:5432/...".into(),
                reason: "connection refused".into(),
            },
            LedgerError::Locked {
                path: "/x/ledger.redb".into(),
            },
        ];
        for err in &errors {
            assert!(!err.to_string().contains('\n'), "{err}");
        }
        assert!(errors[1].is_transient() && errors[1].is_retryable());
        assert_eq!(errors[0].class(), ErrorClass::Rejected);
        assert_eq!(errors[2].class(), ErrorClass::Config);
    }

    #[test]
    fn ownership_and_claim_helpers() {
        let mut e = entry();
        assert!(e.is_owned_by("o1") && !e.is_owned_by("o2"));
        e.done = true;
        assert!(!e.is_owned_by("o1"), "a done record has no owner");
        assert_eq!(Claim::Acquired(None).entry(), None);
        assert_eq!(Claim::Done(e.clone()).entry(), Some(&e));
        assert_eq!(Claim::Busy(e).kind(), "busy");
        assert_eq!(lease_ms(Duration::MAX), i64::MAX / 4);
    }

    #[tokio::test]
    async fn wait_loop_wakes_on_notify_and_returns_the_record_on_timeout() {
        let changed = Arc::new(Notify::new());
        let settled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe = || {
            let settled = settled.clone();
            async move {
                Ok(if settled.load(std::sync::atomic::Ordering::SeqCst) {
                    Probe::Settled(None)
                } else {
                    Probe::Leased {
                        entry: entry(),
                        left: Duration::from_secs(60),
                    }
                })
            }
        };
        // Timeout: the record as it is.
        let started = Instant::now();
        let out = wait_loop(
            &changed,
            Duration::from_millis(50),
            Duration::from_secs(10),
            Duration::from_secs(10),
            probe,
        )
        .await
        .unwrap();
        assert_eq!(out, Some(entry()));
        assert!(started.elapsed() >= Duration::from_millis(50));

        // A notify wakes it long before its 10 s poll.
        let (c, s) = (changed.clone(), settled.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            s.store(true, std::sync::atomic::Ordering::SeqCst);
            c.notify_waiters();
        });
        let started = Instant::now();
        let out = wait_loop(
            &changed,
            Duration::from_secs(20),
            Duration::from_secs(10),
            Duration::from_secs(10),
            probe,
        )
        .await
        .unwrap();
        assert_eq!(out, None);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
