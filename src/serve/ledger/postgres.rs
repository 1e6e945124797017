//! The PostgreSQL ledger: one table shared by several `genim serve` instances.
//!
//! - `claim` is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <lease expired> RETURNING`
//!   statement: PostgreSQL locks the conflicting row, so of any number of concurrent claims on
//!   any number of instances exactly one inserts or takes over. When it returns no row, a read
//!   says why (busy, done, conflict); if the record changed in between (abandoned, or its lease
//!   just expired), the claim is simply tried again.
//! - Leases and `updated_at` run on the database's clock (`clock_timestamp()`), never on the
//!   instances' clocks, which may disagree.
//! - The table is created on open, under an advisory lock so that instances starting together
//!   do not race; a schema table records its version.
//! - Every call is bounded by [`PostgresOptions::op_timeout`]; connection failures and timeouts
//!   are [`LedgerError::Unavailable`] (transient), with one-line reasons and no credentials.
//! - No TLS: meant for a database on the same host or a private network (`sslmode=require` is
//!   refused rather than silently ignored).
//!
//! Pool: `deadpool-postgres` over `tokio-postgres`, a few connections per instance. Both pure
//! Rust; with the crates they add to genim's tree (the SCRAM and protocol crates, stringprep,
//! phf, whoami), 31 s of CPU to compile, measured on the 2-core machine. sqlx would bring far
//! more (macros, its own runtime layer) for one table.

use super::{Claim, Entry, Ledger, LedgerError, Probe, lease_ms, wait_loop};
use crate::logging::{error_chain, register_url_secrets};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::{fmt, future::Future, sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_postgres::{NoTls, Row, config::SslMode};

/// Options of a [`PostgresLedger`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in the pool.
    pub max_connections: usize,
    /// Longest wait for a TCP connection to the server.
    pub connect_timeout: Duration,
    /// Longest wait for any one call (a free connection included).
    pub op_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            connect_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL ledger (see the module docs). Cheap to clone (one pool).
#[derive(Clone)]
pub struct PostgresLedger {
    pool: Pool,
    /// "PostgreSQL ledger at postgres://host:port/...": no credentials.
    what: String,
    op_timeout: Duration,
    /// Woken by this instance's writes; other instances' writes are seen by polling.
    changed: Arc<Notify>,
}

impl fmt::Debug for PostgresLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLedger")
            .field("at", &self.what)
            .finish_non_exhaustive()
    }
}

const SCHEMA_VERSION: i32 = 1;
/// Serializes the migration of instances that start together (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x6765_6e69_6d4c_6472; // "genimLdr"

