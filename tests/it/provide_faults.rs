//! The provider loop when its services fail: a generator down for longer than the retry
//! budget of old, a prompt refused by the content policy (`--failed`, `--retry-failed`), a bad
//! API key, an RPC that refuses, answers 502 or resets connections for 30 s; and shards with
//! `--once`, periodic withdrawals.

use crate::{
    common::TestChain,
    mock::{Fault as ApiFault, MockServer, Route},
    provide::{PROVIDER, assert_delivered_once, deliveries, provide_once, setup},
    provide_reorg::{spawn, state_dir, terminate, totals, wait_until},
    proxy::{Fault, FaultProxy},
};
use alloy::primitives::{Address, U256};
use genim::{
    bindings::gen_im_nft::GenImNFT,
    generate::{LocalGenerator, Size},
};
use std::time::{Duration, Instant};

const API_KEY: &str = "sk-test-do-not-print-0123456789";

fn png() -> Vec<u8> {
    LocalGenerator::new(Size {
        width: 32,
        height: 32,
    })
    .unwrap()
    .generate_blocking("mock")
    .unwrap()
    .bytes
    .to_vec()
}

fn openai_flags(url: &str) -> Vec<&str> {
    vec![
        "--generator",
        "openai",
        "--generator-url",
        url,
        "--model",
        "test-model",
        "--size",
        "32x32",
    ]
}

async fn states(chain: &TestChain, nft: Address, ids: &[U256]) -> Vec<u8> {
    let contract = GenImNFT::new(nft, chain.root());
    let mut out = Vec::new();
    for id in ids {
        out.push(contract.tokenState(*id).call().await.unwrap().state);
    }
    out
}

