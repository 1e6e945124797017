//! The provider loop against a real anvil: delivery and payment, SIGKILL and restart, flaky
//! generators and stores, shards, an OpenAI-compatible server, and a real IPFS node.

use crate::common::{Run, TestChain, ether};
use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use bytes::Bytes;
use genim::{
    bindings::gen_im_nft::GenImNFT,
    chain::{ConnectOptions, Connection},
    cid,
    generate::{
        BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorKind, ImageRequest,
        LocalGenerator, Size,
    },
    http::HttpError,
    provide::{ImageProvider, ProvideOptions, RetryPolicy, Shard, Totals},
    store::{DirStore, Store, StoreError, StoreSpec},
};
use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    process::Child,
};

pub(crate) const PRICE: &str = "0.00003";
/// Anvil account that deploys with the provider authorized: 1 (and 2 for a second provider).
pub(crate) const PROVIDER: usize = 1;

/// A chain with GenImNFT deployed (providers: accounts 1 and 2) and `n` tokens minted from
/// accounts 3.. in turn.
pub(crate) async fn setup(n: usize) -> (TestChain, Address, Vec<U256>) {
    let chain = TestChain::start().await;
    let nft = chain
        .deploy_nft(ether(PRICE), &[chain.address(1), chain.address(2)])
        .await;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            chain
                .mint(nft, 3 + i % 5, &format!("test prompt number {i}"))
                .await,
        );
    }
    (chain, nft, ids)
}

pub(crate) async fn connect(chain: &TestChain, account: usize) -> Connection {
    Connection::open(
        chain.rpc_url().parse().unwrap(),
        Some(chain.signer(account)),
        ConnectOptions {
            tx_timeout: Some(Duration::from_secs(30)),
        },
    )
    .await
    .expect("connects to anvil")
}

pub(crate) fn options(nft: Address, state: &Path) -> ProvideOptions {
    ProvideOptions {
        nfts: vec![nft],
        state_dir: state.to_path_buf(),
        once: true,
        from_block: Some(0),
        poll_interval: Duration::from_millis(50),
        batch_wait: Duration::from_millis(50),
        // Tiny chunks, so every test also reads its range in many eth_getLogs calls.
        chunk_blocks: 3,
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        },
        progress: false,
        ..ProvideOptions::default()
    }
}

pub(crate) async fn provide(
    chain: &TestChain,
    account: usize,
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
    opts: ProvideOptions,
) -> eyre::Result<Totals> {
    ImageProvider::new(connect(chain, account).await, generator, store, opts)
        .run(std::future::pending())
        .await
}

pub(crate) fn local() -> Arc<dyn Generator> {
    Arc::new(
        LocalGenerator::new(Size {
            width: 64,
            height: 64,
        })
        .unwrap(),
    )
}

