//! A resource server built only from `genim::x402` (the calls `genim serve` makes: 402, decode,
//! verify before the work, settle after it, settlement header), paid by both reference
//! clients through one 402 that carries both generations.

use crate::x402_harness::{
    IMAGE_RESPONSE, PAYEE, PAYER, RELAYER, Served, X402Chain, node_run, requirement,
};
use alloy::primitives::U256;
use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header::HOST},
    response::{IntoResponse, Response},
    routing::post,
};
use genim::x402::{Facilitator, Mode, Requirement, wire};
use serde_json::{Value, json};
use std::sync::Arc;

struct Shop {
    facilitator: Facilitator,
    price: Requirement,
}

/// One paid route, the way a server uses the library.
async fn generations(State(shop): State<Arc<Shop>>, headers: HeaderMap, uri: Uri) -> Response {
    let mut requirement = shop.price.clone();
    // The resource follows the Host header, as the reference servers do.
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    requirement.resource.url = format!("http://{host}{uri}");
    let offer = std::slice::from_ref(&requirement);
    let payment = match wire::decode_payment(&headers) {
        None => return wire::payment_required(offer, None, None).into_response(),
        Some(Err(err)) => {
            return wire::payment_required(offer, Some(err.reason.as_str()), None).into_response();
        }
        Some(Ok(payment)) => payment,
    };
    if let Err(err) = shop
        .facilitator
        .verify(&requirement, &payment, &Mode::Direct)
        .await
    {
        let reason = err.reason().for_version(payment.version);
        return wire::payment_required(offer, Some(reason), Some(payment.payer())).into_response();
    }
    let answer = IMAGE_RESPONSE; // the paid work
    match shop
        .facilitator
        .settle(&requirement, &payment, &Mode::Direct)
        .await
    {
        Ok(settled) => {
            let (name, value) =
                wire::settlement_header(payment.version, &settled.response(payment.version));
            (
                StatusCode::OK,
                [(name, value)],
                [("content-type", "application/json")],
                answer,
            )
                .into_response()
        }
        Err(err) => {
            let response = err.response(payment.version, requirement.chain_id, payment.payer());
            let (name, value) = wire::settlement_header(payment.version, &response);
            let mut refused = wire::payment_required(offer, response.error_reason.as_deref(), None)
                .into_response();
            refused
                .headers_mut()
                .insert(name, value.parse().expect("base64"));
            refused
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_reference_clients_pay_a_server_built_from_the_library() {
    let chain = X402Chain::start(84532).await;
    let payer = chain.address(PAYER);
    let payee = chain.address(PAYEE);
    let usdc = chain.base_sepolia_usdc(&[payer]).await;
    let shop = Shop {
        facilitator: Facilitator::new(chain.connect(RELAYER).await).unwrap(),
        price: requirement(&chain, usdc, payee, "USDC"),
    };
    let served = Served::start(
        Router::new()
            .route("/v1/images/generations", post(generations))
            .with_state(Arc::new(shop)),
    )
    .await;
    let url = format!("{}/v1/images/generations", served.url);
    let body = r#"{"prompt":"a red fox"}"#;
    let key = chain.key(PAYER);
    let expected: Value = serde_json::from_str(IMAGE_RESPONSE).unwrap();

    // @x402/fetch reads PAYMENT-REQUIRED and pays in v2.
    let v2 = node_run(
        "client-v2",
        &[
            &url,
            "--body",
            body,
            "--asset",
            &usdc.to_string(),
            "--show-payment",
        ],
        &[("PAYER_PRIVATE_KEY", &key)],
    )
    .await;
    assert_eq!(v2["status"], 200, "{v2}");
    assert_eq!(v2["body"], expected);
    assert_eq!(v2["sent"]["x402Version"], 2);
    assert_eq!(v2["paymentResponse"]["success"], true);
    assert_eq!(v2["paymentResponse"]["network"], "eip155:84532");
    assert!(v2["headers"].get("payment-response").is_some(), "{v2}");

    // x402-fetch 1.2.0 reads the same 402's body and pays in v1.
    let v1 = node_run(
        "client-v1",
        &[
            &url,
            "--body",
            body,
            "--rpc",
            &chain.url(),
            "--show-payment",
        ],
        &[("PAYER_PRIVATE_KEY", &key)],
    )
    .await;
    assert_eq!(v1["status"], 200, "{v1}");
    assert_eq!(v1["body"], expected);
    assert_eq!(v1["sent"]["x402Version"], 1);
    assert_eq!(v1["paymentResponse"]["success"], true);
    assert_eq!(v1["paymentResponse"]["network"], "base-sepolia");
    assert!(v1["headers"].get("x-payment-response").is_some(), "{v1}");
    assert_ne!(
        v1["paymentResponse"]["transaction"],
        v2["paymentResponse"]["transaction"]
    );
    assert_eq!(chain.balance(usdc, payee).await, U256::from(20_000));

    // The v1 payment replayed: refused in v1, with its reason and payer, nothing moves.
    let replay = reqwest::Client::new()
        .post(&url)
        .header("X-PAYMENT", wire::encode_base64_json(&v1["sent"]))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 402);
    let refused: Value = replay.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_exact_evm_nonce_already_used");
    assert_eq!(refused["payer"], json!(payer.to_checksum(None)));
    assert_eq!(chain.balance(usdc, payee).await, U256::from(20_000));
}
