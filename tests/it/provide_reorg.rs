//! The provider loop when the chain misbehaves: reorgs that replace a mint or drop deliveries
//! (anvil_reorg), receipts that come late and deliveries stuck at shutdown (automine off).

use crate::{
    common::{TestChain, ether},
    provide::{
        PRICE, PROVIDER, assert_delivered_once, deliveries, local, mint_blocks, options, provide,
        provide_once, setup,
    },
};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    sol_types::SolCall,
};
use genim::{
    bindings::gen_im_nft::GenImNFT,
    cid,
    generate::{
        BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorKind, ImageRequest,
        LocalGenerator, Size,
    },
    store::StoreSpec,
};
use serde_json::{Value, json};
use std::{
    future::Future,
    process::{Output, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::process::Child;

/// A raw JSON-RPC call to anvil.
pub(crate) async fn rpc(chain: &TestChain, method: &str, params: Value) -> Value {
    chain
        .root()
        .raw_request(method.to_string().into(), params)
        .await
        .unwrap_or_else(|err| panic!("{method}: {err}"))
}

/// Polls `condition` every 50 ms until it holds; panics after `limit`.
pub(crate) async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `genim provide` (service) for `nft` through `rpc_url`, state and store in the chain's
/// folder, reading from block 0, with `extra` flags and `envs`; its output is captured.
pub(crate) fn spawn(
    chain: &TestChain,
    nft: Address,
    rpc_url: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Child {
    let nft = nft.to_string();
    let mut args = vec![
        "provide",
        "--nft",
        &nft,
        "--store",
        "dir:store",
        "--state-dir",
        "state",
        "--from-block",
        "0",
        "--json",
    ];
    args.extend_from_slice(extra);
    tokio::process::Command::new(env!("CARGO_BIN_EXE_genim"))
        .args(args)
        .current_dir(chain.dir())
        .env_remove("RUST_LOG")
        .env("ETH_RPC_URL", rpc_url)
        .env("GENIM_PRIVATE_KEY", chain.key(PROVIDER))
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("genim provide starts")
}

/// Sends SIGTERM and waits (at most `limit`) for the exit; returns the output and how long
/// the exit took.
pub(crate) async fn terminate(child: Child, limit: Duration) -> (Output, Duration) {
    let pid = child.id().unwrap().to_string();
    let sent = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("genim did not stop within {limit:?} of SIGTERM"))
        .unwrap();
    (output, sent.elapsed())
}

/// The totals a service printed at exit, after checking it exited 0 (not by a signal).
pub(crate) fn totals(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("no totals: {stderr}"))
}

/// The provider's state folder for `nft`.
pub(crate) fn state_dir(chain: &TestChain, nft: Address) -> std::path::PathBuf {
    chain
        .dir()
        .join("state")
        .join(chain.chain_id().to_string())
        .join(nft.to_checksum(None))
}

fn checkpoint(chain: &TestChain, nft: Address) -> u64 {
    let path = state_dir(chain, nft).join("checkpoint.json");
    let json: Value =
        serde_json::from_slice(&std::fs::read(path).expect("checkpoint saved")).unwrap();
    json["nextBlock"].as_u64().unwrap()
}

async fn token_state(chain: &TestChain, nft: Address, id: U256) -> u8 {
    GenImNFT::new(nft, chain.root())
        .tokenState(id)
        .call()
        .await
        .unwrap()
        .state
}

/// Whether a transaction of the provider waits in anvil's pool.
async fn provider_tx_pending(chain: &TestChain) -> bool {
    let account = chain.address(PROVIDER);
    let pending: U256 = serde_json::from_value(
        rpc(
            chain,
            "eth_getTransactionCount",
            json!([account, "pending"]),
        )
        .await,
    )
    .unwrap();
    pending > U256::from(chain.nonce(account).await)
}

/// Counts calls to the local generator.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Generator>,
    calls: AtomicU32,
}

impl Generator for Counting {
    fn kind(&self) -> GeneratorKind {
        self.inner.kind()
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn size(&self) -> Size {
        self.inner.size()
    }
    fn generate(
        &self,
        request: &ImageRequest,
    ) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.generate(request)
    }
}

