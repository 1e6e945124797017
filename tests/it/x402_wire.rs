//! x402 wire formats without a chain: the exact JSON of both generations (as the reference
//! packages write it, key order included), round trips, and the reason each malformed input
//! gets.

use alloy::{
    primitives::{Address, Bytes, U256, address, b256},
    signers::local::PrivateKeySigner,
};
use genim::{
    eip3009::Authorization,
    x402::{
        Reason, Requirement, Resource, TokenDomain, Version,
        client::{self, Offer},
        wire::{self, SettleResponse},
    },
};
use serde_json::json;

const USDC: Address = address!("0x036CbD53842c5426634e7929541eC2318f3dCF7e");
const PAY_TO: Address = address!("0x209693Bc6afc0C5328bA36FaF03C514EF312287C");

fn requirement(chain_id: u64) -> Requirement {
    Requirement {
        chain_id,
        asset: USDC,
        pay_to: PAY_TO,
        amount: U256::from(10_000),
        max_timeout_seconds: 60,
        domain: Some(TokenDomain {
            name: "USDC".into(),
            version: "2".into(),
        }),
        resource: Resource {
            url: "http://127.0.0.1:4021/v1/images/generations?size=256x256".into(),
            description: "genim test image".into(),
            mime_type: "application/json".into(),
        },
    }
}

fn b64(value: &serde_json::Value) -> String {
    wire::encode_base64_json(value)
}

