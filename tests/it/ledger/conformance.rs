//! What every ledger must do, written once against `dyn Ledger`; `conformance_tests!` runs each
//! case on both implementations.

use super::{Fixture, LONG, far, payment};
use genim::serve::ledger::{Claim, Entry, LedgerError};
use serde_json::json;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// The entry behind a claim that must be `Acquired(Some)`.
fn acquired(claim: Claim) -> Entry {
    match claim {
        Claim::Acquired(Some(entry)) => entry,
        other => panic!("expected Acquired(Some), got {other:?}"),
    }
}

pub(crate) async fn new_claim_is_acquired_and_recorded(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(1);
    let expires = far();
    let claim = l
        .claim(&key, "req-a", "inst1/1", LONG, expires)
        .await
        .unwrap();
    assert_eq!(claim, Claim::Acquired(None));
    let entry = l.get(&key).await.unwrap().expect("the record exists");
    assert_eq!(entry.key, key);
    assert_eq!(entry.request, "req-a");
    assert_eq!(entry.data, serde_json::Value::Null);
    assert!(!entry.done);
    assert_eq!(entry.owner.as_deref(), Some("inst1/1"));
    assert_eq!(entry.expires_at, expires);
    assert_eq!(entry.version, 1);
    let until = entry.lease_until.expect("leased");
    let lease = until - entry.updated_at;
    assert!((59_000..=60_000).contains(&lease), "lease of {lease} ms");
    assert!(l.get(&payment(2)).await.unwrap().is_none());
}

