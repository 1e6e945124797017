//! `genim serve` as operators run it and clients pay it: the binary on anvil with Circle's real
//! USDC, paid by `genim pay`, by the reference clients and by hand-made payments; the
//! guarantees of issue 9, each a test that fails without them.

use crate::{
    mock::{Fault, MockServer, Route},
    x402_harness::{self, NodeProcess, X402Chain, node_run},
};
use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use genim::{
    eip3009::{IEIP3009, Kind},
    nft::deployment::SplitShare,
    split,
    x402::{client, wire::encode_base64_json},
};
use std::{
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, BufReader},
    process::{Child, Command},
};

/// Dev accounts by role.
const RELAYER: usize = 1;
const PAYER: usize = 2;
const THIRD_PARTY: usize = 4;
/// 0.05 USDC: the default price.
const PRICE: u64 = 50_000;

/// A running `genim serve`, stopped on drop.
pub struct ServeProcess {
    child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Starts `genim serve ARGS` against `chain` as the relayer, in `dir`, and waits for the
    /// URL it prints.
    pub async fn start(chain: &X402Chain, dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_genim"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--rpc-url", &chain.url()])
            .args(args);
        Self::spawn(command, dir, &[("GENIM_PRIVATE_KEY", chain.key(RELAYER))]).await
    }

    /// Starts `genim serve ARGS` on its local defaults (its own anvil, USDC, GenImTokenNFT and
    /// sample images), in `dir`.
    pub async fn start_local(dir: &Path, args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_genim"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--anvil"])
            .arg(crate::common::anvil_path())
            .args(args);
        Self::spawn(command, dir, &[]).await
    }

    async fn spawn(mut command: Command, dir: &Path, envs: &[(&str, String)]) -> Self {
        command
            .current_dir(dir)
            .env_clear()
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // The mock generator ignores it; genim needs one for an OpenAI-compatible API.
            .env("OPENAI_API_KEY", "sk-test-not-a-real-key")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("genim serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("no URL within 60 s: {}", stderr.lock().unwrap()))
            .unwrap()
            .unwrap_or_else(|| panic!("genim serve exited: {}", stderr.lock().unwrap()));
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url, stderr }
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGKILL, as a crash would.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    pub fn images(&self) -> String {
        format!("{}/v1/images/generations", self.url)
    }
}