#[test]
fn one_402_carries_both_generations_in_the_reference_shapes() {
    let required = wire::payment_required(&[requirement(84532)], None, None);
    // v2: PAYMENT-REQUIRED, key for key as @x402/core 2.27.0 writes it.
    let header = String::from_utf8(wire::decode_base64(&required.header_value()).unwrap()).unwrap();
    assert_eq!(
        header,
        r#"{"x402Version":2,"error":"Payment required","resource":{"url":"http://127.0.0.1:4021/v1/images/generations?size=256x256","description":"genim test image","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}]}"#
    );
    // v1: the body, as x402-express 1.2.0 writes it (resource without its query).
    assert_eq!(
        required.body(),
        r#"{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","resource":"http://127.0.0.1:4021/v1/images/generations","description":"genim test image","mimeType":"application/json","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}]}"#
    );
    // A chain without a v1 name: v2 only, body {} as @x402/express sends.
    let local = wire::payment_required(&[requirement(31337)], None, None);
    assert_eq!(local.v1, None);
    assert_eq!(local.body(), "{}");
    // A refusal names its reason (and v1 its payer).
    let payer = address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
    let refused = wire::payment_required(
        &[requirement(84532)],
        Some(Reason::NonceAlreadyUsed.as_str()),
        Some(payer),
    );
    assert_eq!(
        refused.v2.error.as_deref(),
        Some("invalid_exact_evm_nonce_already_used")
    );
    let v1 = refused.v1.unwrap();
    assert_eq!(v1.error, "invalid_exact_evm_nonce_already_used");
    assert_eq!(
        v1.payer.as_deref(),
        Some("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
    );
}

#[tokio::test]
async fn the_402_renders_as_an_http_response() {
    use axum::response::IntoResponse;
    let response = wire::payment_required(&[requirement(84532)], None, None).into_response();
    assert_eq!(response.status(), 402);
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["content-type"], "application/json");
    let decoded: serde_json::Value = serde_json::from_slice(
        &wire::decode_base64(headers["payment-required"].to_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(decoded["accepts"][0]["network"], "eip155:84532");
}

#[test]
fn a_client_reads_what_a_server_renders_and_back() {
    let required = wire::payment_required(&[requirement(84532)], None, None);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("payment-required", required.header_value().parse().unwrap());
    let challenge = client::read_402(&headers, required.body().as_bytes());
    let versions: Vec<Version> = challenge.offers.iter().map(|o| o.version).collect();
    assert_eq!(versions, [Version::V2, Version::V1]);
    for offer in &challenge.offers {
        let mut expected = requirement(84532);
        if offer.version == Version::V1 {
            expected.resource.url = "http://127.0.0.1:4021/v1/images/generations".into();
        }
        assert_eq!(offer.requirement, expected, "{}", offer.version);
    }
    assert!(challenge.skipped.is_empty(), "{:?}", challenge.skipped);
}

#[tokio::test]
async fn signed_payments_round_trip_in_both_generations() {
    let signer = PrivateKeySigner::random();
    let required = wire::payment_required(&[requirement(84532)], None, None);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("payment-required", required.header_value().parse().unwrap());
    let challenge = client::read_402(&headers, required.body().as_bytes());
    for offer in &challenge.offers {
        let domain = offer.requirement.eip712_domain().unwrap();
        let signed = client::sign_payment(offer, &domain, &signer, 1_750_000_000)
            .await
            .unwrap();
        assert_eq!(
            signed.header_name,
            match offer.version {
                Version::V1 => "X-PAYMENT",
                Version::V2 => "PAYMENT-SIGNATURE",
            }
        );
        let payment = wire::decode_payment_header(&signed.header_value).unwrap();
        assert_eq!(payment.version, offer.version);
        assert_eq!(payment.chain_id, 84532);
        assert_eq!(payment.authorization, signed.authorization);
        assert_eq!(payment.signature.len(), 65);
        let auth = &payment.authorization;
        assert_eq!(
            (auth.from, auth.to, auth.value),
            (signer.address(), PAY_TO, U256::from(10_000))
        );
        // The windows the reference clients sign: v2 from 0, v1 from ten minutes ago.
        let expected_after = match offer.version {
            Version::V1 => 1_750_000_000 - 600,
            Version::V2 => 0,
        };
        assert_eq!(auth.valid_after, U256::from(expected_after));
        assert_eq!(auth.valid_before, U256::from(1_750_000_060u64));
        assert!(auth.signed_by_from(genim::eip3009::Kind::Transfer, &domain, &payment.signature));
        // Key order of the reference clients.
        let json = String::from_utf8(wire::decode_base64(&signed.header_value).unwrap()).unwrap();
        match offer.version {
            Version::V1 => assert!(
                json.starts_with(r#"{"x402Version":1,"scheme":"exact","network":"base-sepolia","payload":{"signature":"0x"#),
                "{json}"
            ),
            Version::V2 => {
                assert!(json.starts_with(r#"{"x402Version":2,"payload":{"authorization":{"from":"#), "{json}");
                // `accepted` is the 402's entry, echoed.
                assert_eq!(payment.raw["accepted"], offer.accepted);
                assert_eq!(payment.accepted.as_ref().unwrap(), &offer.requirement.to_v2());
            }
        }
        // Re-encoding what was decoded gives the same payment.
        assert_eq!(
            wire::decode_payment_header(&payment.header_value()).unwrap(),
            payment
        );
    }
}

#[test]
fn reads_the_reference_clients_payloads() {
    // As @x402/fetch 2.27.0 and x402-fetch 1.2.0 send them (lowercase addresses are read too).
    let authorization = json!({
        "from": "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
        "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
        "value": "10000",
        "validAfter": "0",
        "validBefore": "1750000300",
        "nonce": "0x9f3a7e5c1d2b4a6f8e0c1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a",
    });
    let signature = format!("0x{}1b", "ab".repeat(64));
    let v2 = json!({
        "x402Version": 2,
        "payload": { "authorization": authorization, "signature": signature },
        "resource": { "url": "http://127.0.0.1:4021/weather", "description": "", "mimeType": "" },
        "accepted": {
            "scheme": "exact", "network": "eip155:31337", "amount": "10000",
            "asset": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "maxTimeoutSeconds": 300,
            "extra": { "name": "USD Coin", "version": "2" }
        }
    });
    let payment = wire::decode_payment_header(&b64(&v2)).unwrap();
    assert_eq!((payment.version, payment.chain_id), (Version::V2, 31337));
    assert_eq!(
        payment.authorization,
        Authorization {
            from: address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            to: PAY_TO,
            value: U256::from(10_000),
            valid_after: U256::ZERO,
            valid_before: U256::from(1_750_000_300u64),
            nonce: b256!("0x9f3a7e5c1d2b4a6f8e0c1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a"),
        }
    );
    assert_eq!(payment.signature, signature.parse::<Bytes>().unwrap());
    let v1 = json!({
        "x402Version": 1, "scheme": "exact", "network": "base-sepolia",
        "payload": { "signature": signature, "authorization": authorization }
    });
    let payment = wire::decode_payment_header(&b64(&v1)).unwrap();
    assert_eq!(
        (payment.version, payment.chain_id, payment.accepted),
        (Version::V1, 84532, None)
    );
    // Either header name, either generation: PAYMENT-SIGNATURE first, then X-PAYMENT.
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-payment", b64(&v1).parse().unwrap());
    assert_eq!(
        wire::decode_payment(&headers).unwrap().unwrap().version,
        Version::V1
    );
    headers.insert("payment-signature", b64(&v2).parse().unwrap());
    assert_eq!(
        wire::decode_payment(&headers).unwrap().unwrap().version,
        Version::V2
    );
    assert!(wire::decode_payment(&axum::http::HeaderMap::new()).is_none());
}

#[test]
fn malformed_payments_get_their_reason() {
    let good_v1 = json!({
        "x402Version": 1, "scheme": "exact", "network": "base-sepolia",
        "payload": {
            "signature": format!("0x{}1b", "ab".repeat(64)),
            "authorization": {
                "from": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
                "to": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
                "value": "10000", "validAfter": "0", "validBefore": "1750000300",
                "nonce": format!("0x{}", "11".repeat(32)),
            }
        }
    });
    assert!(wire::decode_payment_header(&b64(&good_v1)).is_ok());
    let with = |pointer: &str, value: serde_json::Value| {
        let mut copy = good_v1.clone();
        *copy.pointer_mut(pointer).unwrap() = value;
        b64(&copy)
    };
    let cases: Vec<(&str, String, Reason)> = vec![
        (
            "not base64",
            "%%%not base64%%%".into(),
            Reason::InvalidPayload,
        ),
        (
            "base64 of text",
            data_encoding::BASE64.encode(b"hello"),
            Reason::InvalidPayload,
        ),
        ("a JSON array", b64(&json!([1, 2])), Reason::InvalidPayload),
        (
            "no version",
            b64(&json!({"scheme": "exact"})),
            Reason::InvalidX402Version,
        ),
        (
            "version 3",
            with("/x402Version", json!(3)),
            Reason::InvalidX402Version,
        ),
        (
            "version as text",
            with("/x402Version", json!("1")),
            Reason::InvalidX402Version,
        ),
        (
            "scheme upto",
            with("/scheme", json!("upto")),
            Reason::InvalidScheme,
        ),
        (
            "no scheme",
            with("/scheme", json!(null)),
            Reason::InvalidScheme,
        ),
        (
            "network solana",
            with("/network", json!("solana")),
            Reason::InvalidNetwork,
        ),
        (
            "network as CAIP-2 in v1",
            with("/network", json!("eip155:84532")),
            Reason::InvalidNetwork,
        ),
        (
            "no payload",
            with("/payload", json!(null)),
            Reason::InvalidPayload,
        ),
        (
            "short nonce",
            with("/payload/authorization/nonce", json!("0x1234")),
            Reason::InvalidPayload,
        ),
        (
            "negative value",
            with("/payload/authorization/value", json!("-1")),
            Reason::InvalidPayload,
        ),
        (
            "value as number",
            with("/payload/authorization/value", json!(10000)),
            Reason::InvalidPayload,
        ),
        (
            "bad address",
            with("/payload/authorization/to", json!("0x1234")),
            Reason::InvalidPayload,
        ),
        (
            "signature not hex",
            with("/payload/signature", json!("0xzz")),
            Reason::InvalidPayload,
        ),
        (
            "v2 without accepted",
            b64(&json!({"x402Version": 2, "payload": good_v1["payload"]})),
            Reason::InvalidPayload,
        ),
        (
            "v2 network not CAIP-2",
            b64(&json!({"x402Version": 2, "payload": good_v1["payload"],
                "accepted": {"scheme": "exact", "network": "base-sepolia"}})),
            Reason::InvalidNetwork,
        ),
        (
            "v2 scheme",
            b64(&json!({"x402Version": 2, "payload": good_v1["payload"],
                "accepted": {"scheme": "upto", "network": "eip155:1"}})),
            Reason::InvalidScheme,
        ),
    ];
    for (what, header, reason) in cases {
        let err = wire::decode_payment_header(&header).expect_err(what);
        assert_eq!(err.reason, reason, "{what}: {err}");
        assert!(!err.message.is_empty(), "{what}");
    }
    // A header that is not even ASCII.
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "x-payment",
        axum::http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    let err = wire::decode_payment(&headers).unwrap().unwrap_err();
    assert_eq!(err.reason, Reason::InvalidPayload);
}

#[test]
fn settlement_headers_in_the_clients_generation() {
    let response = SettleResponse {
        success: true,
        error_reason: None,
        error_message: None,
        payer: Some("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".into()),
        transaction: format!("0x{}", "ab".repeat(32)),
        network: "eip155:84532".into(),
    };
    let (name, value) = wire::settlement_header(Version::V2, &response);
    assert_eq!(name, "PAYMENT-RESPONSE");
    let text = String::from_utf8(wire::decode_base64(&value).unwrap()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"success":true,"payer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","transaction":"0x{}","network":"eip155:84532"}}"#,
            "ab".repeat(32)
        )
    );
    let v1 = SettleResponse {
        network: "base-sepolia".into(),
        ..response.clone()
    };
    let (name, value) = wire::settlement_header(Version::V1, &v1);
    assert_eq!(name, "X-PAYMENT-RESPONSE");
    let text = String::from_utf8(wire::decode_base64(&value).unwrap()).unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"success":true,"transaction":"0x{}","network":"base-sepolia","payer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"}}"#,
            "ab".repeat(32)
        )
    );
    for (version, response) in [(Version::V2, &response), (Version::V1, &v1)] {
        let (_, value) = wire::settlement_header(version, response);
        assert_eq!(&wire::decode_settlement_header(&value).unwrap(), response);
    }
    assert_eq!(
        wire::decode_settlement_header("bm90IGpzb24=")
            .unwrap_err()
            .reason,
        Reason::InvalidPayload
    );
}