const MIGRATE: &str = "
CREATE TABLE IF NOT EXISTS genim_ledger (
    key         text PRIMARY KEY,
    request     text NOT NULL,
    data        jsonb NOT NULL,
    done        boolean NOT NULL,
    owner       text,
    lease_until bigint,          -- unix ms, database clock
    expires_at  bigint NOT NULL, -- unix s
    updated_at  bigint NOT NULL, -- unix ms, database clock
    version     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS genim_ledger_expires_at ON genim_ledger (expires_at);
";

/// The database's clock in unix ms.
macro_rules! clock {
    () => {
        "WITH clock AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now) "
    };
}
macro_rules! columns {
    () => {
        "l.key, l.request, l.data, l.done, l.owner, l.lease_until, l.expires_at, l.updated_at, \
         l.version"
    };
}

/// Inserts, takes over an expired lease, or grants it again to the same owner; no row otherwise.
const CLAIM: &str = concat!(
    clock!(),
    "INSERT INTO genim_ledger AS l
        (key, request, data, done, owner, lease_until, expires_at, updated_at, version)
     SELECT $1::text, $2::text, 'null'::jsonb, false, $3::text, clock.now + $4::bigint,
        $5::bigint, clock.now, 1 FROM clock
     ON CONFLICT (key) DO UPDATE SET
        owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
        expires_at = GREATEST(l.expires_at, EXCLUDED.expires_at),
        updated_at = EXCLUDED.updated_at, version = l.version + 1
     WHERE NOT l.done AND l.request = EXCLUDED.request
        AND (l.owner IS NOT DISTINCT FROM EXCLUDED.owner OR l.lease_until IS NULL
             OR l.lease_until < EXCLUDED.updated_at)
     RETURNING ",
    columns!()
);
/// The record and the database's clock.
const READ: &str = concat!(
    clock!(),
    "SELECT ",
    columns!(),
    ", clock.now FROM genim_ledger AS l, clock WHERE l.key = $1"
);
const SAVE: &str = concat!(
    clock!(),
    "UPDATE genim_ledger AS l SET data = $3::jsonb, lease_until = clock.now + $4::bigint,
        updated_at = clock.now, version = l.version + 1
     FROM clock WHERE l.key = $1 AND l.owner = $2 AND NOT l.done RETURNING ",
    columns!()
);
const COMPLETE: &str = concat!(
    clock!(),
    "UPDATE genim_ledger AS l SET data = $3::jsonb, done = true, owner = NULL, lease_until = NULL,
        updated_at = clock.now, version = l.version + 1
     FROM clock WHERE l.key = $1 AND l.owner = $2 AND NOT l.done RETURNING ",
    columns!()
);
/// After a failed COMPLETE: whether it already completed with the same data.
const READ_SAME: &str = concat!(
    "SELECT ",
    columns!(),
    ", l.data = $2::jsonb FROM genim_ledger AS l WHERE l.key = $1"
);
const ABANDON: &str = "DELETE FROM genim_ledger WHERE key = $1 AND owner = $2 AND NOT done";
const EXISTS: &str = "SELECT 1 FROM genim_ledger WHERE key = $1";
const PURGE: &str = "DELETE FROM genim_ledger WHERE expires_at < $1";

fn entry(row: &Row) -> Result<Entry, tokio_postgres::Error> {
    Ok(Entry {
        key: row.try_get(0)?,
        request: row.try_get(1)?,
        data: row.try_get(2)?,
        done: row.try_get(3)?,
        owner: row.try_get(4)?,
        lease_until: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        updated_at: row.try_get(7)?,
        version: row.try_get::<_, i64>(8)?.max(0) as u64,
    })
}

impl PostgresLedger {
    /// Connects to `url` (`postgres://user:pass@host:port/db`), creates the table if missing and
    /// returns the ledger. The URL's secrets are registered for redaction in every log line.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, LedgerError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| LedgerError::Config {
            reason: format!(
                "bad PostgreSQL URL {}: {e}",
                crate::http::redact_url_str(url)
            ),
        })?;
        register_url_secrets(&parsed);
        let what = format!("PostgreSQL ledger at {}", crate::http::redact_url(&parsed));
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| LedgerError::Config {
            reason: format!("bad {what}: {}", error_chain(&e)),
        })?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(LedgerError::Config {
                reason: format!(
                    "{what}: sslmode=require, but genim connects to PostgreSQL without TLS \
                     (use a local or private-network database)"
                ),
            });
        }
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("genim-serve");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .wait_timeout(Some(options.op_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| LedgerError::Config {
                reason: format!("{what}: cannot build the pool: {e}"),
            })?;
        let ledger = Self {
            pool,
            what,
            op_timeout: options.op_timeout,
            changed: Arc::new(Notify::new()),
        };
        ledger.migrate().await?;
        Ok(ledger)
    }

    /// Creates the table if missing; refuses a schema newer than this genim's.
    async fn migrate(&self) -> Result<(), LedgerError> {
        self.timed(async {
            let mut client = self.client().await?;
            let txn = client.transaction().await.map_err(|e| self.pg(&e))?;
            let version: Option<i32> = async {
                txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                    .await?;
                txn.batch_execute(
                    "CREATE TABLE IF NOT EXISTS genim_ledger_schema (version integer NOT NULL)",
                )
                .await?;
                txn.query_one("SELECT max(version) FROM genim_ledger_schema", &[])
                    .await?
                    .try_get(0)
            }
            .await
            .map_err(|e| self.pg(&e))?;
            match version {
                None => {
                    txn.batch_execute(MIGRATE).await.map_err(|e| self.pg(&e))?;
                    txn.execute(
                        "INSERT INTO genim_ledger_schema (version) VALUES ($1)",
                        &[&SCHEMA_VERSION],
                    )
                    .await
                    .map_err(|e| self.pg(&e))?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(LedgerError::Config {
                        reason: format!(
                            "{}: schema version {other} is newer than this genim's \
                             ({SCHEMA_VERSION})",
                            self.what
                        ),
                    });
                }
            }
            txn.commit().await.map_err(|e| self.pg(&e))
        })
        .await
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        use deadpool_postgres::PoolError;
        self.pool.get().await.map_err(|err| match err {
            PoolError::Backend(e) => self.pg(&e),
            PoolError::Timeout(_) => self.unavailable("no connection could be had in time"),
            other => self.unavailable(&other.to_string()),
        })
    }

    /// `op` bounded by the call timeout.
    async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, LedgerError>>,
    ) -> Result<T, LedgerError> {
        tokio::time::timeout(self.op_timeout, op)
            .await
            .unwrap_or_else(|_| {
                Err(self.unavailable(&format!(
                    "no answer within {} ms",
                    self.op_timeout.as_millis()
                )))
            })
    }

    fn unavailable(&self, reason: &str) -> LedgerError {
        LedgerError::Unavailable {
            what: self.what.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Classifies a driver error: connection trouble is transient, credentials and schema
    /// problems are for the operator, the rest is a plain failure.
    fn pg(&self, err: &tokio_postgres::Error) -> LedgerError {
        let reason = error_chain(err);
        let Some(db) = err.as_db_error() else {
            // No answer from the server: refused, reset, closed, timed out.
            return self.unavailable(&reason);
        };
        let code = db.code().code();
        let transient = ["08", "53", "57P", "40001", "40P01", "55P03"];
        let config = ["28", "3D000", "42"];
        if transient.iter().any(|c| code.starts_with(c)) {
            self.unavailable(&reason)
        } else if config.iter().any(|c| code.starts_with(c)) {
            LedgerError::Config {
                reason: format!("{}: {reason}", self.what),
            }
        } else {
            LedgerError::Backend {
                what: self.what.clone(),
                reason,
            }
        }
    }

    /// Runs one statement that returns at most one row.
    async fn one(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>, LedgerError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| self.pg(&e))?;
        client
            .query_opt(&statement, params)
            .await
            .map_err(|e| self.pg(&e))
    }

    fn entry(&self, row: &Row) -> Result<Entry, LedgerError> {
        entry(row).map_err(|e| LedgerError::Corrupt {
            what: format!("record in {}", self.what),
            reason: error_chain(&e),
        })
    }

    /// The record and the database's clock (unix ms).
    async fn read(&self, key: &str) -> Result<Option<(Entry, i64)>, LedgerError> {
        let Some(row) = self.one(READ, &[&key]).await? else {
            return Ok(None);
        };
        let now: i64 = row.try_get(9).map_err(|e| self.pg(&e))?;
        Ok(Some((self.entry(&row)?, now)))
    }

    /// LeaseLost when the record is there, NotFound when it is gone.
    async fn lost(&self, key: &str) -> LedgerError {
        match self.one(EXISTS, &[&key]).await {
            Ok(Some(_)) => LedgerError::LeaseLost { key: key.into() },
            Ok(None) => LedgerError::NotFound { key: key.into() },
            Err(err) => err,
        }
    }
}