/// Issue 7 #10 and #11 (across a restart): a reorg drops mint A of token 1 and the deliveries;
/// mint B with another prompt takes id 1, and token 2's mint comes back in another block.
/// The next run delivers B's image to token 1 (not A's, whose record it ignores) and token 2
/// again from its record, without generating it again.
#[tokio::test]
async fn a_reorg_replacing_a_mint_gets_the_new_prompts_image_and_dropped_deliveries_come_back() {
    let chain = TestChain::start().await;
    let nft = chain
        .deploy_nft(ether(PRICE), &[chain.address(PROVIDER)])
        .await;
    let first = chain.mint(nft, 3, "a lighthouse at dawn").await;
    let second = chain.mint(nft, 4, "a fox in the snow").await;
    let ids = [first, second];
    let state = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = StoreSpec::Dir(store_dir.path().into()).open().unwrap();
    let counting = Arc::new(Counting {
        inner: local(),
        calls: AtomicU32::new(0),
    });
    let totals = provide(
        &chain,
        PROVIDER,
        counting.clone(),
        store.clone(),
        options(nft, state.path()),
    )
    .await
    .unwrap();
    assert_eq!(totals.delivered, 2);
    let delivered_before = GenImNFT::new(nft, chain.root())
        .tokenState(second)
        .call()
        .await
        .unwrap()
        .digest;

    // The reorg: back to before the first mint; mint B first, then token 2's original
    // transaction again, each in its own block; the deliveries are gone.
    let mints = mint_blocks(&chain, nft).await;
    let head = chain.root().get_block_number().await.unwrap();
    let depth = head - mints[&first] + 1;
    let raw_second: Bytes = serde_json::from_value(
        rpc(
            &chain,
            "eth_getRawTransactionByHash",
            json!([mint_tx(&chain, nft, second).await]),
        )
        .await,
    )
    .unwrap();
    let mint_b = json!({
        "from": chain.address(5),
        "to": nft,
        "value": ether(PRICE),
        "data": Bytes::from(GenImNFT::mintCall { prompt: "a replacement prompt".into() }.abi_encode()),
    });
    rpc(
        &chain,
        "anvil_reorg",
        json!([depth, [[mint_b, 0], [raw_second, 1]]]),
    )
    .await;
    assert_eq!(token_state(&chain, nft, first).await, 1, "B pending");
    assert_eq!(token_state(&chain, nft, second).await, 1, "pending again");
    assert!(deliveries(&chain, nft).await.is_empty());

    let totals = provide(
        &chain,
        PROVIDER,
        counting.clone(),
        store,
        options(nft, state.path()),
    )
    .await
    .unwrap();
    assert_eq!(totals.delivered, 2, "{totals:?}");
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        3,
        "B's image generated; token 2's reused from its record"
    );
    assert_delivered_once(&chain, nft, &ids, store_dir.path()).await;
    let contract = GenImNFT::new(nft, chain.root());
    let digest = contract.tokenState(first).call().await.unwrap().digest;
    let metadata =
        std::fs::read(store_dir.path().join(cid::raw_cid_from_digest(&digest.0))).unwrap();
    let json: Value = serde_json::from_slice(&metadata).unwrap();
    let expected = LocalGenerator::new(Size {
        width: 64,
        height: 64,
    })
    .unwrap()
    .generate_blocking("a replacement prompt")
    .unwrap();
    assert_eq!(
        json["image"],
        format!("ipfs://{}", cid::cid_v1(&expected.bytes)),
        "token 1 shows B's image: {json}"
    );
    assert!(json.to_string().contains("a replacement prompt"), "{json}");
    assert!(!json.to_string().contains("lighthouse"), "{json}");
    assert_eq!(
        contract.tokenState(second).call().await.unwrap().digest,
        delivered_before,
        "token 2 delivered again with the same metadata"
    );
}

/// The transaction that minted `token`.
async fn mint_tx(chain: &TestChain, nft: Address, token: U256) -> B256 {
    use alloy::{rpc::types::Filter, sol_types::SolEvent};
    let filter = Filter::new()
        .address(nft)
        .event_signature(GenImNFT::ImageRequested::SIGNATURE_HASH)
        .topic1(B256::from(token))
        .from_block(0);
    let logs = chain.root().get_logs(&filter).await.unwrap();
    logs[0].transaction_hash.unwrap()
}

