//! genim's facilitator over HTTP, used by the reference x402 servers (`@x402/express` 2.27.0 and
//! `x402-express` 1.2.0) and paid through by the reference clients, end to end on anvil with
//! real USDC; and its answers to requests it cannot take (400 with a reason, never a 500).

use crate::x402_harness::{
    IMAGE_RESPONSE, NodeProcess, PAYEE, PAYER, RELAYER, Served, X402Chain, decode_header, node_run,
};
use alloy::{primitives::TxHash, providers::Provider};
use genim::x402::{Facilitator, router};
use serde_json::{Value, json};
use std::sync::Arc;

/// genim's facilitator for `chain`, relaying from the RELAYER account, mounted as `genim serve`
/// will mount it: under `/facilitator`.
async fn serve_facilitator(chain: &X402Chain) -> Served {
    let facilitator = Facilitator::new(chain.connect(RELAYER).await).unwrap();
    Served::start(axum::Router::new().nest("/facilitator", router(Arc::new(facilitator)))).await
}

/// Checks that `tx` is mined, succeeded and was sent by the relayer.
async fn assert_relayed(chain: &X402Chain, tx: &Value) {
    let tx: TxHash = tx.as_str().expect("a transaction hash").parse().unwrap();
    let conn = chain.connect(RELAYER).await;
    let receipt = conn
        .provider
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("mined");
    assert!(receipt.status());
    assert_eq!(receipt.from, chain.address(RELAYER));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_v2_server_uses_genims_facilitator_and_the_reference_client_pays() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.address(PAYER);
    let payee = chain.address(PAYEE);
    let usdc = chain.usdc(&[payer]).await;
    let facilitator = serve_facilitator(&chain).await;
    // @x402/express reads /supported at start and stops unless the route's kind is listed.
    let server = NodeProcess::start(
        "server-v2",
        &[
            "--port",
            "0",
            "--facilitator",
            &format!("{}/facilitator", facilitator.url),
            "--pay-to",
            &payee.to_string(),
            "--asset",
            &usdc.to_string(),
            "--network",
            "eip155:31337",
            "--eip712-name",
            "USD Coin",
        ],
        &[],
    )
    .await;
    let url = format!("{}/v1/images/generations", server.url());
    let paid = node_run(
        "client-v2",
        &[
            &url,
            "--body",
            r#"{"prompt":"a red fox"}"#,
            "--asset",
            &usdc.to_string(),
            "--show-payment",
        ],
        &[("PAYER_PRIVATE_KEY", &chain.key(PAYER))],
    )
    .await;
    assert_eq!(paid["status"], 200, "{paid}\n{}", server.logs());
    assert_eq!(
        paid["body"],
        serde_json::from_str::<Value>(IMAGE_RESPONSE).unwrap()
    );
    let settlement = &paid["paymentResponse"];
    assert_eq!(settlement["success"], true, "{paid}");
    assert_eq!(settlement["network"], "eip155:31337");
    assert_eq!(settlement["payer"], payer.to_checksum(None));
    assert_relayed(&chain, &settlement["transaction"]).await;
    assert_eq!(
        chain.balance(usdc, payee).await,
        alloy::primitives::U256::from(10_000)
    );

    // The same PAYMENT-SIGNATURE again: refused before the handler, nothing moves.
    let header = genim::x402::wire::encode_base64_json(&paid["sent"]);
    let replay = reqwest::Client::new()
        .post(&url)
        .header("PAYMENT-SIGNATURE", header)
        .json(&json!({"prompt": "a red fox"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 402);
    let required = decode_header(replay.headers()["payment-required"].to_str().unwrap());
    assert_eq!(required["error"], "invalid_exact_evm_nonce_already_used");
    assert_eq!(
        chain.balance(usdc, payee).await,
        alloy::primitives::U256::from(10_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reference_v1_server_uses_genims_facilitator_and_the_reference_v1_client_pays() {
    let chain = X402Chain::start(84532).await;
    let payer = chain.address(PAYER);
    let payee = chain.address(PAYEE);
    let usdc = chain.base_sepolia_usdc(&[payer]).await;
    let facilitator = serve_facilitator(&chain).await;
    let server = NodeProcess::start(
        "server-v2",
        &[
            "--v1",
            "--port",
            "0",
            "--facilitator",
            &format!("{}/facilitator", facilitator.url),
            "--pay-to",
            &payee.to_string(),
            "--asset",
            &usdc.to_string(),
            "--network",
            "eip155:84532",
            "--eip712-name",
            "USDC",
        ],
        &[],
    )
    .await;
    let paid = node_run(
        "client-v1",
        &[&format!("{}/weather", server.url()), "--rpc", &chain.url()],
        &[("PAYER_PRIVATE_KEY", &chain.key(PAYER))],
    )
    .await;
    assert_eq!(paid["status"], 200, "{paid}\n{}", server.logs());
    assert_eq!(
        paid["body"],
        json!({"report": {"weather": "sunny", "temperature": 70}})
    );
    let settlement = &paid["paymentResponse"];
    assert_eq!(settlement["success"], true, "{paid}");
    assert_eq!(settlement["network"], "base-sepolia");
    assert_relayed(&chain, &settlement["transaction"]).await;
    assert_eq!(
        chain.balance(usdc, payee).await,
        alloy::primitives::U256::from(10_000)
    );
    assert_eq!(
        chain.balance(usdc, payer).await,
        alloy::primitives::U256::from(1_000_000_000u64 - 10_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_it_cannot_take_get_a_reason_never_a_500() {
    let chain = X402Chain::start(84532).await;
    let facilitator = serve_facilitator(&chain).await;
    let base = format!("{}/facilitator", facilitator.url);
    let http = reqwest::Client::new();
    let post = |path: &'static str, body: String| {
        let request = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let supported: Value = http
        .get(format!("{base}/supported"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        supported,
        json!({
            "kinds": [
                {"x402Version": 2, "scheme": "exact", "network": "eip155:84532"},
                {"x402Version": 1, "scheme": "exact", "network": "base-sepolia"}
            ],
            "extensions": [],
            "signers": {"eip155:*": [chain.address(RELAYER).to_checksum(None)]}
        })
    );

    let (status, body) = post("/verify", "not json".into()).await;
    assert_eq!(
        (status, &body["isValid"], &body["invalidReason"]),
        (400, &json!(false), &json!("invalid_payload")),
        "{body}"
    );
    let (status, body) = post("/verify", "{}".into()).await;
    assert_eq!(
        (status, &body["invalidReason"]),
        (400, &json!("invalid_payload")),
        "{body}"
    );
    let (status, body) = post(
        "/verify",
        json!({"x402Version": 9, "paymentPayload": {"x402Version": 9}, "paymentRequirements": {}})
            .to_string(),
    )
    .await;
    assert_eq!(
        (status, &body["invalidReason"]),
        (400, &json!("invalid_x402_version")),
        "{body}"
    );

    // A well-formed payment for a chain this facilitator does not serve: 200, refused.
    let authorization = json!({
        "from": chain.address(PAYER), "to": chain.address(PAYEE), "value": "10000",
        "validAfter": "0", "validBefore": "99999999999", "nonce": format!("0x{}", "11".repeat(32)),
    });
    let accepted = json!({
        "scheme": "exact", "network": "eip155:1", "amount": "10000",
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "payTo": chain.address(PAYEE),
        "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}
    });
    let payload = json!({
        "x402Version": 2,
        "payload": {"authorization": authorization, "signature": format!("0x{}1b", "ab".repeat(64))},
        "accepted": accepted,
    });
    let request =
        json!({"x402Version": 2, "paymentPayload": payload, "paymentRequirements": accepted});
    let (status, body) = post("/verify", request.to_string()).await;
    assert_eq!(
        (status, &body["isValid"], &body["invalidReason"]),
        (200, &json!(false), &json!("invalid_network")),
        "{body}"
    );
    assert_eq!(body["payer"], chain.address(PAYER).to_checksum(None));
    let (status, body) = post("/settle", request.to_string()).await;
    assert_eq!(
        (status, &body["success"], &body["errorReason"]),
        (200, &json!(false), &json!("invalid_network")),
        "{body}"
    );
    assert_eq!(body["transaction"], "");

    // Requirements that cannot be read.
    let mut bad = request.clone();
    bad["paymentRequirements"]["amount"] = json!("ten");
    let (status, body) = post("/settle", bad.to_string()).await;
    assert_eq!(
        (status, &body["errorReason"]),
        (400, &json!("invalid_payment_requirements")),
        "{body}"
    );
    let (status, body) = post("/settle", "[]".into()).await;
    assert_eq!(
        (status, &body["success"], &body["errorReason"]),
        (400, &json!(false), &json!("invalid_payload")),
        "{body}"
    );
    assert_eq!(chain.nonce(chain.address(RELAYER)).await, 0);
}