#[async_trait::async_trait]
impl Ledger for PostgresLedger {
    async fn claim(
        &self,
        key: &str,
        request: &str,
        owner: &str,
        lease: Duration,
        expires_at: i64,
    ) -> Result<Claim, LedgerError> {
        let lease = lease_ms(lease);
        self.timed(async {
            // A record can change between the failed upsert and the read (abandoned, lease just
            // expired): then the upsert is tried again. More than a few rounds means something
            // keeps flapping it.
            for _ in 0..8 {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                    [&key, &request, &owner, &lease, &expires_at];
                if let Some(row) = self.one(CLAIM, &params).await? {
                    let entry = self.entry(&row)?;
                    self.changed.notify_waiters();
                    return Ok(Claim::Acquired((entry.version > 1).then_some(entry)));
                }
                let Some((entry, now)) = self.read(key).await? else {
                    continue;
                };
                if entry.request != request {
                    return Ok(Claim::Conflict(entry));
                }
                if entry.done {
                    return Ok(Claim::Done(entry));
                }
                if entry.lease_until.is_some_and(|until| until >= now) {
                    return Ok(Claim::Busy(entry));
                }
            }
            Err(self.unavailable(&format!("payment {key} changed under 8 claims in a row")))
        })
        .await
    }

    async fn save(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
        lease: Duration,
    ) -> Result<Entry, LedgerError> {
        let lease = lease_ms(lease);
        self.timed(async {
            match self.one(SAVE, &[&key, &owner, data, &lease]).await? {
                Some(row) => {
                    self.changed.notify_waiters();
                    self.entry(&row)
                }
                None => Err(self.lost(key).await),
            }
        })
        .await
    }