/// Runs `genim provide --once` for `nft` as the provider account, with its state in `state/`
/// of the chain's folder, reading from block 0, plus `extra` flags and `envs`.
pub(crate) async fn provide_once(
    chain: &TestChain,
    nft: Address,
    store: &str,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Run {
    let (nft, key) = (nft.to_string(), chain.key(PROVIDER));
    let mut args = vec![
        "provide",
        "--once",
        "--nft",
        &nft,
        "--store",
        store,
        "--state-dir",
        "state",
    ];
    args.extend(["--from-block", "0"]);
    args.extend_from_slice(extra);
    let mut all = vec![("GENIM_PRIVATE_KEY", key.as_str())];
    all.extend_from_slice(envs);
    chain.genim(&args, &all).await
}

/// Starts a long-running `genim provide` for `nft` as the provider account (state and store in
/// the chain's folder, reading from block 0) with `extra` flags; `capture` pipes its output.
pub(crate) fn spawn_provider(
    chain: &TestChain,
    nft: Address,
    extra: &[&str],
    capture: bool,
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
    ];
    args.extend(["--from-block", "0"]);
    args.extend_from_slice(extra);
    let out = || {
        if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    tokio::process::Command::new(env!("CARGO_BIN_EXE_genim"))
        .args(args)
        .current_dir(chain.dir())
        .env("ETH_RPC_URL", chain.rpc_url())
        .env("GENIM_PRIVATE_KEY", chain.key(PROVIDER))
        .stdout(out())
        .stderr(out())
        .kill_on_drop(true)
        .spawn()
        .expect("genim provide starts")
}

/// `ImageDelivered` events of `nft`, per token.
pub(crate) async fn deliveries(
    chain: &TestChain,
    nft: Address,
) -> HashMap<U256, Vec<(Address, B256)>> {
    let filter = Filter::new()
        .address(nft)
        .event_signature(GenImNFT::ImageDelivered::SIGNATURE_HASH)
        .from_block(0);
    let mut out: HashMap<U256, Vec<(Address, B256)>> = HashMap::new();
    for log in chain.root().get_logs(&filter).await.unwrap() {
        let event = GenImNFT::ImageDelivered::decode_log(&log.inner).unwrap();
        out.entry(event.tokenId)
            .or_default()
            .push((event.provider, event.metadataDigest));
    }
    out
}

/// Every token delivered exactly once, and its metadata and image are in `store_dir` under
/// CIDs that hash to what the chain says.
pub(crate) async fn assert_delivered_once(
    chain: &TestChain,
    nft: Address,
    ids: &[U256],
    store_dir: &Path,
) {
    let events = deliveries(chain, nft).await;
    let contract = GenImNFT::new(nft, chain.root());
    for id in ids {
        let delivered = events.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            delivered.len(),
            1,
            "token {id} delivered {} times",
            delivered.len()
        );
        let state = contract.tokenState(*id).call().await.unwrap();
        assert_eq!(state.state, 2, "token {id} is delivered on-chain");
        let metadata_cid = cid::raw_cid_from_digest(&state.digest.0);
        let uri = contract.tokenURI(*id).call().await.unwrap();
        assert_eq!(uri, format!("ipfs://{metadata_cid}"));
        let metadata = std::fs::read(store_dir.join(&metadata_cid))
            .unwrap_or_else(|_| panic!("metadata {metadata_cid} of token {id} is in the store"));
        assert_eq!(
            cid::sha256(&metadata),
            state.digest.0,
            "metadata hashes to the digest"
        );
        let json: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
        assert_eq!(json["name"], format!("GenIm #{id}"));
        let image_cid = json["image"]
            .as_str()
            .unwrap()
            .strip_prefix("ipfs://")
            .unwrap();
        let image = std::fs::read(store_dir.join(image_cid)).expect("image is in the store");
        assert_eq!(
            cid::cid_v1(&image),
            image_cid,
            "image bytes hash to their CID"
        );
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    }
}

#[tokio::test]
async fn provide_once_delivers_and_pays() {
    let (chain, nft, ids) = setup(3).await;
    let key = chain.key(PROVIDER);
    let run = provide_once(&chain, nft, "dir:store", &["--json"], &[])
        .await
        .ok();
    run.assert_hides(&key);
    let totals = run.json();
    assert_eq!(totals["delivered"], 3, "{}", run.stdout);
    // stderr is not a terminal here: still one log line per delivery, without -v.
    let lines = run
        .stderr
        .lines()
        .filter(|line| line.contains(" delivered "))
        .count();
    assert_eq!(lines, 3, "{}", run.stderr);
    assert_eq!(totals["failed"], 0);
    let payout = ether(PRICE) - ether(PRICE) * U256::from(500) / U256::from(10_000);
    assert_eq!(totals["earned"], (payout * U256::from(3)).to_string());
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
    // Only the fees are left in the contract: the escrow went to the provider.
    let fees = GenImNFT::new(nft, chain.root())
        .accruedFees()
        .call()
        .await
        .unwrap();
    assert_eq!(chain.balance(nft).await, fees);

    // A second run finds nothing to do.
    let again = provide_once(&chain, nft, "dir:store", &["--json"], &[])
        .await
        .ok();
    assert_eq!(again.json()["delivered"], 0);
}