impl Drop for ServeProcess {
    /// SIGTERM first, as an operator stops it: on its local defaults it then stops its own
    /// anvil, which a SIGKILL (`kill_on_drop`, the fallback after 10 s) would leave running.
    fn drop(&mut self) {
        let Some(pid) = self.child.id() else {
            return;
        };
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        for _ in 0..500 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A chain with USDC for the payers and a 5/10/85 Splitter to be paid.
struct Market {
    chain: X402Chain,
    usdc: Address,
    splitter: Address,
}

impl Market {
    async fn start() -> Self {
        let chain = X402Chain::start(31337).await;
        let payers: Vec<Address> = (2..6).map(|i| chain.address(i)).collect();
        let usdc = chain.usdc(&payers).await;
        let owner = chain.connect(0).await;
        let (factory, _) = split::ensure_factory(&owner, None).await.unwrap();
        let shares = [(7, 5), (8, 10), (9, 85)].map(|(i, share)| SplitShare {
            account: chain.address(i),
            share,
        });
        let splitter = split::create(&owner, factory, &shares, Default::default())
            .await
            .unwrap()
            .splitter;
        Self {
            chain,
            usdc,
            splitter,
        }
    }

    async fn balance(&self, of: Address) -> U256 {
        self.chain.balance(self.usdc, of).await
    }

    /// `genim serve` in direct mode, generating with `generator_args`.
    async fn serve(&self, extra: &[&str]) -> ServeProcess {
        let (pay_to, token) = (self.splitter.to_string(), self.usdc.to_string());
        let store = self.chain.dir.path().join("store");
        let state = self.chain.dir.path().join("state");
        let mut args = vec![
            "--pay-to", &pay_to, "--token", &token, "--price", "0.05", "--store",
        ];
        let store = format!("dir:{}", store.display());
        let state = state.display().to_string();
        args.extend([store.as_str(), "--state-dir", state.as_str()]);
        args.extend_from_slice(extra);
        ServeProcess::start(&self.chain, self.chain.dir.path(), &args).await
    }

    /// A payment for one 256x256 image signed by `payer`, as an x402 client makes it from
    /// the server's 402.
    async fn sign(&self, server: &ServeProcess, body: &str, payer: usize) -> (String, String) {
        let http = reqwest::Client::new();
        let first = http
            .post(server.images())
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 402);
        let headers = first.headers().clone();
        let challenge = client::read_402(&headers, &first.bytes().await.unwrap());
        let offer = challenge
            .offers
            .iter()
            .find(|offer| offer.version == genim::x402::Version::V2)
            .expect("a v2 offer")
            .clone();
        let domain = offer.requirement.eip712_domain().unwrap();
        let now = self.chain.now().await;
        let signed = client::sign_payment(&offer, &domain, &self.chain.signer(payer), now)
            .await
            .unwrap();
        (signed.header_name.to_owned(), signed.header_value)
    }
}

async fn post(
    url: &str,
    body: &str,
    header: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

fn settlement_tx(headers: &reqwest::header::HeaderMap) -> String {
    let value = headers
        .get("payment-response")
        .or_else(|| headers.get("x-payment-response"))
        .expect("a settlement header")
        .to_str()
        .unwrap();
    x402_harness::decode_header(value)["transaction"]
        .as_str()
        .unwrap()
        .to_owned()
}

const BODY: &str = r#"{"prompt":"a red fox in fresh snow","size":"256x256"}"#;

/// Direct mode: paid once, replayed for free, one inference for concurrent copies of one
/// payment, the Splitter credited exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn one_payment_one_inference_one_charge_and_replays() {
    let market = Market::start().await;
    let png = crate::stores::generators::test_png("fox");
    let generator = MockServer::openai(png).await;
    let generator_url = generator.base().to_owned();
    let server = market
        .serve(&[
            "--generator",
            "openai",
            "--generator-url",
            &generator_url,
            "--model",
            "gpt-image-1",
        ])
        .await;
    let body = r#"{"prompt":"a red fox in fresh snow","size":"1024x1024"}"#;
    let (name, value) = market.sign(&server, body, PAYER).await;
    let payer = market.chain.address(PAYER);
    let before = market.balance(payer).await;

    // Five copies of one payment at once: one inference, one charge, one answer.
    let url = server.images();
    let copies = (0..5).map(|_| post(&url, body, Some((&name, &value))));
    let answers = futures::future::join_all(copies).await;
    let first = &answers[0];
    for (status, headers, json) in &answers {
        assert_eq!(*status, 200, "{json} {}", server.logs());
        assert_eq!(json["data"], first.2["data"]);
        assert_eq!(settlement_tx(headers), settlement_tx(&first.1));
    }
    assert_eq!(
        generator.requests_to(Route::Generate).len(),
        1,
        "one inference"
    );
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));
    assert_eq!(market.balance(market.splitter).await, U256::from(PRICE));

    // The client lost the answer: the same payment again gets it, for free.
    let (status, headers, json) = post(&server.images(), body, Some((&name, &value))).await;
    assert_eq!(status, 200);
    assert_eq!(json["data"], first.2["data"]);
    assert_eq!(settlement_tx(&headers), settlement_tx(&first.1));
    assert_eq!(generator.requests_to(Route::Generate).len(), 1);
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));

    // The same payment for another request is refused, charging nothing.
    let other = r#"{"prompt":"another prompt","size":"1024x1024"}"#;
    let (status, headers, _) = post(&server.images(), other, Some((&name, &value))).await;
    assert_eq!(status, 402);
    let required = x402_harness::decode_header(headers["payment-required"].to_str().unwrap());
    assert_eq!(required["error"], "invalid_exact_evm_nonce_already_used");
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));
}