    async fn complete(
        &self,
        key: &str,
        owner: &str,
        data: &serde_json::Value,
    ) -> Result<Entry, LedgerError> {
        self.timed(async {
            if let Some(row) = self.one(COMPLETE, &[&key, &owner, data]).await? {
                self.changed.notify_waiters();
                return self.entry(&row);
            }
            let Some(row) = self.one(READ_SAME, &[&key, data]).await? else {
                return Err(LedgerError::NotFound { key: key.into() });
            };
            let entry = self.entry(&row)?;
            let same: bool = row.try_get(9).map_err(|e| self.pg(&e))?;
            if entry.done && same {
                Ok(entry) // completed before: a retry after a lost reply
            } else {
                Err(LedgerError::LeaseLost { key: key.into() })
            }
        })
        .await
    }

    async fn abandon(&self, key: &str, owner: &str) -> Result<(), LedgerError> {
        self.timed(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(ABANDON)
                .await
                .map_err(|e| self.pg(&e))?;
            let deleted = client
                .execute(&statement, &[&key, &owner])
                .await
                .map_err(|e| self.pg(&e))?;
            drop(client);
            if deleted > 0 {
                self.changed.notify_waiters();
                return Ok(());
            }
            match self.lost(key).await {
                LedgerError::NotFound { .. } => Ok(()),
                err => Err(err),
            }
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, LedgerError> {
        self.timed(async { Ok(self.read(key).await?.map(|(entry, _)| entry)) })
            .await
    }

    async fn wait(&self, key: &str, timeout: Duration) -> Result<Option<Entry>, LedgerError> {
        wait_loop(
            &self.changed,
            timeout,
            Duration::from_millis(25),
            Duration::from_millis(500),
            || async {
                let read = self.timed(self.read(key)).await?;
                Ok(match read {
                    Some((entry, now))
                        if !entry.done && entry.lease_until.is_some_and(|t| t >= now) =>
                    {
                        let left = entry.lease_until.unwrap_or(now) - now;
                        Probe::Leased {
                            entry,
                            left: Duration::from_millis(left.max(0) as u64),
                        }
                    }
                    read => Probe::Settled(read.map(|(entry, _)| entry)),
                })
            },
        )
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, LedgerError> {
        self.timed(async {
            let client = self.client().await?;
            let purged = client
                .execute(PURGE, &[&now])
                .await
                .map_err(|e| self.pg(&e))?;
            if purged > 0 {
                self.changed.notify_waiters();
            }
            Ok(purged)
        })
        .await
    }

    fn describe(&self) -> String {
        self.what.clone()
    }

    async fn health(&self) -> Result<(), LedgerError> {
        self.timed(async {
            let client = self.client().await?;
            client
                .simple_query("SELECT 1")
                .await
                .map_err(|e| self.pg(&e))?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_urls_are_config_errors_without_the_password() {
        let err = PostgresLedger::connect(
            "postgres://genim:s3cretpassw0rd@127.0.0.1:1/db?sslmode=require",
            PostgresOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LedgerError::Config { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("without TLS"), "{text}");
        assert!(!text.contains("s3cretpassw0rd"), "{text}");

        let err = PostgresLedger::connect(
            "postgres://genim:s3cretpassw0rd@127.0.0.1:1/db?nonsense=1",
            PostgresOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, LedgerError::Config { .. }), "{err:?}");
        assert!(!err.to_string().contains("s3cretpassw0rd"), "{err}");
    }

    #[test]
    fn statements_use_the_database_clock() {
        for sql in [CLAIM, READ, SAVE, COMPLETE] {
            assert!(sql.contains("clock_timestamp()"), "{sql}");
        }
        assert!(CLAIM.contains("ON CONFLICT (key) DO UPDATE"));
    }
}
