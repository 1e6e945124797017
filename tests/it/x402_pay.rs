//! `genim pay` (the binary) against the reference server backed by the reference facilitator,
//! on anvil with real USDC: v2 on 31337, v1 on 84532 (Base Sepolia's USDC address), and a
//! refusal within `--max` that pays nothing.

use crate::{
    common::genim_in,
    x402_harness::{IMAGE_RESPONSE, NodeProcess, PAYEE, PAYER, RELAYER, X402Chain},
};
use alloy::primitives::{Address, U256};
use serde_json::{Value, json};

/// The reference stack: facilitator-v2.mjs relaying from RELAYER, server-v2.mjs selling 0.01
/// USDC to PAYEE (`extra` as given: `v1` adds `--v1`).
async fn reference_stack(
    chain: &X402Chain,
    usdc: Address,
    name: &str,
    v1: bool,
) -> (NodeProcess, NodeProcess) {
    let facilitator = NodeProcess::start(
        "facilitator-v2",
        &["--port", "0", "--rpc", &chain.url(), "--quiet"],
        &[("FACILITATOR_PRIVATE_KEY", &chain.key(RELAYER))],
    )
    .await;
    let mut args = vec![
        "--port".to_owned(),
        "0".into(),
        "--facilitator".into(),
        facilitator.url(),
        "--pay-to".into(),
        chain.address(PAYEE).to_string(),
        "--asset".into(),
        usdc.to_string(),
        "--network".into(),
        format!("eip155:{}", chain.chain_id()),
        "--eip712-name".into(),
        name.into(),
    ];
    if v1 {
        args.push("--v1".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = NodeProcess::start("server-v2", &args, &[]).await;
    (facilitator, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn genim_pay_pays_the_reference_server_in_v2() {
    let chain = X402Chain::start(31337).await;
    let usdc = chain.usdc(&[chain.address(PAYER)]).await;
    let (_facilitator, server) = reference_stack(&chain, usdc, "USD Coin", false).await;
    let url = format!("{}/v1/images/generations", server.url());
    let key = chain.key(PAYER);
    // The local USDC is no known USDC: its decimals (for --max) come from the RPC.
    let envs = [
        ("GENIM_PRIVATE_KEY", key.clone()),
        ("ETH_RPC_URL", chain.url()),
    ];
    let run = genim_in(
        chain.dir.path(),
        &[
            "pay",
            &url,
            "--json",
            r#"{"prompt":"a red fox"}"#,
            "--max",
            "0.05",
        ],
        &envs,
    )
    .await
    .ok();
    run.assert_hides(&key);
    assert_eq!(run.stdout, format!("{IMAGE_RESPONSE}\n"));
    let payee = chain.address(PAYEE);
    assert!(
        run.stderr.starts_with(&format!(
            "paid 0.01 USDC to {payee} on eip155:31337: transaction 0x"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("(payer {})", chain.address(PAYER))),
        "{}",
        run.stderr
    );
    assert_eq!(chain.balance(usdc, payee).await, U256::from(10_000));

    // The report for scripts.
    let run = genim_in(
        chain.dir.path(),
        &[
            "pay",
            &url,
            "--json",
            r#"{"prompt":"a red fox"}"#,
            "--asset",
            &usdc.to_string(),
            "--pay-to",
            &payee.to_string(),
            "--json-output",
        ],
        &envs,
    )
    .await
    .ok();
    let report = run.json();
    assert_eq!(report["status"], 200);
    assert_eq!(
        report["body"],
        serde_json::from_str::<Value>(IMAGE_RESPONSE).unwrap()
    );
    assert_eq!(report["settlement"]["success"], true);
    assert_eq!(report["settlement"]["network"], "eip155:31337");
    assert_eq!(report["paid"]["version"], 2);
    assert_eq!(report["paid"]["amount"], "10000");
    assert_eq!(chain.balance(usdc, payee).await, U256::from(20_000));
    assert_eq!(
        chain.balance(usdc, chain.address(PAYER)).await,
        U256::from(1_000_000_000u64 - 20_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn genim_pay_refuses_what_is_above_max_and_pays_nothing() {
    let chain = X402Chain::start(31337).await;
    let usdc = chain.usdc(&[chain.address(PAYER)]).await;
    let (_facilitator, server) = reference_stack(&chain, usdc, "USD Coin", false).await;
    let url = format!("{}/v1/images/generations", server.url());
    let key = chain.key(PAYER);
    let envs = [
        ("GENIM_PRIVATE_KEY", key.clone()),
        ("ETH_RPC_URL", chain.url()),
    ];
    let before = chain.balance(usdc, chain.address(PAYER)).await;
    let run = genim_in(
        chain.dir.path(),
        &[
            "pay",
            &url,
            "--json",
            r#"{"prompt":"a red fox"}"#,
            "--max",
            "0.005",
        ],
        &envs,
    )
    .await;
    run.fails_with(
        "nothing was paid: no payment option fits: 0.01 USDC on eip155:31337 is above --max 0.005 USDC",
    );
    // Nor to another payee or in another token than allowed.
    let run = genim_in(
        chain.dir.path(),
        &[
            "pay",
            &url,
            "--json",
            "{}",
            "--pay-to",
            &Address::repeat_byte(7).to_string(),
        ],
        &envs,
    )
    .await;
    run.fails_with(&format!(
        "nothing was paid: no payment option fits: payee {} is not an allowed payTo",
        chain.address(PAYEE)
    ));
    run.assert_hides(&key);
    assert_eq!(chain.balance(usdc, chain.address(PAYER)).await, before);
    assert_eq!(chain.balance(usdc, chain.address(PAYEE)).await, U256::ZERO);
    assert_eq!(
        chain.nonce(chain.address(RELAYER)).await,
        0,
        "no transaction"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn genim_pay_pays_the_reference_v1_server_on_base_sepolia_without_an_rpc() {
    let chain = X402Chain::start(84532).await;
    let usdc = chain.base_sepolia_usdc(&[chain.address(PAYER)]).await;
    let (_facilitator, server) = reference_stack(&chain, usdc, "USDC", true).await;
    let key = chain.key(PAYER);
    // Nothing listens on port 9: genim pay must not need the RPC (the offer names the token's
    // EIP-712 domain and Base Sepolia's USDC has known decimals).
    let envs = [
        ("GENIM_PRIVATE_KEY", key.clone()),
        ("ETH_RPC_URL", "http://127.0.0.1:9".to_owned()),
    ];
    let run = genim_in(
        chain.dir.path(),
        &[
            "pay",
            &format!("{}/weather", server.url()),
            "--chain",
            "base-sepolia",
            "--max",
            "0.01",
        ],
        &envs,
    )
    .await
    .ok();
    run.assert_hides(&key);
    let body: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        body,
        json!({"report": {"weather": "sunny", "temperature": 70}})
    );
    let payee = chain.address(PAYEE);
    assert!(
        run.stderr.starts_with(&format!(
            "paid 0.01 USDC to {payee} on base-sepolia: transaction 0x"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(chain.balance(usdc, payee).await, U256::from(10_000));
}