/// Issue 7 #2: the generator refuses connections, then answers 502 pages, for 11 s in all
/// (the old loop gave the tokens up after about 9 s). The tokens end delivered, none failed.
#[tokio::test]
async fn a_long_generator_outage_delays_tokens_but_fails_none() {
    let (chain, nft, ids) = setup(2).await;
    let api = MockServer::openai(png()).await;
    let proxy = FaultProxy::start(api.base()).await;
    proxy.set(Fault::Refuse);
    let mut extra = openai_flags(proxy.url());
    extra.extend(["--retry-max-delay", "1"]);
    let child = spawn(
        &chain,
        nft,
        &chain.rpc_url(),
        &extra,
        &[("OPENAI_API_KEY", API_KEY)],
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.set(Fault::BadGateway);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(states(&chain, nft, &ids).await, vec![1, 1], "still pending");
    proxy.set(Fault::None);
    wait_until(
        "delivered after the outage",
        Duration::from_secs(20),
        || async { deliveries(&chain, nft).await.len() == ids.len() },
    )
    .await;
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    let totals = totals(&output);
    assert_eq!(
        (totals["delivered"].as_u64(), totals["failed"].as_u64()),
        (Some(2), Some(0))
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(API_KEY), "{stderr}");
    // One warning when the outage starts per image, not one per attempt.
    let warnings = stderr.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 6, "{warnings} warnings:\n{stderr}");
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// Issue 7 #2: a content-policy refusal fails its token only; `--failed` lists it, and
/// `--retry-failed` tries it again once the prompt goes through.
#[tokio::test]
async fn a_refused_prompt_fails_its_token_and_can_be_listed_and_retried() {
    let (chain, nft, ids) = setup(2).await;
    let api = MockServer::openai(png()).await;
    api.fail_prompt("test prompt number 1", ApiFault::ContentPolicy);
    let url = api.base().to_string();
    let mut extra = openai_flags(&url);
    extra.push("--json");
    let envs = [("OPENAI_API_KEY", API_KEY)];
    let run = provide_once(&chain, nft, "dir:store", &extra, &envs)
        .await
        .ok();
    let totals = run.json();
    assert_eq!(
        (totals["delivered"].as_u64(), totals["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(states(&chain, nft, &ids).await, vec![2, 1]);

    let list = |json: bool| {
        let nft = nft.to_string();
        let key = chain.key(PROVIDER);
        let chain = &chain;
        async move {
            let mut args = vec!["provide", "--failed", "--nft", &nft, "--state-dir", "state"];
            if json {
                args.push("--json");
            }
            chain
                .genim(&args, &[("GENIM_PRIVATE_KEY", &key)])
                .await
                .ok()
        }
    };
    let listed = list(false).await;
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", listed.stdout);
    assert!(
        lines[0].contains("token 2") && lines[0].contains("safety system"),
        "{}",
        lines[0]
    );
    let listed = list(true).await.json();
    assert_eq!(listed["tokenId"], 2);
    assert_eq!(listed["prompt"], "test prompt number 1");

    // Without --retry-failed, a failed token stays failed.
    api.clear_prompt_faults();
    let run = provide_once(&chain, nft, "dir:store", &extra, &envs)
        .await
        .ok();
    assert_eq!(run.json()["delivered"], 0);
    assert_eq!(states(&chain, nft, &ids).await, vec![2, 1]);

    extra.push("--retry-failed");
    let run = provide_once(&chain, nft, "dir:store", &extra, &envs)
        .await
        .ok();
    let totals = run.json();
    assert_eq!(
        (totals["delivered"].as_u64(), totals["failed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(list(false).await.stdout, "", "nothing failed any more");
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// Issue 7 #2: a bad API key fails every image the same way: the run stops with one line and
/// exit code 1, and no token is marked failed.
#[tokio::test]
async fn a_bad_api_key_stops_the_run_and_fails_no_token() {
    let (chain, nft, ids) = setup(1).await;
    let api = MockServer::openai(png()).await;
    api.fail_next(Route::Generate, [ApiFault::Unauthorized]);
    let url = api.base().to_string();
    let run = provide_once(
        &chain,
        nft,
        "dir:store",
        &openai_flags(&url),
        &[("OPENAI_API_KEY", API_KEY)],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with("error: generator: ") && errors[0].contains("401"),
        "{}",
        errors[0]
    );
    run.assert_hides(API_KEY);
    assert_eq!(states(&chain, nft, &ids).await, vec![1]);
    let failed =
        genim::provide::failed_tokens(&chain.dir().join("state"), chain.chain_id(), nft).unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

/// Issue 7 #13 and #14: the RPC refuses connections, then answers 502 pages, then resets
/// connections, 30 s in all, while tokens are minted. `provide` keeps running with a few log
/// lines, then delivers everything; SIGTERM ends it normally with its checkpoint saved.
#[tokio::test]
async fn provide_waits_out_a_30_second_rpc_outage() {
    let (chain, nft, mut ids) = setup(2).await;
    let proxy = FaultProxy::start(&chain.rpc_url()).await;
    let child = spawn(&chain, nft, proxy.url(), &["--retry-max-delay", "2"], &[]);
    wait_until("first deliveries", Duration::from_secs(30), || async {
        deliveries(&chain, nft).await.len() == 2
    })
    .await;
    let outage = Instant::now();
    proxy.set(Fault::Refuse);
    for i in 0..2 {
        ids.push(
            chain
                .mint(nft, 5 + i, &format!("minted during the outage {i}"))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set(Fault::BadGateway);
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set(Fault::Reset);
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.set(Fault::None);
    assert!(outage.elapsed() >= Duration::from_secs(30));
    wait_until(
        "delivered after the outage",
        Duration::from_secs(30),
        || async { deliveries(&chain, nft).await.len() == ids.len() },
    )
    .await;
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let totals = totals(&output);
    assert_eq!(totals["delivered"], 4, "{stderr}");
    let noisy = stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    assert!(noisy <= 10, "{noisy} warnings and errors:\n{stderr}");
    assert!(state_dir(&chain, nft).join("checkpoint.json").exists());
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// Issue 7 #8: with --once, another shard's tokens are not waited for: those still in their
/// grace period (counted from their mint's block time) are left to their shard; once chain
/// time has passed it, the next run takes them.
#[tokio::test]
async fn a_once_shard_leaves_the_others_tokens_in_their_grace_period() {
    let (chain, nft, ids) = setup(4).await;
    let flags = ["--shard", "0/2", "--shard-grace", "60", "--json"];
    let run = provide_once(&chain, nft, "dir:store", &flags, &[])
        .await
        .ok();
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    assert_eq!(run.json()["delivered"], 2, "its own: 2 and 4");
    assert!(run.stderr.contains("left to its shard"), "{}", run.stderr);
    assert_eq!(states(&chain, nft, &ids).await, vec![1, 2, 1, 2]);

    chain.increase_time(61).await;
    let run = provide_once(&chain, nft, "dir:store", &flags, &[])
        .await
        .ok();
    assert_eq!(run.json()["delivered"], 2, "{}", run.stderr);
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// A long run takes its earnings home every --withdraw-every, not only at exit.
#[tokio::test]
async fn earnings_are_withdrawn_while_running() {
    let (chain, nft, ids) = setup(2).await;
    let child = spawn(
        &chain,
        nft,
        &chain.rpc_url(),
        &["--withdraw-every", "1"],
        &[],
    );
    let contract = GenImNFT::new(nft, chain.root());
    let provider = chain.address(PROVIDER);
    wait_until("delivered", Duration::from_secs(30), || async {
        deliveries(&chain, nft).await.len() == ids.len()
    })
    .await;
    wait_until(
        "withdrawn while running",
        Duration::from_secs(10),
        || async { contract.earnings(provider).call().await.unwrap().is_zero() },
    )
    .await;
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    let totals = totals(&output);
    assert_eq!(totals["withdrawn"], totals["earned"], "{totals}");
}