/// A failed inference is never charged; the same payment works once the generator is back.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_inference_costs_nothing_and_the_payment_stays_usable() {
    let market = Market::start().await;
    let generator = MockServer::openai(crate::stores::generators::test_png("fox")).await;
    let generator_url = generator.base().to_owned();
    let server = market
        .serve(&[
            "--generator",
            "openai",
            "--generator-url",
            &generator_url,
            "--model",
            "gpt-image-1",
        ])
        .await;
    let body = r#"{"prompt":"a red fox in fresh snow","size":"1024x1024"}"#;
    let (name, value) = market.sign(&server, body, PAYER).await;
    let payer = market.chain.address(PAYER);
    let before = market.balance(payer).await;
    generator.fail_next(
        Route::Generate,
        [
            Fault::ServerError(500),
            Fault::ServerError(500),
            Fault::ServerError(500),
        ],
    );
    let (status, _, json) = post(&server.images(), body, Some((&name, &value))).await;
    assert_eq!(status, 503, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was charged"),
        "{json}"
    );
    assert_eq!(market.balance(payer).await, before);
    let (status, _, _) = post(&server.images(), body, Some((&name, &value))).await;
    assert_eq!(status, 200);
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));
}

/// Someone executes the client's authorization on the token before the server settles: the
/// payee was paid, so the client gets its images.
#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_executed_by_someone_else_counts_as_paid() {
    let market = Market::start().await;
    let server = market.serve(&[]).await;
    let (name, value) = market.sign(&server, BODY, PAYER).await;
    let payment = genim::x402::wire::decode_payment_header(&value).unwrap();
    let auth = &payment.authorization;
    let front_runner = market.chain.connect(THIRD_PARTY).await;
    let token = IEIP3009::new(market.usdc, front_runner.provider.clone());
    let tx = token
        .transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.valid_after,
            auth.valid_before,
            auth.nonce,
            payment.signature.clone(),
        )
        .into_transaction_request();
    let receipt = front_runner.send(tx).await.unwrap();
    let (status, headers, json) = post(&server.images(), BODY, Some((&name, &value))).await;
    assert_eq!(status, 200, "{json} {}", server.logs());
    assert_eq!(
        settlement_tx(&headers),
        receipt.transaction_hash.to_string()
    );
    assert_eq!(market.balance(market.splitter).await, U256::from(PRICE));
}

/// A settlement mined late is followed to its receipt, never answered with a second charge.
#[tokio::test(flavor = "multi_thread")]
async fn a_late_settlement_is_followed_not_charged_again() {
    let market = Market::start().await;
    let server = market.serve(&[]).await;
    let (name, value) = market.sign(&server, BODY, PAYER).await;
    let payer = market.chain.address(PAYER);
    let before = market.balance(payer).await;
    let rpc = market.chain.connect(0).await;
    let _: serde_json::Value = rpc
        .provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let url = server.images();
    let request = tokio::spawn(async move { post(&url, BODY, Some((&name, &value))).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !request.is_finished(),
        "answered before the settlement was mined"
    );
    let _: serde_json::Value = rpc
        .provider
        .raw_request("evm_setAutomine".into(), (true,))
        .await
        .unwrap();
    let _: serde_json::Value = rpc
        .provider
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();
    let (status, _, json) = request.await.unwrap();
    assert_eq!(status, 200, "{json}");
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));
}

