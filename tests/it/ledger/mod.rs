//! The ledger of `genim serve` (src/serve/ledger): one conformance suite ([`conformance`]) run
//! against both implementations, then what only one of them does.
//!
//! - [`embedded`]: a redb file in a temporary folder; a second open is refused; records survive
//!   reopening and a child process killed with SIGKILL.
//! - [`postgres`]: a real server at `GENIM_TEST_POSTGRES_URL`, each test in a schema of its own:
//!   `export GENIM_TEST_POSTGRES_URL="$(script/postgres.sh start 5491)"` (script/test.sh does it;
//!   `GENIM_SKIP_POSTGRES=1` skips). Two pools on one database ("two servers"); a server that
//!   goes away, refuses, or never answers.

use genim::serve::ledger::{EmbeddedLedger, Ledger, PostgresLedger, PostgresOptions};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// A ledger for one test, and what keeps it alive.
pub(crate) struct Fixture {
    pub ledger: Arc<dyn Ledger>,
    /// How to open a second instance on the same database.
    reopen: Reopen,
}

enum Reopen {
    /// The redb file (the folder is removed when the fixture drops).
    Embedded(tempfile::TempDir),
    /// A URL whose search_path is this test's schema.
    Postgres(String),
}

impl Fixture {
    /// The embedded file's path.
    pub fn path(&self) -> std::path::PathBuf {
        match &self.reopen {
            Reopen::Embedded(dir) => dir.path().join("ledger.redb"),
            Reopen::Postgres(_) => panic!("not an embedded fixture"),
        }
    }

    /// The PostgreSQL URL of this test's schema.
    pub fn url(&self) -> &str {
        match &self.reopen {
            Reopen::Postgres(url) => url,
            Reopen::Embedded(_) => panic!("not a PostgreSQL fixture"),
        }
    }
}

/// Which implementation a test runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backend {
    Embedded,
    Postgres,
}

impl Backend {
    /// A fresh, empty ledger; `None` when PostgreSQL is skipped (`GENIM_SKIP_POSTGRES=1`).
    pub async fn fresh(self) -> Option<Fixture> {
        match self {
            Self::Embedded => {
                let dir = tempfile::tempdir().unwrap();
                let ledger = EmbeddedLedger::open(dir.path().join("ledger.redb"))
                    .await
                    .unwrap();
                Some(Fixture {
                    ledger: Arc::new(ledger),
                    reopen: Reopen::Embedded(dir),
                })
            }
            Self::Postgres => {
                let url = postgres::fresh_schema().await?;
                let ledger = PostgresLedger::connect(&url, PostgresOptions::default())
                    .await
                    .unwrap();
                Some(Fixture {
                    ledger: Arc::new(ledger),
                    reopen: Reopen::Postgres(url),
                })
            }
        }
    }
}

/// A name no other test or run uses.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A payment key as the server builds it: `chain:asset:from:nonce`.
pub(crate) fn payment(nonce: u64) -> String {
    format!(
        "8453:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913:0x70997970c51812dc3a010c7d01b50e0d17dc79c8:{nonce:#066x}"
    )
}

/// An `expires_at` far in the future (unix s).
pub(crate) fn far() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 86_400
}

/// A lease that does not run out during a test.
pub(crate) const LONG: Duration = Duration::from_secs(60);

/// Generates one `#[tokio::test]` per conformance case for a backend, in the calling module.
macro_rules! conformance_tests {
    ($backend:expr) => {
        conformance_tests!(@cases $backend;
            new_claim_is_acquired_and_recorded,
            second_claim_while_leased_is_busy,
            stage_is_a_save_under_the_same_lease_rules,
            complete_stores_the_result_and_later_claims_replay_it,
            a_different_request_is_a_conflict,
            an_expired_lease_is_taken_over_and_the_old_owner_is_fenced,
            the_same_owner_may_claim_again,
            abandon_deletes_and_the_payment_can_be_used_again,
            writes_to_a_missing_record_are_not_found,
            wait_returns_when_another_task_completes_or_abandons,
            wait_returns_when_the_lease_expires_and_on_timeout,
            purge_deletes_only_expired_records,
            fifty_concurrent_claims_have_exactly_one_winner,
            describe_and_health,
        );
    };
    (@cases $backend:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(fixture) = $backend.fresh().await else { return };
                super::conformance::$case(&fixture).await;
            }
        )+
    };
}

// After the macro, so that its textual scope covers them.
mod conformance;
mod embedded;
mod postgres;