/// Issue 7 #11 (while running) and #12: a reorg drops the provider's deliveries (and with them
/// its nonces). The running provider notices, delivers the tokens again and goes on with new
/// mints, without stalling on the nonces the reorg took back.
#[tokio::test]
async fn deliveries_dropped_by_a_reorg_are_delivered_again_while_running() {
    let (chain, nft, mut ids) = setup(2).await;
    let child = spawn(&chain, nft, &chain.rpc_url(), &[], &[]);
    wait_until("first deliveries", Duration::from_secs(30), || async {
        deliveries(&chain, nft).await.len() == 2
    })
    .await;
    let head = chain.root().get_block_number().await.unwrap();
    let last_mint = mint_blocks(&chain, nft).await.into_values().max().unwrap();
    let provider = chain.address(PROVIDER);
    let sent = chain.nonce(provider).await;
    assert!(sent > 0);
    rpc(&chain, "anvil_reorg", json!([head - last_mint, []])).await;
    assert_eq!(
        chain.nonce(provider).await,
        0,
        "the reorg took the provider's transactions"
    );
    for id in &ids {
        assert_eq!(token_state(&chain, nft, *id).await, 1, "pending again");
    }
    ids.push(chain.mint(nft, 7, "minted after the reorg").await);
    let started = Instant::now();
    let delivered = loop {
        let contract = GenImNFT::new(nft, chain.root());
        let mut all = true;
        for id in &ids {
            all &= contract.tokenState(*id).call().await.unwrap().state == 2;
        }
        if all || started.elapsed() > Duration::from_secs(30) {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(delivered, "not every token delivered within 30 s: {stderr}");
    // Either path brings the deliveries back: the scanner sees the tokens pending again, or the
    // sender sees its transactions gone from the node first and broadcasts them again.
    assert!(
        stderr.contains("pending again after a reorg")
            || stderr.contains("dropped the transaction; broadcasting it again"),
        "{stderr}"
    );
    assert_eq!(totals(&output)["failed"], 0);
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// Issue 7 #6: with automine off, the delivery's receipt comes only when a block is mined,
/// long after --tx-timeout. The provider follows the one transaction until it is mined, and
/// reports its tokens delivered: no second transaction, no skip.
#[tokio::test]
async fn a_late_receipt_is_waited_for_not_answered_by_a_second_transaction() {
    let (chain, nft, ids) = setup(2).await;
    rpc(&chain, "evm_setAutomine", json!([false])).await;
    let child = spawn(
        &chain,
        nft,
        &chain.rpc_url(),
        &["--tx-timeout", "1", "--batch-wait", "1000"],
        &[],
    );
    wait_until("a delivery in the pool", Duration::from_secs(30), || {
        provider_tx_pending(&chain)
    })
    .await;
    // Well past --tx-timeout, then mined.
    tokio::time::sleep(Duration::from_secs(3)).await;
    rpc(&chain, "evm_mine", json!([])).await;
    rpc(&chain, "evm_setAutomine", json!([true])).await;
    wait_until("delivered", Duration::from_secs(30), || async {
        deliveries(&chain, nft).await.len() == ids.len()
    })
    .await;
    // Let the provider see the receipts before stopping it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (output, _) = terminate(child, Duration::from_secs(30)).await;
    let totals = totals(&output);
    assert_eq!(totals["delivered"], 2, "{totals}");
    assert_eq!(totals["skipped"], 0, "{totals}");
    let mut txs: Vec<B256> = Vec::new();
    for id in &ids {
        let tx = delivery_tx(&chain, nft, *id).await;
        if !txs.contains(&tx) {
            txs.push(tx);
        }
    }
    // One transaction per delivery batch plus the withdrawal at exit: nothing sent twice.
    assert_eq!(
        chain.nonce(chain.address(PROVIDER)).await,
        txs.len() as u64 + 1
    );
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

async fn delivery_tx(chain: &TestChain, nft: Address, token: U256) -> B256 {
    use alloy::{rpc::types::Filter, sol_types::SolEvent};
    let filter = Filter::new()
        .address(nft)
        .event_signature(GenImNFT::ImageDelivered::SIGNATURE_HASH)
        .topic1(B256::from(token))
        .from_block(0);
    chain.root().get_logs(&filter).await.unwrap()[0]
        .transaction_hash
        .unwrap()
}

/// Issue 7 #12 (shutdown) and #6 (delivered by us, reported so): SIGTERM while a delivery
/// waits for a block that never comes ends within --shutdown-timeout and saves a checkpoint
/// that keeps the token. When the transaction is mined later, the next run reports it as
/// delivered by this provider.
#[tokio::test]
async fn sigterm_with_a_stuck_delivery_ends_within_the_shutdown_timeout() {
    let (chain, nft, ids) = setup(1).await;
    rpc(&chain, "evm_setAutomine", json!([false])).await;
    let child = spawn(
        &chain,
        nft,
        &chain.rpc_url(),
        &["--shutdown-timeout", "2"],
        &[],
    );
    wait_until("a delivery in the pool", Duration::from_secs(30), || {
        provider_tx_pending(&chain)
    })
    .await;
    let (output, took) = terminate(child, Duration::from_secs(15)).await;
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    let totals = totals(&output);
    assert_eq!(totals["delivered"], 0, "{totals}");
    let mint = mint_blocks(&chain, nft).await[&ids[0]];
    assert!(
        checkpoint(&chain, nft) <= mint,
        "the checkpoint keeps the token"
    );

    // The transaction was sent: once mined, it is ours, and the next run says so.
    rpc(&chain, "evm_mine", json!([])).await;
    rpc(&chain, "evm_setAutomine", json!([true])).await;
    let run = provide_once(&chain, nft, "dir:store", &["--json"], &[])
        .await
        .ok();
    let totals = run.json();
    assert_eq!(totals["delivered"], 1, "{}", run.stderr);
    let payout = ether(PRICE) - ether(PRICE) * U256::from(500) / U256::from(10_000);
    assert_eq!(totals["earned"], payout.to_string());
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}
