//! `genim demo`, the README's first command, in both currencies: its own anvil, a deploy,
//! mints, the provider, a report whose CIDs name the stored files.

use crate::common::{anvil_path, genim_in};

async fn demo(token: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let anvil = anvil_path().display().to_string();
    let run = genim_in(
        dir.path(),
        &[
            "demo", "--images", "2", "--token", token, "--anvil", &anvil, "--json",
        ],
        &[],
    )
    .await
    .ok();
    let report = run.json();
    let store = dir.path().join("genim-demo/store");
    for image in report["images"].as_array().unwrap() {
        for key in ["imageCid", "metadataCid"] {
            let cid = image[key].as_str().unwrap();
            let bytes = std::fs::read(store.join(cid)).unwrap();
            assert_eq!(genim::cid::cid_v1(&bytes), cid, "{key} names its bytes");
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_in_eth_and_in_usdc() {
    let eth = demo("eth").await;
    assert_eq!(eth["images"].as_array().unwrap().len(), 2);
    assert_eq!(eth["asset"]["kind"], "eth");
    assert_eq!(eth["images"][0]["payout"], "28500000000000");
    assert_eq!(eth["withdrawn"], "57000000000000");

    let usdc = demo("usdc").await;
    assert_eq!(usdc["asset"]["kind"], "token");
    assert_eq!(usdc["asset"]["symbol"], "USDC");
    assert_eq!(usdc["images"][1]["payout"], "47500");
    assert_eq!(usdc["withdrawn"], "95000");
}
