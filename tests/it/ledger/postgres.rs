//! The PostgreSQL ledger against a real server: the conformance suite, several instances on one
//! database, and a database that refuses, never answers, or goes away.

use super::conformance::{assert_one_winner, claim_at_once};
use super::{Backend, LONG, far, payment, unique};
use genim::serve::ledger::{
    Claim, Ledger, LedgerError, PostgresLedger, PostgresOptions, open as open_ledger,
};
use reqwest::Url;
use serde_json::json;
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::net::{TcpListener, TcpStream};

conformance_tests!(Backend::Postgres);

/// The test server's URL, or `None` when `GENIM_SKIP_POSTGRES=1`. Fails with instructions
/// otherwise: a suite that silently skips its database tests proves nothing.
fn base_url() -> Option<String> {
    match std::env::var("GENIM_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_owned()),
        _ if std::env::var("GENIM_SKIP_POSTGRES").as_deref() == Ok("1") => {
            eprintln!("GENIM_SKIP_POSTGRES=1: skipping the PostgreSQL ledger test");
            None
        }
        _ => panic!(
            "GENIM_TEST_POSTGRES_URL is not set. Start the test PostgreSQL server first:\n    \
             export GENIM_TEST_POSTGRES_URL=\"$(script/postgres.sh start 5491)\"\n\
             (as root it installs Debian's postgresql if needed; stop it with \
             `script/postgres.sh stop 5491`), or set GENIM_SKIP_POSTGRES=1 to skip."
        ),
    }
}

/// A URL of the test server whose search_path is a new, empty schema: each test gets its own
/// `genim_ledger` table.
pub(crate) async fn fresh_schema() -> Option<String> {
    let base = base_url()?;
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to GENIM_TEST_POSTGRES_URL: {e}"));
    tokio::spawn(connection);
    let schema = unique("ledger_");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// The same URL pointing at `addr`.
fn via(url: &str, addr: SocketAddr) -> String {
    let mut url = Url::parse(url).unwrap();
    url.set_port(Some(addr.port())).unwrap();
    url.to_string()
}

fn password(url: &str) -> String {
    Url::parse(url).unwrap().password().unwrap().to_owned()
}

/// A free port on 127.0.0.1 where nothing listens.
async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_have_one_winner() {
    let Some(fx) = Backend::Postgres.fresh().await else {
        return;
    };
    let text = fx.ledger.describe();
    assert!(
        text.starts_with("PostgreSQL ledger at postgres://127.0.0.1:"),
        "{text}"
    );
    assert!(
        !text.contains(&password(fx.url())) && !text.contains("genim:"),
        "{text}"
    );
    // Two instances behind a load balancer: two pools on the same table.
    let second = open_ledger(fx.url()).await.unwrap();
    let ledgers = [fx.ledger.clone(), second.clone()];
    let key = payment(1);
    let claims = claim_at_once(&ledgers, &key, 50).await;
    assert_one_winner(&claims);

    // The winner's instance finishes; a request waiting on the other one sees it by polling.
    let owner = fx.ledger.get(&key).await.unwrap().unwrap().owner.unwrap();
    let i: usize = owner.strip_prefix("owner-").unwrap().parse().unwrap();
    let (winner, other) = (&ledgers[i % 2], ledgers[(i + 1) % 2].clone());
    let k = key.clone();
    let waiting = tokio::spawn(async move { other.wait(&k, Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    winner
        .complete(&key, &owner, &json!({"image": 1}))
        .await
        .unwrap();
    let seen = waiting.await.unwrap().unwrap().unwrap();
    assert!(seen.done, "{seen:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    for ledger in &ledgers {
        let claim = ledger
            .claim(&key, "req-a", "late", LONG, far())
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Done(_)), "{claim:?}");
    }

    // A lease held by an instance that died is taken over from the other one.
    let key = payment(2);
    let short = Duration::from_millis(300);
    ledgers[0]
        .claim(&key, "r", "dead", short, far())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let claim = ledgers[1]
        .claim(&key, "r", "heir", LONG, far())
        .await
        .unwrap();
    assert!(matches!(claim, Claim::Acquired(Some(_))), "{claim:?}");
    let err = ledgers[0]
        .save(&key, "dead", &json!(1), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::LeaseLost { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_starting_together_create_the_table_once() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let opens = (0..6).map(|_| PostgresLedger::connect(&url, PostgresOptions::default()));
    for ledger in futures::future::join_all(opens).await {
        ledger.unwrap();
    }
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_at_once_without_credentials() {
    let addr = refused_addr().await;
    let url = format!("postgres://genim:refused-s3cret-pw@{addr}/genim");
    let started = Instant::now();
    let err = open_ledger(&url).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_transient(), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains('\n') && !text.contains("refused-s3cret-pw"),
        "{text}"
    );
    assert!(
        text.contains(&addr.to_string()) && text.contains("unavailable"),
        "{text}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable_within_the_timeouts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts connections and says nothing.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let options = PostgresOptions {
        connect_timeout: Duration::from_millis(500),
        op_timeout: Duration::from_secs(1),
        ..PostgresOptions::default()
    };
    let url = format!("postgres://genim:silent-s3cret-pw@{addr}/genim");
    let started = Instant::now();
    let err = PostgresLedger::connect(&url, options).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_transient(), "{err:?}");
    assert!(!err.to_string().contains("silent-s3cret-pw"), "{err}");
    silent.abort();
}

#[tokio::test]
async fn a_wrong_password_is_a_config_error_that_does_not_show_it() {
    let Some(base) = base_url() else { return };
    let mut url = Url::parse(&base).unwrap();
    url.set_password(Some("wrong-s3cret-pw")).unwrap();
    let err = open_ledger(url.as_str()).await.unwrap_err();
    assert!(matches!(err, LedgerError::Config { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(
        !text.contains("wrong-s3cret-pw") && !text.contains(&password(&base)),
        "{text}"
    );
}

/// A TCP proxy in front of the test server, to take the database away and bring it back.
struct Proxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(addr: SocketAddr, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            // Dropped with the task: every proxied connection is cut at once.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    let mut outbound = TcpStream::connect(target).await?;
                    tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await
                });
            }
        });
        Self { addr, task }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_unavailable_quickly_then_comes_back() {
    let Some(url) = fresh_schema().await else {
        return;
    };
    let target: SocketAddr = {
        let url = Url::parse(&url).unwrap();
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
            .parse()
            .unwrap()
    };
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), target).await;
    let addr = proxy.addr;
    let options = PostgresOptions {
        connect_timeout: Duration::from_secs(1),
        op_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let ledger: Arc<dyn Ledger> = Arc::new(
        PostgresLedger::connect(&via(&url, addr), options)
            .await
            .unwrap(),
    );
    ledger
        .claim(&payment(1), "r", "o", LONG, far())
        .await
        .unwrap();

    proxy.stop().await;
    let started = Instant::now();
    let err = ledger
        .claim(&payment(2), "r", "o", LONG, far())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_transient(), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains('\n') && !text.contains(&password(&url)),
        "{text}"
    );
    assert!(ledger.health().await.unwrap_err().is_transient());

    // Back: the pool reconnects by itself.
    let proxy = Proxy::start(addr, target).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let claim = loop {
        match ledger.claim(&payment(2), "r", "o", LONG, far()).await {
            Ok(claim) => break claim,
            Err(err) if err.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("still down: {err}"),
        }
    };
    assert_eq!(claim, Claim::Acquired(None));
    ledger.health().await.unwrap();
    proxy.stop().await;
}
