//! genim as a hostile or unlucky user meets it: foreign contracts, closed sockets, secrets in
//! URLs at every verbosity, unwritable records, concurrent mints with one key, blank prompts.
//! Each test failed before its fix (issue 7).

use crate::common::{TestChain, ether, genim_in};
use alloy::primitives::{Address, Bytes, U256, address};
use std::{process::Stdio, time::Duration};

/// 17 bytes of runtime code that answer every call with 1 ETH (as `price()` would) and accept
/// any payment: the contract that drained 1 ETH before genim checked what it pays.
const FOREIGN_CODE: &str = "0x670de0b6b3a764000060005260206000f3";
const FOREIGN: Address = address!("0x00000000000000000000000000000000000f0e16");

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_contract_is_never_paid() {
    let chain = TestChain::start().await;
    chain
        .set_code(FOREIGN, FOREIGN_CODE.parse::<Bytes>().unwrap())
        .await;
    let key = chain.key(2);
    let before = chain.balance(chain.address(2)).await;
    let nonce = chain.nonce(chain.address(2)).await;
    let message = format!(
        "{FOREIGN} on chain 31337 is not a GenImNFT that this genim knows (its 17 bytes of code \
         are neither GenImNFT's nor GenImTokenNFT's (a contract of another genim version, or \
         another contract)); nothing was sent. Check the address (--nft, GENIM_NFT, the `nft` key of genim.toml, or \
         the deployment record)"
    );
    let run = chain
        .genim(
            &["mint", "--nft", &FOREIGN.to_string(), "--prompt", "a fox"],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await;
    run.fails_with(&message);
    // The same address from a genim.toml in the working folder.
    std::fs::write(
        chain.dir().join("genim.toml"),
        format!("nft = \"{FOREIGN}\"\n"),
    )
    .unwrap();
    let run = chain
        .genim(
            &["mint", "--prompt", "a fox"],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await;
    run.fails_with(&message);
    // Reading one is refused the same way, not with an ABI decoding error.
    let run = chain.genim(&["status", "1"], &[]).await;
    run.fails_with(&message);
    assert_eq!(chain.balance(chain.address(2)).await, before);
    assert_eq!(chain.nonce(chain.address(2)).await, nonce);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_price_refuses_a_raised_price_and_blank_prompts_cost_nothing() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let key = chain.key(2);
    let nonce = chain.nonce(chain.address(2)).await;
    let run = chain
        .genim(
            &[
                "mint",
                "--nft",
                &nft,
                "--prompt",
                "a fox",
                "--max-price",
                "0.00002ether",
            ],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await;
    run.fails_with(
        "the price is 0.00003 ETH, above your --max-price of 0.00002 ETH; nothing was paid",
    );
    let run = chain
        .genim(
            &["mint", "--nft", &nft, "--prompt", "   "],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await;
    run.fails_with("empty prompt: describe the image to generate");
    assert_eq!(chain.nonce(chain.address(2)).await, nonce);
    // At the price, the mint goes through and says what it paid.
    let run = chain
        .genim(
            &[
                "mint",
                "--nft",
                &nft,
                "--prompt",
                "a fox",
                "--max-price",
                "0.00003ether",
            ],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await
        .ok();
    assert!(
        run.stdout.starts_with("minted token 1 for 0.00003 ETH"),
        "{}",
        run.stdout
    );
}

/// `--rpc-url https://` against an http-only node used to kill genim by SIGPIPE (exit 141,
/// nothing printed).
#[tokio::test(flavor = "multi_thread")]
async fn tls_to_a_plain_http_node_is_a_sentence_not_a_signal() {
    let chain = TestChain::start().await;
    let https = chain.rpc_url().replace("http://", "https://");
    let run = genim_in(
        chain.dir(),
        &["status", "--nft", &FOREIGN.to_string(), "1"],
        &[("ETH_RPC_URL", https.clone())],
    )
    .await;
    run.fails_with(&format!(
        "cannot reach the RPC at {}: TLS failed (is it an http:// endpoint given as https://?)",
        https.trim_end_matches('/')
    ));
}

/// A closed stdout (`genim ... | head -0`) ends genim quietly, with success.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stdout_ends_genim_quietly() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_genim"))
        .args(["price", "get", "--nft", &nft, "--rpc-url", &chain.rpc_url()])
        .current_dir(chain.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// Nothing is deployed when the record cannot be written afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_checks_the_record_folder_before_sending() {
    let chain = TestChain::start().await;
    let blocker = chain.dir().join("records");
    std::fs::write(&blocker, b"a file where the folder should be").unwrap();
    let nonce = chain.nonce(chain.address(0)).await;
    let run = chain
        .genim(
            &[
                "deploy",
                "--price",
                "0.00003ether",
                "--provider",
                &chain.address(1).to_string(),
                "--deployments",
                blocker.to_str().unwrap(),
            ],
            &[("GENIM_PRIVATE_KEY", &chain.key(0))],
        )
        .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "error: deployment record {}/31337.json: cannot be written:",
            blocker.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        chain.nonce(chain.address(0)).await,
        nonce,
        "nothing was sent"
    );
}

/// Several `genim mint` processes with one key at once: each mints its own token (a nonce
/// conflict is retried with a fresh nonce), none is lost or charged twice.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_mints_with_one_key_all_go_through() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await;
    let nft_text = nft.to_string();
    let key = chain.key(2);
    let runs = (0..6).map(|i| {
        let prompt = format!("fox number {i}");
        let (nft_text, key) = (nft_text.clone(), key.clone());
        let chain = &chain;
        async move {
            chain
                .genim(
                    &["mint", "--nft", &nft_text, "--prompt", &prompt, "--json"],
                    &[("GENIM_PRIVATE_KEY", &key)],
                )
                .await
        }
    });
    let runs = futures::future::join_all(runs).await;
    let mut ids: Vec<u64> = runs
        .iter()
        .map(|run| {
            assert_eq!(run.code, Some(0), "{run:?}");
            run.json()["tokenId"].as_u64().unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    let contract = genim::bindings::gen_im_nft::GenImNFT::new(nft, chain.root());
    assert_eq!(contract.totalMinted().call().await.unwrap(), U256::from(6));
    assert_eq!(chain.balance(nft).await, ether("0.00018"));
}

/// A node without `eth_sendRawTransactionSync` (EIP-7966; most public RPCs): the first send
/// learns it and falls back to a plain send and receipt polling; the next ones ask no more.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_without_sync_sends_gets_plain_sends_and_polls() {
    use crate::proxy::{Fault, FaultProxy};
    use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
    use genim::chain::{ConnectOptions, Connection};
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.rpc_url()).await;
    proxy.set(Fault::UnknownMethod("eth_sendRawTransactionSync"));
    let conn = Connection::open(
        proxy.url().parse().unwrap(),
        Some(chain.signer(2)),
        ConnectOptions::default(),
    )
    .await
    .unwrap();
    let to = chain.address(3);
    let before = chain.balance(to).await;
    for _ in 0..3 {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_value(U256::from(1));
        assert!(conn.send(tx).await.unwrap().status());
    }
    assert_eq!(proxy.unknown(), 1, "asked once, then remembered");
    assert_eq!(chain.balance(to).await, before + U256::from(3));
    assert_eq!(chain.nonce(chain.address(2)).await, 3);
}

/// `split create` reuses genim's SplitterFactory instead of deploying one each time.
#[tokio::test(flavor = "multi_thread")]
async fn split_create_reuses_one_factory() {
    let chain = TestChain::start().await;
    let key = chain.key(0);
    let first = chain
        .genim(
            &[
                "split",
                "create",
                &format!("{}:85,{}:15", chain.address(3), chain.address(4)),
                "--json",
            ],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await
        .ok()
        .json();
    let second = chain
        .genim(
            &[
                "split",
                "create",
                &format!("{}:50,{}:50", chain.address(3), chain.address(4)),
                "--json",
            ],
            &[("GENIM_PRIVATE_KEY", &key)],
        )
        .await
        .ok()
        .json();
    assert_eq!(first["factory"], second["factory"]);
    assert_ne!(first["splitter"], second["splitter"]);
    assert_eq!(
        first["factory"].as_str().unwrap().to_lowercase(),
        genim::split::factory_address().to_string().to_lowercase()
    );
}
