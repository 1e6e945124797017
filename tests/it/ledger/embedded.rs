//! The embedded ledger: the conformance suite, one process per file, and durability across a
//! reopen and a `kill -9`.

use super::{Backend, LONG, far, payment};
use genim::serve::ledger::{Claim, EmbeddedLedger, Ledger, LedgerError, open};
use serde_json::json;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

conformance_tests!(Backend::Embedded);

#[tokio::test]
async fn a_second_server_on_the_same_file_fails_cleanly() {
    let fx = Backend::Embedded.fresh().await.unwrap();
    let spec = format!("embedded:{}", fx.path().display());
    let err = open(&spec).await.unwrap_err();
    assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("already open in another process"), "{text}");
    assert!(text.contains(&fx.path().display().to_string()), "{text}");
    // The first one is unharmed.
    let key = payment(1);
    assert_eq!(
        fx.ledger.claim(&key, "r", "o", LONG, far()).await.unwrap(),
        Claim::Acquired(None)
    );
}

#[tokio::test]
async fn records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "embedded:{}",
        dir.path().join("deep/er/ledger.redb").display()
    );
    let result = json!({"image": "bafybeig", "settled": "0x01"});
    {
        let ledger = open(&spec).await.unwrap();
        assert!(
            ledger.describe().contains("ledger.redb"),
            "{}",
            ledger.describe()
        );
        ledger
            .claim(&payment(1), "r", "o", LONG, far())
            .await
            .unwrap();
        ledger.complete(&payment(1), "o", &result).await.unwrap();
        ledger
            .claim(&payment(2), "r", "o", LONG, far())
            .await
            .unwrap();
        ledger
            .save(&payment(2), "o", &json!({"step": 2}), LONG)
            .await
            .unwrap();
    }
    let ledger = open(&spec).await.unwrap();
    match ledger
        .claim(&payment(1), "r", "o2", LONG, far())
        .await
        .unwrap()
    {
        Claim::Done(entry) => assert_eq!(entry.data, result),
        other => panic!("expected Done after reopening, got {other:?}"),
    }
    let progress = ledger.get(&payment(2)).await.unwrap().unwrap();
    assert_eq!(progress.data, json!({"step": 2}));
    assert_eq!(progress.owner.as_deref(), Some("o"));
}

const CHILD_ENV: &str = "GENIM_TEST_LEDGER_CHILD";

/// Not a test on its own: the child process of [`completed_payments_survive_sigkill`]. It
/// completes payment after payment and prints each key once `complete` returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by completed_payments_survive_sigkill"]
async fn sigkill_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ledger = EmbeddedLedger::open(&path).await.unwrap();
    for nonce in 0.. {
        let key = payment(nonce);
        ledger.claim(&key, "r", "child", LONG, far()).await.unwrap();
        ledger
            .save(&key, "child", &json!({"step": "paid"}), LONG)
            .await
            .unwrap();
        ledger
            .complete(&key, "child", &json!({"image": nonce}))
            .await
            .unwrap();
        println!("completed {nonce}");
    }
}

#[tokio::test]
async fn completed_payments_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "ledger::embedded::sigkill_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut completed = Vec::new();
    // Killed right after the 20th complete returned, while it goes on with the next ones.
    while completed.len() < 20 {
        assert!(
            Instant::now() < deadline,
            "the child completed {completed:?} only"
        );
        let line = lines.next().expect("the child exited early").unwrap();
        if let Some(nonce) = line.strip_prefix("completed ") {
            completed.push(nonce.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // The lock died with the process; every payment it reported is there, done.
    let ledger = EmbeddedLedger::open(&path).await.unwrap();
    for nonce in &completed {
        let entry = ledger.get(&payment(*nonce)).await.unwrap();
        let entry = entry.unwrap_or_else(|| panic!("payment {nonce} lost"));
        assert!(entry.done, "{entry:?}");
        assert_eq!(entry.data, json!({"image": nonce}));
    }
    // It went on after the 20th: those it finished are done, the one in flight (if any) is
    // leased to it with its progress; nothing is torn.
    let mut nonce = completed.len() as u64;
    while let Some(entry) = ledger.get(&payment(nonce)).await.unwrap() {
        if entry.done {
            assert_eq!(entry.data, json!({"image": nonce}));
        } else {
            assert_eq!(entry.owner.as_deref(), Some("child"), "{entry:?}");
        }
        nonce += 1;
    }
}