/// Killed in the middle of a paid request, restarted on the same ledger: the retry gets its
/// images and the payer is charged once.
#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loses_no_paid_request() {
    let market = Market::start().await;
    let generator = MockServer::openai(crate::stores::generators::test_png("fox")).await;
    let generator_url = generator.base().to_owned();
    let args = [
        "--generator",
        "openai",
        "--generator-url",
        generator_url.as_str(),
        "--model",
        "gpt-image-1",
    ];
    let server = market.serve(&args).await;
    let body = r#"{"prompt":"a red fox in fresh snow","size":"1024x1024"}"#;
    let (name, value) = market.sign(&server, body, PAYER).await;
    let payer = market.chain.address(PAYER);
    let before = market.balance(payer).await;
    generator.fail_next(Route::Generate, [Fault::Slow(Duration::from_secs(3))]);
    let url = server.images();
    let (n, v) = (name.clone(), value.clone());
    let lost = tokio::spawn(async move { post(&url, body, Some((&n, &v))).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.kill().await;
    let _ = lost.await;
    let server = market.serve(&args).await;
    let (status, _, json) = post(&server.images(), body, Some((&name, &value))).await;
    assert_eq!(status, 200, "{json} {}", server.logs());
    assert_eq!(market.balance(payer).await, before - U256::from(PRICE));
}

/// Bad payments and bad requests: the right status and reason, never a 500, never a charge,
/// and the server keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn bad_payments_get_a_reason_and_cost_nothing() {
    let market = Market::start().await;
    let server = market.serve(&[]).await;
    let payer = market.chain.address(PAYER);
    let before = market.balance(payer).await;
    let url = server.images();
    let reason = |headers: &reqwest::header::HeaderMap| {
        headers
            .get("payment-required")
            .map(|value| x402_harness::decode_header(value.to_str().unwrap())["error"].clone())
            .unwrap_or_default()
    };
    let header = "PAYMENT-SIGNATURE";
    for (value, expected) in [
        ("%%%not base64%%%".to_owned(), "invalid_payload"),
        (encode_base64_json(&"a string"), "invalid_payload"),
        (
            encode_base64_json(&serde_json::json!({"x402Version": 7})),
            "invalid_x402_version",
        ),
    ] {
        let (status, headers, _) = post(&url, BODY, Some((header, &value))).await;
        assert_eq!(status, 402);
        assert_eq!(reason(&headers), expected, "{value}");
    }
    // A real signature with one field changed, each in turn.
    let (_, good) = market.sign(&server, BODY, PAYER).await;
    let tamper = |path: &str, new: serde_json::Value| {
        let mut json = x402_harness::decode_header(&good);
        let pointer = json.pointer_mut(path).unwrap();
        *pointer = new;
        encode_base64_json(&json)
    };
    for (value, expected) in [
        (tamper("/accepted/scheme", "upto".into()), "invalid_scheme"),
        (
            tamper("/accepted/network", "eip155:1".into()),
            "invalid_exact_evm_network_mismatch",
        ),
        (
            tamper("/payload/authorization/value", "1".into()),
            "invalid_exact_evm_payload_authorization_value_mismatch",
        ),
        (
            tamper(
                "/payload/authorization/to",
                Address::repeat_byte(9).to_string().into(),
            ),
            "invalid_exact_evm_recipient_mismatch",
        ),
        (
            tamper("/payload/authorization/validBefore", "1".into()),
            "invalid_exact_evm_payload_authorization_valid_before",
        ),
        (
            tamper("/payload/authorization/validAfter", "99999999999".into()),
            "invalid_exact_evm_payload_authorization_valid_after",
        ),
        (
            tamper(
                "/payload/authorization/nonce",
                format!("0x{}", "11".repeat(32)).into(),
            ),
            "invalid_exact_evm_signature",
        ),
    ] {
        let (status, headers, json) = post(&url, BODY, Some((header, &value))).await;
        assert_eq!(status, 402, "{json}");
        assert_eq!(reason(&headers), expected, "{json}");
    }
    // Someone without money.
    let (_, poor) = market.sign(&server, BODY, 6).await;
    let (status, headers, _) = post(&url, BODY, Some((header, &poor))).await;
    assert_eq!(status, 402);
    assert_eq!(reason(&headers), "invalid_exact_evm_insufficient_balance");
    // Oversized header and body, empty and over-long prompts.
    let huge = "A".repeat(20_000);
    let (status, _, _) = post(&url, BODY, Some((header, &huge))).await;
    assert!(matches!(status, 400 | 402 | 431), "{status}");
    let (status, _, _) = post(
        &url,
        &format!(r#"{{"prompt":"{}"}}"#, "x".repeat(70_000)),
        None,
    )
    .await;
    assert_eq!(status, 413);
    let (status, _, json) = post(&url, r#"{"prompt":"   "}"#, None).await;
    assert_eq!(
        (status, json["error"]["param"].as_str()),
        (400, Some("prompt"))
    );
    let (status, _, _) = post(
        &url,
        &format!(r#"{{"prompt":"{}"}}"#, "x".repeat(1001)),
        None,
    )
    .await;
    assert_eq!(status, 400);
    // Nothing charged; the server still serves a good payment.
    assert_eq!(market.balance(payer).await, before);
    let (status, _, _) = post(&url, BODY, Some((header, &good))).await;
    assert_eq!(status, 200);
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// `genim pay`, the reference v2 client (`@x402/fetch`) pay genim serve in direct mode.
#[tokio::test(flavor = "multi_thread")]
async fn genim_pay_and_the_reference_client_pay_genim_serve() {
    x402_harness::require_node();
    let market = Market::start().await;
    let server = market.serve(&[]).await;
    let run = crate::common::genim_in(
        market.chain.dir.path(),
        &[
            "pay",
            &server.images(),
            "--json",
            BODY,
            "--max",
            "0.05",
            "--rpc-url",
            &market.chain.url(),
        ],
        &[("GENIM_PRIVATE_KEY", market.chain.key(PAYER))],
    )
    .await
    .ok();
    assert!(run.stdout.contains("\"b64_json\""), "{}", run.stdout);
    assert!(run.stderr.contains("paid 0.05 USDC"), "{}", run.stderr);
    let v2 = node_run(
        "client-v2",
        &[
            &server.images(),
            "--body",
            BODY,
            "--asset",
            &market.usdc.to_string(),
        ],
        &[("PAYER_PRIVATE_KEY", &market.chain.key(3))],
    )
    .await;
    assert_eq!(v2["status"], 200, "{v2}");
    assert!(v2["paymentResponse"]["success"].as_bool().unwrap());
    assert_eq!(market.balance(market.splitter).await, U256::from(2 * PRICE));
}

/// Escrow mode through the reference client: the payer owns a delivered NFT of the image.
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_client_buys_an_escrow_image() {
    x402_harness::require_node();
    let chain = X402Chain::start(31337).await;
    let usdc = chain.usdc(&[chain.address(2), chain.address(3)]).await;
    let owner = chain.connect(0).await;
    let deployment = genim::nft::deploy::deploy(
        &owner,
        &genim::nft::deploy::DeployParams {
            token: Some(usdc),
            price: U256::from(PRICE),
            fee_bps: 500,
            delivery_window: 86_400,
            providers: vec![chain.address(RELAYER)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let nft = deployment.nft.to_string();
    let store = format!("dir:{}", chain.dir.path().join("store").display());
    let state = chain.dir.path().join("state").display().to_string();
    let server = ServeProcess::start(
        &chain,
        chain.dir.path(),
        &["--nft", &nft, "--store", &store, "--state-dir", &state],
    )
    .await;
    let v2 = node_run(
        "client-v2",
        &[
            &server.images(),
            "--body",
            BODY,
            "--asset",
            &usdc.to_string(),
        ],
        &[("PAYER_PRIVATE_KEY", &chain.key(3))],
    )
    .await;
    assert_eq!(v2["status"], 200, "{v2} {}", server.logs());
    let token = &v2["body"]["token"];
    assert_eq!(token["state"], "delivered", "{v2}");
    let id: U256 = token["id"].as_str().unwrap().parse().unwrap();
    let contract = genim::bindings::gen_im_nft::GenImNFT::new(
        deployment.nft,
        chain.connect(0).await.provider.clone(),
    );
    assert_eq!(contract.ownerOf(id).call().await.unwrap(), chain.address(3));
    assert_eq!(
        contract.tokenURI(id).call().await.unwrap(),
        token["uri"].as_str().unwrap()
    );
    let _ = Kind::Transfer;
}

/// Two instances on one PostgreSQL ledger: one payment sent to both runs one inference.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_ledger() {
    let Ok(postgres) = std::env::var("GENIM_TEST_POSTGRES_URL") else {
        panic!("GENIM_TEST_POSTGRES_URL is not set: start one with `script/postgres.sh start`");
    };
    let market = Market::start().await;
    let generator = MockServer::openai(crate::stores::generators::test_png("fox")).await;
    let generator_url = generator.base().to_owned();
    let args = [
        "--generator",
        "openai",
        "--generator-url",
        generator_url.as_str(),
        "--model",
        "gpt-image-1",
        "--ledger",
        postgres.as_str(),
    ];
    let one = market.serve(&args).await;
    let two = market.serve(&args).await;
    let body = r#"{"prompt":"shared by two servers","size":"1024x1024"}"#;
    let (name, value) = market.sign(&one, body, PAYER).await;
    let (url_one, url_two) = (one.images(), two.images());
    let (a, b) = tokio::join!(
        post(&url_one, body, Some((&name, &value))),
        post(&url_two, body, Some((&name, &value)))
    );
    assert_eq!((a.0, b.0), (200, 200), "{} {}", one.logs(), two.logs());
    assert_eq!(a.2["data"], b.2["data"]);
    assert_eq!(generator.requests_to(Route::Generate).len(), 1);
    assert_eq!(market.balance(market.splitter).await, U256::from(PRICE));
    let _ = x402_harness::IMAGE_RESPONSE;
    let _: Option<NodeProcess> = None;
}

/// The reference v1 client (`x402-fetch` 1.2.0, `X-PAYMENT`) pays genim serve in both modes, on
/// Base Sepolia's chain id with USDC where v1's `base-sepolia` expects it.
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_v1_client_pays_genim_serve_in_both_modes() {
    x402_harness::require_node();
    let chain = X402Chain::start(84532).await;
    let payer = chain.address(3);
    let usdc = chain.base_sepolia_usdc(&[payer]).await;
    let owner = chain.connect(0).await;
    let deployment = genim::nft::deploy::deploy(
        &owner,
        &genim::nft::deploy::DeployParams {
            token: Some(usdc),
            price: U256::from(PRICE),
            fee_bps: 500,
            delivery_window: 86_400,
            providers: vec![chain.address(RELAYER)],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = chain.dir.path();
    let pay_to = chain.address(9);
    let (nft, token) = (deployment.nft.to_string(), usdc.to_string());
    let (pay_to_text, store) = (
        pay_to.to_string(),
        format!("dir:{}", dir.join("store").display()),
    );
    let modes: [(&str, Vec<&str>); 2] = [
        (
            "direct",
            vec![
                "--pay-to",
                &pay_to_text,
                "--token",
                &token,
                "--price",
                "0.05",
            ],
        ),
        ("escrow", vec!["--nft", &nft]),
    ];
    for (i, (mode, args)) in modes.into_iter().enumerate() {
        let state = dir.join(format!("state-{mode}")).display().to_string();
        let mut args = args;
        args.extend(["--store", &store, "--state-dir", &state]);
        let server = ServeProcess::start(&chain, dir, &args).await;
        let paid = node_run(
            "client-v1",
            &[&server.images(), "--body", BODY, "--rpc", &chain.url()],
            &[("PAYER_PRIVATE_KEY", &chain.key(3))],
        )
        .await;
        assert_eq!(paid["status"], 200, "{mode}: {paid}\n{}", server.logs());
        let settlement = &paid["paymentResponse"];
        assert_eq!(settlement["success"], true, "{mode}: {paid}");
        assert_eq!(settlement["network"], "base-sepolia", "{mode}: {paid}");
        assert_eq!(
            chain.balance(usdc, payer).await,
            U256::from(1_000_000_000u64 - (i as u64 + 1) * PRICE),
            "{mode}: charged once"
        );
        if mode == "escrow" {
            assert_eq!(paid["body"]["token"]["state"], "delivered", "{paid}");
        } else {
            assert_eq!(chain.balance(usdc, pay_to).await, U256::from(PRICE));
        }
    }
}