#[tokio::test]
async fn sigkill_then_restart_delivers_every_token_exactly_once() {
    let (chain, nft, mut ids) = setup(12).await;
    let mut child = spawn_provider(
        &chain,
        nft,
        &[
            "--concurrency",
            "1",
            "--batch-max",
            "2",
            "--batch-wait",
            "200",
        ],
        false,
    );
    // Kill it as soon as some, but not all, tokens are delivered.
    let started = std::time::Instant::now();
    loop {
        let done = deliveries(&chain, nft).await.len();
        if done >= 2 {
            assert!(done < ids.len(), "killed too late to test anything");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no delivery within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    // More mints while the provider is down.
    for i in 0..3 {
        ids.push(
            chain
                .mint(nft, 3 + i, &format!("minted while down {i}"))
                .await,
        );
    }
    let run = provide_once(&chain, nft, "dir:store", &["--json"], &[])
        .await
        .ok();
    assert_eq!(run.json()["failed"], 0);
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_saves_the_checkpoint() {
    let (chain, nft, ids) = setup(3).await;
    let child = spawn_provider(&chain, nft, &["--json"], true);
    let started = std::time::Instant::now();
    while deliveries(&chain, nft).await.len() < ids.len() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not delivered within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("stops within 30 s of SIGTERM")
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let totals: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(totals["delivered"], 3);
    // The deliveries are not final yet (fewer than --reorg-blocks deep): the checkpoint stays
    // at the first mint, so a restart confirms them; it delivers nothing twice.
    let state = chain
        .dir()
        .join("state")
        .join(chain.chain_id().to_string())
        .join(nft.to_checksum(None));
    let checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("checkpoint.json")).unwrap()).unwrap();
    let first_mint = mint_blocks(&chain, nft).await[&ids[0]];
    assert_eq!(
        checkpoint["nextBlock"].as_u64().unwrap(),
        first_mint,
        "{checkpoint}"
    );
    let again = provide_once(&chain, nft, "dir:store", &["--json"], &[])
        .await
        .ok();
    assert_eq!(again.json()["delivered"], 0);
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

/// The block of each token's mint.
pub(crate) async fn mint_blocks(chain: &TestChain, nft: Address) -> HashMap<U256, u64> {
    let filter = Filter::new()
        .address(nft)
        .event_signature(GenImNFT::ImageRequested::SIGNATURE_HASH)
        .from_block(0);
    let mut out = HashMap::new();
    for log in chain.root().get_logs(&filter).await.unwrap() {
        let event = GenImNFT::ImageRequested::decode_log(&log.inner).unwrap();
        out.insert(event.tokenId, log.block_number.unwrap());
    }
    out
}

/// Fails the first `failures` calls with a retryable (or permanent) error, then works.
#[derive(Debug)]
struct Flaky {
    inner: Arc<dyn Generator>,
    failures: u32,
    retryable: bool,
    calls: AtomicU32,
}

impl Generator for Flaky {
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
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            let err = if self.retryable {
                GenerateError::Http(HttpError::Status {
                    url: "http://generator.test".into(),
                    status: 503,
                    message: "overloaded".into(),
                    code: None,
                    retry_after: None,
                })
            } else {
                GenerateError::Moderated {
                    reason: "refused".into(),
                }
            };
            return Box::pin(async move { Err(err) });
        }
        self.inner.generate(request)
    }
}

#[tokio::test]
async fn generator_failing_then_recovering_still_delivers() {
    let (chain, nft, ids) = setup(2).await;
    let state = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: local(),
        failures: 3,
        retryable: true,
        calls: AtomicU32::new(0),
    });
    let totals = provide(
        &chain,
        PROVIDER,
        flaky.clone(),
        StoreSpec::Dir(store_dir.path().into()).open().unwrap(),
        ProvideOptions {
            concurrency: 1,
            ..options(nft, state.path())
        },
    )
    .await
    .unwrap();
    assert_eq!(totals.delivered, 2);
    assert_eq!(
        flaky.calls.load(Ordering::SeqCst),
        5,
        "3 failures + 2 images"
    );
    assert_delivered_once(&chain, nft, &ids, store_dir.path()).await;
}