pub(crate) async fn second_claim_while_leased_is_busy(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(1);
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    let progress = l
        .save(&key, "o1", &json!({"step": "generating"}), LONG)
        .await;
    assert_eq!(progress.unwrap().version, 2);
    match l.claim(&key, "req-a", "o2", LONG, far()).await.unwrap() {
        Claim::Busy(entry) => {
            assert_eq!(entry.owner.as_deref(), Some("o1"));
            assert_eq!(entry.data, json!({"step": "generating"}));
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    // A Busy answer changes nothing.
    assert_eq!(l.get(&key).await.unwrap().unwrap().version, 2);
}

/// `stage` (a save that need not reach the disk before it returns) reads back, renews the lease
/// and is fenced like `save`.
pub(crate) async fn stage_is_a_save_under_the_same_lease_rules(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(4);
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    let staged = l
        .stage(&key, "o1", &json!({"step": "generated"}), LONG)
        .await
        .unwrap();
    assert_eq!(staged.version, 2);
    assert_eq!(l.get(&key).await.unwrap().unwrap(), staged);
    assert!(matches!(
        l.stage(&key, "o2", &json!({"step": "stolen"}), LONG).await,
        Err(LedgerError::LeaseLost { .. })
    ));
    assert!(matches!(
        l.stage(&payment(5), "o1", &json!(1), LONG).await,
        Err(LedgerError::NotFound { .. })
    ));
    let done = l.complete(&key, "o1", &json!({"image": 1})).await.unwrap();
    assert_eq!(done.version, 3);
}

pub(crate) async fn complete_stores_the_result_and_later_claims_replay_it(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(7);
    let result = json!({"image": "bafy...", "tx": "0xabc", "sizes": [1024, 1024]});
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    l.save(&key, "o1", &json!({"step": 1}), LONG).await.unwrap();
    let done = l.complete(&key, "o1", &result).await.unwrap();
    assert!(done.done && done.owner.is_none() && done.lease_until.is_none());
    assert_eq!(done.data, result);
    assert_eq!(done.version, 3);

    for owner in ["o2", "o1"] {
        match l.claim(&key, "req-a", owner, LONG, far()).await.unwrap() {
            Claim::Done(entry) => assert_eq!(entry, done),
            other => panic!("expected Done, got {other:?}"),
        }
    }
    // The same complete again (its reply was lost) is fine; anything else is not.
    assert_eq!(l.complete(&key, "o1", &result).await.unwrap(), done);
    let other = json!({"image": "other"});
    assert!(matches!(
        l.complete(&key, "o1", &other).await,
        Err(LedgerError::LeaseLost { .. })
    ));
    assert!(matches!(
        l.save(&key, "o1", &other, LONG).await,
        Err(LedgerError::LeaseLost { .. })
    ));
    assert!(matches!(
        l.abandon(&key, "o1").await,
        Err(LedgerError::LeaseLost { .. })
    ));
    assert_eq!(l.get(&key).await.unwrap().unwrap(), done, "unchanged");
}

pub(crate) async fn a_different_request_is_a_conflict(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(3);
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    match l.claim(&key, "req-b", "o2", LONG, far()).await.unwrap() {
        Claim::Conflict(entry) => assert_eq!(entry.request, "req-a"),
        other => panic!("expected Conflict while leased, got {other:?}"),
    }
    l.complete(&key, "o1", &json!("ok")).await.unwrap();
    match l.claim(&key, "req-b", "o2", LONG, far()).await.unwrap() {
        Claim::Conflict(entry) => assert!(entry.done),
        other => panic!("expected Conflict once done, got {other:?}"),
    }
}

pub(crate) async fn an_expired_lease_is_taken_over_and_the_old_owner_is_fenced(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(4);
    let short = Duration::from_millis(300);
    l.claim(&key, "req-a", "dead", short, far()).await.unwrap();
    l.save(&key, "dead", &json!({"step": "paid"}), short)
        .await
        .unwrap();
    // Still live: busy.
    assert!(matches!(
        l.claim(&key, "req-a", "new", LONG, far()).await.unwrap(),
        Claim::Busy(_)
    ));
    tokio::time::sleep(Duration::from_millis(450)).await;

    let taken = acquired(l.claim(&key, "req-a", "new", LONG, far()).await.unwrap());
    assert_eq!(taken.owner.as_deref(), Some("new"));
    assert_eq!(
        taken.data,
        json!({"step": "paid"}),
        "resumes the saved work"
    );
    assert_eq!(taken.version, 3);
    assert!(taken.lease_until.unwrap() >= taken.updated_at + 59_000);

    // The old owner wakes up: every write of its own fails, none lands.
    let stale = json!({"step": "stale"});
    for err in [
        l.save(&key, "dead", &stale, LONG).await.unwrap_err(),
        l.complete(&key, "dead", &stale).await.unwrap_err(),
    ] {
        assert!(matches!(err, LedgerError::LeaseLost { .. }), "{err:?}");
        assert!(err.to_string().contains(&key), "{err}");
    }
    assert!(matches!(
        l.abandon(&key, "dead").await,
        Err(LedgerError::LeaseLost { .. })
    ));
    assert_eq!(l.get(&key).await.unwrap().unwrap(), taken);
    let done = l.complete(&key, "new", &json!({"image": 1})).await.unwrap();
    assert!(done.done);
}

pub(crate) async fn the_same_owner_may_claim_again(fx: &Fixture) {
    // A claim whose reply was lost is repeated by the same owner: it gets the lease back
    // instead of waiting for itself.
    let l = &fx.ledger;
    let key = payment(5);
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    let again = acquired(l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap());
    assert_eq!((again.owner.as_deref(), again.version), (Some("o1"), 2));
    assert!(matches!(
        l.claim(&key, "req-a", "o2", LONG, far()).await.unwrap(),
        Claim::Busy(_)
    ));
}

pub(crate) async fn abandon_deletes_and_the_payment_can_be_used_again(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(6);
    l.claim(&key, "req-a", "o1", LONG, far()).await.unwrap();
    assert!(matches!(
        l.abandon(&key, "o2").await,
        Err(LedgerError::LeaseLost { .. })
    ));
    l.abandon(&key, "o1").await.unwrap();
    assert!(l.get(&key).await.unwrap().is_none());
    l.abandon(&key, "o1").await.unwrap(); // repeated: nothing left to delete
    // Nothing was charged: the same authorization may pay for another request.
    let claim = l.claim(&key, "req-b", "o2", LONG, far()).await.unwrap();
    assert_eq!(claim, Claim::Acquired(None));
}

pub(crate) async fn writes_to_a_missing_record_are_not_found(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(8);
    let data = json!(1);
    for err in [
        l.save(&key, "o1", &data, LONG).await.unwrap_err(),
        l.complete(&key, "o1", &data).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, LedgerError::NotFound { key: k } if *k == key),
            "{err:?}"
        );
    }
}

pub(crate) async fn wait_returns_when_another_task_completes_or_abandons(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(9);
    l.claim(&key, "req-a", "worker", LONG, far()).await.unwrap();
    let (worker, k) = (l.clone(), key.clone());
    let finishing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        worker.complete(&k, "worker", &json!({"image": "x"})).await
    });
    let started = Instant::now();
    let waited = l.wait(&key, Duration::from_secs(20)).await.unwrap();
    let took = started.elapsed();
    finishing.await.unwrap().unwrap();
    let entry = waited.expect("done, not gone");
    assert!(entry.done, "{entry:?}");
    assert_eq!(entry.data, json!({"image": "x"}));
    assert!(took < Duration::from_secs(3), "woke after {took:?}");

    let key = payment(10);
    l.claim(&key, "req-a", "worker", LONG, far()).await.unwrap();
    let (worker, k) = (l.clone(), key.clone());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        worker.abandon(&k, "worker").await
    });
    assert_eq!(l.wait(&key, Duration::from_secs(20)).await.unwrap(), None);
    assert_eq!(
        l.wait(&payment(11), LONG).await.unwrap(),
        None,
        "never claimed"
    );
}