#[test]
fn facilitator_messages_in_the_reference_shapes() {
    let valid = wire::VerifyResponse {
        is_valid: false,
        invalid_reason: Some(Reason::InvalidSignature.as_str().into()),
        invalid_message: Some("why".into()),
        payer: Some("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC".into()),
    };
    assert_eq!(
        serde_json::to_string(&valid).unwrap(),
        r#"{"isValid":false,"invalidReason":"invalid_exact_evm_signature","invalidMessage":"why","payer":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"}"#
    );
    let failed: SettleResponse = serde_json::from_value(json!({
        "success": false, "errorReason": "settlement_pending", "transaction": "0x01", "network": "eip155:1"
    }))
    .unwrap();
    assert_eq!(failed.error_reason.as_deref(), Some("settlement_pending"));
    let request: wire::FacilitatorRequest = serde_json::from_value(json!({
        "x402Version": 2, "paymentPayload": {"x402Version": 2}, "paymentRequirements": {}
    }))
    .unwrap();
    assert_eq!(request.x402_version, Some(json!(2)));
}

#[test]
fn offers_outside_the_limits_are_refused_with_why() {
    let offers: Vec<Offer> = [84532u64, 31337]
        .iter()
        .map(|&chain_id| Offer {
            version: Version::V2,
            requirement: requirement(chain_id),
            accepted: json!({}),
            resource: None,
        })
        .collect();
    let policy = client::Policy {
        chains: vec![31337],
        ..Default::default()
    };
    let chosen = client::choose(&offers, &policy, |_| Ok(None)).unwrap();
    assert_eq!(chosen.requirement.chain_id, 31337);
    let err = client::choose(&offers, &policy, |_| Ok(Some(U256::from(9_999))))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "nothing was paid: no payment option fits: eip155:84532 is not an allowed chain; 10000 of \
         0x036CbD53842c5426634e7929541eC2318f3dCF7e on eip155:31337 is above the maximum of 9999"
    );
    let policy = client::Policy {
        pay_to: vec![Address::ZERO],
        assets: vec![Address::ZERO],
        ..Default::default()
    };
    let err = client::choose(&offers, &policy, |_| Ok(None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not an allowed asset"), "{err}");
}

#[test]
fn decoding_never_panics_on_garbage() {
    // A small deterministic generator: garbage, base64 of garbage, and mutations of a valid
    // header's JSON, all of which must end in a reason.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = serde_json::to_string(&json!({
        "x402Version": 2,
        "payload": {"authorization": {"from": format!("0x{}", "11".repeat(20)), "to": format!("0x{}", "22".repeat(20)),
            "value": "1", "validAfter": "0", "validBefore": "2", "nonce": format!("0x{}", "33".repeat(32))},
            "signature": "0x00"},
        "accepted": {"scheme": "exact", "network": "eip155:1", "amount": "1",
            "asset": format!("0x{}", "44".repeat(20)), "payTo": format!("0x{}", "22".repeat(20)),
            "maxTimeoutSeconds": 1}
    }))
    .unwrap()
    .into_bytes();
    assert!(wire::decode_payment_header(&data_encoding::BASE64.encode(&valid)).is_ok());
    for round in 0..3_000 {
        let bytes: Vec<u8> = match round % 3 {
            0 => (0..next() % 200).map(|_| next() as u8).collect(),
            1 => data_encoding::BASE64
                .encode(&(0..next() % 200).map(|_| next() as u8).collect::<Vec<_>>())
                .into_bytes(),
            _ => {
                let mut mutated = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % mutated.len();
                    let palette = b" {}[]\":,0x9aZ-";
                    mutated[at] = palette[(next() as usize) % palette.len()];
                }
                data_encoding::BASE64.encode(&mutated).into_bytes()
            }
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Err(err) = wire::decode_payment_header(&text) {
            assert!(!err.message.is_empty());
        }
    }
}