#[tokio::test]
async fn permanent_generator_failure_leaves_the_token_for_a_refund() {
    let (chain, nft, ids) = setup(1).await;
    let state = tempfile::tempdir().unwrap();
    let store = StoreSpec::Dir(tempfile::tempdir().unwrap().keep())
        .open()
        .unwrap();
    let refusing = Arc::new(Flaky {
        inner: local(),
        failures: u32::MAX,
        retryable: false,
        calls: AtomicU32::new(0),
    });
    let totals = provide(
        &chain,
        PROVIDER,
        refusing.clone(),
        store.clone(),
        options(nft, state.path()),
    )
    .await
    .unwrap();
    assert_eq!((totals.delivered, totals.failed), (0, 1));
    assert_eq!(
        refusing.calls.load(Ordering::SeqCst),
        1,
        "a permanent error is not retried"
    );

    // Not retried forever: a restart that reads the mint again (here: from block 0, without
    // its checkpoint) reports it from its record without calling the generator.
    let checkpoint = state
        .path()
        .join(chain.chain_id().to_string())
        .join(nft.to_checksum(None));
    std::fs::remove_file(checkpoint.join("checkpoint.json")).unwrap();
    let totals = provide(
        &chain,
        PROVIDER,
        refusing.clone(),
        store,
        options(nft, state.path()),
    )
    .await
    .unwrap();
    assert_eq!(totals.failed, 1);
    assert_eq!(refusing.calls.load(Ordering::SeqCst), 1);

    // The owner gets the whole escrow back after the deadline.
    chain.increase_time(86_401).await;
    let run = chain
        .genim(
            &["refund", "--nft", &nft.to_string(), &ids[0].to_string()],
            &[("GENIM_PRIVATE_KEY", &chain.key(3))],
        )
        .await
        .ok();
    assert!(
        run.stdout
            .starts_with("refunded token 1: 0.00003 ETH back to"),
        "{}",
        run.stdout
    );
    let contract = GenImNFT::new(nft, chain.root());
    assert_eq!(
        contract.tokenState(ids[0]).call().await.unwrap().state,
        3,
        "refunded"
    );
    assert_eq!(
        chain.balance(nft).await,
        U256::ZERO,
        "no escrow left behind"
    );
}

/// A store that is down for its first `outage` calls.
#[derive(Debug)]
struct Outage {
    inner: Arc<dyn Store>,
    outage: u32,
    calls: AtomicU32,
}

impl Store for Outage {
    fn put(&self, bytes: Bytes, name: &str) -> BoxFuture<'_, Result<String, StoreError>> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.outage {
            return Box::pin(async {
                Err(StoreError::Http(HttpError::Status {
                    url: "http://ipfs.test".into(),
                    status: 502,
                    message: "bad gateway".into(),
                    code: None,
                    retry_after: None,
                }))
            });
        }
        self.inner.put(bytes, name)
    }
    fn get(&self, cid: &str) -> BoxFuture<'_, Result<Bytes, StoreError>> {
        self.inner.get(cid)
    }
    fn describe(&self) -> String {
        format!("outage over {}", self.inner.describe())
    }
}

#[tokio::test]
async fn store_outage_is_retried() {
    let (chain, nft, ids) = setup(2).await;
    let state = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Outage {
        inner: Arc::new(DirStore::open(store_dir.path()).unwrap()),
        outage: 3,
        calls: AtomicU32::new(0),
    });
    let totals = provide(
        &chain,
        PROVIDER,
        local(),
        store,
        ProvideOptions {
            concurrency: 1,
            ..options(nft, state.path())
        },
    )
    .await
    .unwrap();
    assert_eq!(totals.delivered, 2);
    assert_delivered_once(&chain, nft, &ids, store_dir.path()).await;
}