pub(crate) async fn wait_returns_when_the_lease_expires_and_on_timeout(fx: &Fixture) {
    let l = &fx.ledger;
    let key = payment(12);
    l.claim(&key, "req-a", "dies", Duration::from_millis(400), far())
        .await
        .unwrap();
    let started = Instant::now();
    let entry = l
        .wait(&key, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(!entry.done);
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "woke after {took:?}"
    );
    acquired(l.claim(&key, "req-a", "heir", LONG, far()).await.unwrap());

    // Timeout: the record as it is, still leased.
    let started = Instant::now();
    let entry = l.wait(&key, Duration::from_millis(300)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(entry.unwrap().owner.as_deref(), Some("heir"));
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

pub(crate) async fn purge_deletes_only_expired_records(fx: &Fixture) {
    let l = &fx.ledger;
    l.claim(&payment(20), "r", "o", LONG, 1_000).await.unwrap();
    l.claim(&payment(21), "r", "o", LONG, 2_000).await.unwrap();
    l.complete(&payment(21), "o", &json!("done")).await.unwrap();
    l.claim(&payment(22), "r", "o", LONG, far()).await.unwrap();
    assert_eq!(
        l.purge_expired(1_000).await.unwrap(),
        0,
        "strictly before now"
    );
    assert_eq!(l.purge_expired(1_500).await.unwrap(), 1);
    assert!(l.get(&payment(20)).await.unwrap().is_none());
    assert!(l.get(&payment(21)).await.unwrap().is_some());
    assert_eq!(l.purge_expired(10_000).await.unwrap(), 1);
    assert!(l.get(&payment(21)).await.unwrap().is_none());
    assert!(l.get(&payment(22)).await.unwrap().is_some());
    // A purged payment could be claimed anew (by then its authorization is no longer valid).
    let claim = l.claim(&payment(20), "r", "o2", LONG, far()).await.unwrap();
    assert_eq!(claim, Claim::Acquired(None));
}

/// Claims `key` from `tasks` tasks at once, spread over `ledgers`; returns the answers.
pub(crate) async fn claim_at_once(
    ledgers: &[Arc<dyn genim::serve::ledger::Ledger>],
    key: &str,
    tasks: usize,
) -> Vec<Claim> {
    let start = Arc::new(tokio::sync::Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (ledger, start, key) = (ledgers[i % ledgers.len()].clone(), start.clone(), key);
            let key = key.to_owned();
            tokio::spawn(async move {
                start.wait().await;
                ledger
                    .claim(&key, "req-a", &format!("owner-{i}"), LONG, far())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claims = Vec::new();
    for handle in handles {
        claims.push(handle.await.unwrap());
    }
    claims
}

/// Exactly one `Acquired(None)`, the rest `Busy` on the winner's record.
pub(crate) fn assert_one_winner(claims: &[Claim]) {
    // "kind:owner" per claim: 50 full records would bury the failure.
    let summary: Vec<String> = claims
        .iter()
        .map(|c| {
            let owner = c.entry().and_then(|e| e.owner.clone()).unwrap_or_default();
            format!("{}:{owner}", c.kind())
        })
        .collect();
    let winners: Vec<_> = claims
        .iter()
        .filter(|c| matches!(c, Claim::Acquired(_)))
        .collect();
    assert_eq!(winners.len(), 1, "{summary:?}");
    assert_eq!(winners[0], &Claim::Acquired(None), "{summary:?}");
    let busy: Vec<_> = claims
        .iter()
        .filter_map(|c| match c {
            Claim::Busy(entry) => Some(entry.owner.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(busy.len(), claims.len() - 1, "{summary:?}");
    let owner = &busy[0];
    assert!(
        busy.iter().all(|o| o == owner),
        "one owner for all: {summary:?}"
    );
}

pub(crate) async fn fifty_concurrent_claims_have_exactly_one_winner(fx: &Fixture) {
    let key = payment(30);
    let claims = claim_at_once(std::slice::from_ref(&fx.ledger), &key, 50).await;
    assert_one_winner(&claims);
    let entry = fx.ledger.get(&key).await.unwrap().unwrap();
    assert_eq!(entry.version, 1, "the losers wrote nothing");
}

pub(crate) async fn describe_and_health(fx: &Fixture) {
    let text = fx.ledger.describe();
    assert!(!text.contains('\n') && text.contains("ledger"), "{text}");
    fx.ledger.health().await.unwrap();
}
