//! The web page of `genim serve` over HTTP (the browser tests in tests/browser drive it in
//! Chromium): the binary on its local defaults, its gallery, token pages, JSON API, security
//! headers, the gasless mint relay, and prompts escaped in the HTML.

use crate::serve::ServeProcess;
use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use genim::eip3009::{self, Authorization, Kind};
use serde_json::{Value, json};
use std::time::Duration;

/// anvil's dev account 5 (holds 1000 USDC on the local defaults).
const PAYER_KEY: &str = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";

async fn local_serve() -> (ServeProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServeProcess::start_local(dir.path(), &[]).await;
    // The 3 sample mints are delivered by the embedded provider loop.
    let started = std::time::Instant::now();
    loop {
        let page = get_json(&format!("{}/api/tokens", server.url)).await.1;
        let tokens = page["tokens"].as_array().cloned().unwrap_or_default();
        if tokens.len() == 3 && tokens.iter().all(|t| t["state"] == "delivered") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "samples not delivered: {page}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (server, dir)
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, _, body) = get(url).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn gallery_token_page_and_api_of_the_local_defaults() {
    let (server, _dir) = local_serve().await;
    let (status, headers, html) = get(&server.url).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-security-policy"].to_str().unwrap(),
        genim::serve::web::CSP
    );
    assert!(genim::serve::web::CSP.starts_with("default-src 'self'; script-src 'self';"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(html.matches(r#"data-testid="gallery-item""#).count(), 3);
    // Newest first, lazy images from the store, no inline script or style.
    let robot = html.find("a tiny robot watering a bonsai tree").unwrap();
    let lighthouse = html.find("a lighthouse on a cliff at dawn").unwrap();
    assert!(robot < lighthouse);
    assert_eq!(html.matches(r#"loading="lazy""#).count(), 3);
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    for tag in ["prompt", "connect", "generate", "error"] {
        assert!(html.contains(&format!(r#"data-testid="{tag}""#)), "{tag}");
    }
    // The images are the stored bytes.
    let src = html.split(r#"<img src="/images/"#).nth(1).unwrap();
    let cid = &src[..src.find('"').unwrap()];
    let image = reqwest::get(format!("{}/images/{cid}", server.url))
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    let bytes = image.bytes().await.unwrap();
    assert_eq!(genim::cid::cid_v1(&bytes), cid);

    let (status, _, token) = get(&format!("{}/token/2", server.url)).await;
    assert_eq!(status, 200);
    assert!(
        token.contains(r#"data-testid="token-state">delivered<"#),
        "{token}"
    );
    assert!(token.contains(r#"data-testid="token-image""#));
    assert!(token.contains("a red fox sleeping in fresh snow"));
    assert!(token.contains("local-v1"));

    let (status, config) = get_json(&format!("{}/api/config", server.url)).await;
    assert_eq!(status, 200);
    assert_eq!(config["chainId"], 31337);
    assert_eq!(config["kind"], "token");
    assert_eq!(config["price"], "50000");
    assert_eq!(config["priceText"], "0.05 USDC");
    assert_eq!(config["tokenName"], "USD Coin");
    assert_eq!(config["relays"], true);
    assert!(config["rpcUrl"].as_str().unwrap().starts_with("http://"));

    let (status, token) = get_json(&format!("{}/api/tokens/1", server.url)).await;
    assert_eq!(status, 200);
    assert_eq!(token["state"], "delivered");
    assert_eq!(token["refundable"], false);
    assert!(token["image"].as_str().unwrap().starts_with("/images/bafk"));
    assert_eq!(token["metadata"]["json"]["name"], "GenIm #1");

    for (path, status) in [("/token/999", 404), ("/token/abc", 404), ("/token/0", 404)] {
        let (got, _, body) = get(&format!("{}{path}", server.url)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(r#"data-testid="error""#), "{path}");
    }
    let (status, error) = get_json(&format!("{}/api/tokens/999", server.url)).await;
    assert_eq!(status, 404);
    assert!(error["error"].as_str().unwrap().contains("no token 999"));
}

#[tokio::test]
async fn a_relayed_gasless_mint_shows_its_prompt_escaped() {
    let (server, _dir) = local_serve().await;
    let payer: PrivateKeySigner = PAYER_KEY.parse().unwrap();
    let from = payer.address();
    let prompt = r#"<script>alert(1)</script> "a cat" & 'co'"#;
    let config = get_json(&format!("{}/api/config", server.url)).await.1;

    // Refused before anything is paid: blank prompt, an account without USDC.
    let (status, error) = post_json(
        &format!("{}/api/mint/prepare", server.url),
        &json!({ "prompt": "  ", "from": from }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error["error"].as_str().unwrap().starts_with("empty prompt"));
    let (status, error) = post_json(
        &format!("{}/api/mint/prepare", server.url),
        &json!({ "prompt": "a cat", "from": Address::repeat_byte(0xde) }),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("Not enough funds"),
        "{error}"
    );

    let (status, prepared) = post_json(
        &format!("{}/api/mint/prepare", server.url),
        &json!({ "prompt": prompt, "from": from }),
    )
    .await;
    assert_eq!(status, 200, "{prepared}");
    assert_eq!(
        prepared["typedData"]["primaryType"],
        "ReceiveWithAuthorization"
    );
    let auth: Authorization = serde_json::from_value(prepared["authorization"].clone()).unwrap();
    let domain = eip3009::domain_of(
        config["tokenName"].as_str().unwrap().into(),
        config["tokenVersion"].as_str().unwrap().into(),
        31337,
        config["token"].as_str().unwrap().parse().unwrap(),
    );
    let signature = auth.sign(Kind::Receive, &domain, &payer).await.unwrap();
    let body = |prompt: &str| {
        json!({
            "prompt": prompt, "from": from, "validAfter": auth.valid_after.to_string(),
            "validBefore": auth.valid_before.to_string(), "nonce": auth.nonce,
            "signature": signature, "kind": "receive",
        })
    };
    // The signature commits to the prompt: the relay refuses it for another one.
    let (status, error) = post_json(&format!("{}/api/mint", server.url), &body("a dog")).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("not for this prompt")
    );

    let (status, minted) = post_json(&format!("{}/api/mint", server.url), &body(prompt)).await;
    assert_eq!(status, 200, "{minted}\n{}", server.logs());
    assert_eq!(minted["tokenId"], 4);
    assert!(minted["tx"].as_str().unwrap().starts_with("0x"));
    // A retry of the same authorization answers the same token and pays nothing more.
    let (status, again) = post_json(&format!("{}/api/mint", server.url), &body(prompt)).await;
    assert_eq!(status, 200);
    assert_eq!(again["tokenId"], 4);
    assert_eq!(again["tx"], Value::Null);

    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;a cat&quot; &amp; &#39;co&#39;";
    let (_, _, gallery) = get(&server.url).await;
    assert!(gallery.contains(escaped), "{gallery}");
    assert!(!gallery.contains("<script>alert"));
    let (_, _, token) = get(&format!("{}/token/4", server.url)).await;
    assert!(token.contains(escaped));
    assert!(!token.contains("<script>alert"));
    let (_, json) = get_json(&format!("{}/api/tokens/4", server.url)).await;
    assert_eq!(json["prompt"], prompt);
}