#[tokio::test]
async fn store_down_stops_the_run_and_loses_nothing() {
    let (chain, nft, ids) = setup(2).await;
    let key = chain.key(PROVIDER);
    // Nothing listens on port 9 (discard): every put fails, the run stops with one line.
    let run = provide_once(
        &chain,
        nft,
        "ipfs:http://127.0.0.1:9",
        &["--attempts", "2"],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: store: ") && last.contains("127.0.0.1:9"),
        "{}",
        run.stderr
    );
    run.assert_hides(&key);
    let contract = GenImNFT::new(nft, chain.root());
    for id in &ids {
        assert_eq!(
            contract.tokenState(*id).call().await.unwrap().state,
            1,
            "still pending"
        );
    }
    // The checkpoint did not move past them: a run with a working store delivers them.
    provide_once(&chain, nft, "dir:store", &[], &[]).await.ok();
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
}

#[tokio::test]
async fn two_shards_split_the_work_without_duplicates() {
    let (chain, nft, ids) = setup(6).await;
    let store_dir = tempfile::tempdir().unwrap();
    let store = StoreSpec::Dir(store_dir.path().into()).open().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let shard = |i: u64, dir: &Path| ProvideOptions {
        shard: Some(Shard { index: i, count: 2 }),
        shard_grace: Duration::from_secs(30),
        ..options(nft, dir)
    };
    // Each instance stops at once when its own share is done (a shutdown before the grace
    // period ends hands the other shard's tokens back untouched).
    let run = |account: usize, i: u64, dir: &Path| {
        let opts = ProvideOptions {
            once: false,
            ..shard(i, dir)
        };
        let store = store.clone();
        let chain = &chain;
        async move {
            let conn = connect(chain, account).await;
            let provider = ImageProvider::new(conn, local(), store, opts);
            let stop = async {
                loop {
                    let mine = deliveries(chain, nft)
                        .await
                        .keys()
                        .filter(|id| u64::try_from(**id).unwrap() % 2 == i)
                        .count();
                    if mine == 3 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            provider.run(stop).await.unwrap()
        }
    };
    let (ta, tb) = tokio::join!(run(1, 0, a.path()), run(2, 1, b.path()));
    assert_eq!((ta.delivered, tb.delivered), (3, 3));
    assert_delivered_once(&chain, nft, &ids, store_dir.path()).await;
    for (id, events) in deliveries(&chain, nft).await {
        let expected = if u64::try_from(id).unwrap() % 2 == 0 {
            chain.address(1)
        } else {
            chain.address(2)
        };
        assert_eq!(
            events[0].0, expected,
            "token {id} delivered by its shard's provider"
        );
    }
}

#[tokio::test]
async fn a_shard_takes_over_the_others_tokens_after_the_grace_period() {
    let (chain, nft, ids) = setup(4).await;
    let state = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let opts = ProvideOptions {
        shard: Some(Shard { index: 0, count: 2 }),
        shard_grace: Duration::from_millis(500),
        ..options(nft, state.path())
    };
    // The grace period counts from the mints' block time: let chain time pass it.
    chain.increase_time(1).await;
    let totals = provide(
        &chain,
        PROVIDER,
        local(),
        StoreSpec::Dir(store_dir.path().into()).open().unwrap(),
        opts,
    )
    .await
    .unwrap();
    assert_eq!(
        totals.delivered, 4,
        "its own 2 and, after the grace period, the other shard's 2"
    );
    assert_delivered_once(&chain, nft, &ids, store_dir.path()).await;
}

/// A tiny OpenAI-compatible images API: answers every POST with one b64_json PNG. Returns its
/// base URL and the Authorization headers it saw.
async fn openai_server(png: Vec<u8>) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let body = serde_json::json!({"created": 0, "data": [{"b64_json": data_encoding::BASE64.encode(&png)}]})
        .to_string();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (body, log) = (body.clone(), log.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as many body bytes as Content-Length says.
                loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            let auth = text[..end]
                                .lines()
                                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"));
                            log.lock()
                                .unwrap()
                                .push(auth.unwrap_or_default().to_string());
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn openai_generator_end_to_end() {
    let (chain, nft, ids) = setup(2).await;
    let png = LocalGenerator::new(Size {
        width: 32,
        height: 32,
    })
    .unwrap()
    .generate_blocking("x")
    .unwrap()
    .bytes;
    let (url, seen) = openai_server(png.to_vec()).await;
    let key = chain.key(PROVIDER);
    let api_key = "sk-test-do-not-print-0123456789";
    let run = provide_once(
        &chain,
        nft,
        "dir:store",
        &[
            "--generator",
            "openai",
            "--generator-url",
            &url,
            "--model",
            "test-model",
            "--size",
            "32x32",
            "--json",
            "-vv",
        ],
        &[("OPENAI_API_KEY", api_key)],
    )
    .await
    .ok();
    run.assert_hides(api_key);
    run.assert_hides(&key);
    assert_eq!(run.json()["delivered"], 2);
    assert_delivered_once(&chain, nft, &ids, &chain.dir().join("store")).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one API call per image");
    assert!(
        seen.iter()
            .all(|h| h.ends_with(&format!("Bearer {api_key}"))),
        "{seen:?}"
    );
    let metadata_cid = cid::raw_cid_from_digest(
        &GenImNFT::new(nft, chain.root())
            .tokenState(ids[0])
            .call()
            .await
            .unwrap()
            .digest
            .0,
    );
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(chain.dir().join("store").join(metadata_cid)).unwrap(),
    )
    .unwrap();
    let model = json["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["trait_type"] == "Model")
        .unwrap();
    assert_eq!(model["value"], "test-model");
}

/// With a real IPFS node (`script/ipfs-node.sh start`, which the test command runs): the
/// provider stores through the Kubo RPC API, and the node's CIDs are the dir store's.
#[tokio::test]
async fn ipfs_store_end_to_end() {
    let Some(api) = crate::stores::ipfs_api() else {
        return;
    };
    let (chain, nft, ids) = setup(2).await;
    let store = format!("ipfs:{}", api.as_str().trim_end_matches('/'));
    provide_once(&chain, nft, &store, &[], &[]).await.ok();
    let ipfs = StoreSpec::Ipfs(api.clone()).open().unwrap();
    let contract = GenImNFT::new(nft, chain.root());
    for id in &ids {
        let digest = contract.tokenState(*id).call().await.unwrap().digest;
        let metadata_cid = cid::raw_cid_from_digest(&digest.0);
        let metadata = ipfs
            .get(&metadata_cid)
            .await
            .expect("metadata is on the IPFS node");
        assert_eq!(cid::cid_v1(&metadata), metadata_cid);
        let json: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
        let image_cid = json["image"]
            .as_str()
            .unwrap()
            .strip_prefix("ipfs://")
            .unwrap()
            .to_string();
        let image = ipfs
            .get(&image_cid)
            .await
            .expect("image is on the IPFS node");
        assert_eq!(
            cid::cid_v1(&image),
            image_cid,
            "the node's CID is the dir store's"
        );
    }
}

/// alloy's cached nonce filler takes a nonce while the gas is estimated; a send that reverts
/// at estimation must not leave a gap that stalls the provider's next delivery.
#[tokio::test]
async fn a_send_reverted_at_estimation_does_not_stall_the_next_one() {
    let (chain, nft, ids) = setup(1).await;
    let conn = Connection::open(
        chain.rpc_url().parse().unwrap(),
        Some(chain.signer(PROVIDER)),
        ConnectOptions {
            tx_timeout: Some(Duration::from_secs(5)),
        },
    )
    .await
    .unwrap();
    let contract = GenImNFT::new(nft, conn.provider.clone());
    let unminted = contract
        .deliver(U256::from(99), B256::repeat_byte(1))
        .into_transaction_request();
    let err = conn.send(unminted).await.unwrap_err().to_string();
    assert!(err.contains("not pending"), "{err}");
    let deliver = contract
        .deliver(ids[0], B256::repeat_byte(2))
        .into_transaction_request();
    let receipt = conn
        .send(deliver)
        .await
        .expect("the next send is mined, not stuck on a nonce gap");
    assert!(receipt.status());
}
