//! The built binary's error messages: one line, exit code 1, no secret anywhere.

use crate::common::{ANVIL_MNEMONIC, TestChain, cast_path, ether, genim_in};
use alloy::primitives::Address;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn wrong_payment_is_a_sentence() {
    let chain = TestChain::start().await;
    let nft = chain
        .deploy_nft(ether("0.00003"), &[chain.address(1)])
        .await
        .to_string();
    let key = chain.key(2);
    let args = [
        "mint",
        "--nft",
        &nft,
        "--prompt",
        "a red fox",
        "--value",
        "0.00002ether",
    ];
    let run = chain.genim(&args, &[("GENIM_PRIVATE_KEY", &key)]).await;
    run.fails_with("wrong payment: the price is 0.00003 ETH, you sent 0.00002 ETH");
    run.assert_hides(&key);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_keys_are_never_echoed() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let valid = chain.key(2);
    // One digit short, a non-hex digit, and the zero key (not a valid secp256k1 scalar).
    let short = valid[..valid.len() - 1].to_owned();
    let garbled = format!("{}g", &valid[..valid.len() - 1]);
    let zero = format!("0x{}", "0".repeat(64));
    for (key, reason) in [
        (&short, "expected 32 bytes as 64 hex digits"),
        (&garbled, "expected 32 bytes as 64 hex digits"),
        (&zero, "not a valid secp256k1 secret key"),
    ] {
        let args = ["mint", "--nft", &nft, "--prompt", "a red fox"];
        let run = chain.genim(&args, &[("GENIM_PRIVATE_KEY", key)]).await;
        run.fails_with(&format!(
            "invalid private key: {reason} (the value is not shown)"
        ));
        run.assert_hides(&key[2..60]);
        // The same through the flag.
        let args = [
            "mint",
            "--nft",
            &nft,
            "--prompt",
            "a red fox",
            "--private-key",
            key,
        ];
        let run = chain.genim(&args, &[]).await;
        run.fails_with(&format!(
            "invalid private key: {reason} (the value is not shown)"
        ));
        run.assert_hides(&key[2..60]);
    }

    // Nor in the help text (clap shows env values unless told not to) or with -vvv logs.
    let run = chain
        .genim(
            &["mint", "--help"],
            &[
                ("GENIM_PRIVATE_KEY", &valid),
                ("GENIM_MNEMONIC", ANVIL_MNEMONIC),
            ],
        )
        .await
        .ok();
    run.assert_hides(&valid);
    assert!(!run.stdout.contains(ANVIL_MNEMONIC));
    assert!(run.stdout.contains("Examples:"), "{}", run.stdout);
    let args = ["-vvv", "mint", "--nft", &nft, "--prompt", "a red fox"];
    let run = chain
        .genim(&args, &[("GENIM_PRIVATE_KEY", &valid)])
        .await
        .ok();
    run.assert_hides(&valid);

    // A bad mnemonic is not echoed either (the BIP-39 error would name the bad word).
    let bad = "test test test test test test test test test test test zzzzqx";
    let args = [
        "mint",
        "--nft",
        &nft,
        "--prompt",
        "a red fox",
        "--mnemonic",
        bad,
    ];
    let run = chain.genim(&args, &[]).await;
    run.fails_with("invalid mnemonic: not a valid BIP-39 English phrase (the phrase is not shown)");
    assert!(!run.stderr.contains("zzzzqx"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wallets_from_mnemonic_and_keystore() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();

    // Mnemonic index 2 is anvil's third dev account.
    let args = [
        "mint",
        "--nft",
        &nft,
        "--prompt",
        "fox",
        "--mnemonic-index",
        "2",
        "--json",
    ];
    let run = chain
        .genim(&args, &[("GENIM_MNEMONIC", ANVIL_MNEMONIC)])
        .await
        .ok();
    assert_eq!(run.json()["tokenId"], 1);
    assert!(!run.stderr.contains("junk"));

    // A keystore made by cast; the password comes from the environment.
    let keystores = tempfile::tempdir().unwrap();
    let status = tokio::process::Command::new(cast_path())
        .args(["wallet", "import", "owner", "--keystore-dir"])
        .arg(keystores.path())
        .args([
            "--private-key",
            &chain.key(0),
            "--unsafe-password",
            "hunter2",
        ])
        .output()
        .await
        .expect("cast runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let keystore = keystores.path().join("owner");
    let keystore_text = keystore.to_str().unwrap();
    let provider = chain.address(1).to_string();
    let args = [
        "provider",
        "add",
        &provider,
        "--nft",
        &nft,
        "--keystore",
        keystore_text,
    ];
    let run = chain
        .genim(&args, &[("GENIM_KEYSTORE_PASSWORD", "nope")])
        .await;
    run.fails_with(&format!(
        "cannot open keystore {keystore_text}: wrong password"
    ));
    let run = chain
        .genim(&args, &[("GENIM_KEYSTORE_PASSWORD", "hunter2")])
        .await
        .ok();
    assert!(
        run.stdout
            .starts_with(&format!("authorized provider {}", chain.address(1)))
    );
    run.assert_hides("hunter2");

    // Without a terminal and without the variable there is no way to ask: say so.
    let run = chain.genim(&args, &[]).await;
    run.fails_with(&format!(
        "cannot open keystore {keystore_text}: no password: set GENIM_KEYSTORE_PASSWORD (no terminal to prompt on)"
    ));

    // Only the owner may authorize.
    let run = chain
        .genim(&args[..5], &[("GENIM_PRIVATE_KEY", &chain.key(4))])
        .await;
    run.fails_with(&format!(
        "not the contract owner: {} does not own this GenImNFT",
        chain.address(4)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_rejected_before_the_network() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1, so these errors must come before any connection attempt.
    let rpc = ("ETH_RPC_URL", "http://127.0.0.1:1".to_owned());
    let run = genim_in(
        dir.path(),
        &["status", "--nft", "0x12", "1"],
        std::slice::from_ref(&rpc),
    )
    .await;
    run.fails_with("invalid address '0x12': expected 40 hex digits after 0x, got 2");
    let run = genim_in(
        dir.path(),
        &["deploy", "--price", "0.00003ether", "--provider", "0x12"],
        std::slice::from_ref(&rpc),
    )
    .await;
    run.fails_with("invalid address '0x12': expected 40 hex digits after 0x, got 2");
    let run = genim_in(
        dir.path(),
        &[
            "deploy",
            "--price",
            "3 apples",
            "--provider",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        ],
        std::slice::from_ref(&rpc),
    )
    .await;
    run.fails_with("invalid amount '3 apples': unknown unit 'apples' (use wei, gwei or ether)");
    let run = genim_in(dir.path(), &["status", "seven"], std::slice::from_ref(&rpc)).await;
    run.fails_with("invalid token id 'seven': expected a whole number");

    // A config file must not hold secrets, and the error does not repeat them.
    std::fs::write(
        dir.path().join("genim.toml"),
        "private_key = \"0xfeedface\"\n",
    )
    .unwrap();
    let run = genim_in(dir.path(), &["status", "1"], &[rpc]).await;
    run.fails_with(
        "config file genim.toml: `private_key` is not allowed in a file; pass secrets through \
         GENIM_PRIVATE_KEY, --keystore (password from GENIM_KEYSTORE_PASSWORD or a prompt) or \
         --mnemonic",
    );
    run.assert_hides("feedface");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_address_with_a_live_chain() {
    let chain = TestChain::start().await;
    let run = chain.genim(&["status", "--nft", "0x12", "1"], &[]).await;
    run.fails_with("invalid address '0x12': expected 40 hex digits after 0x, got 2");
    let run = chain
        .genim(
            &[
                "status",
                "--nft",
                "0x70997970C51812dc3A010C7d01b50e0d17dc79c8",
                "1",
            ],
            &[],
        )
        .await;
    run.fails_with(
        "invalid address '0x70997970C51812dc3A010C7d01b50e0d17dc79c8': bad EIP-55 checksum \
         (mixed case that does not match)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_rpc_fails_fast() {
    let dir = tempfile::tempdir().unwrap();
    let nft = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let run = genim_in(
        dir.path(),
        &[
            "status",
            "--rpc-url",
            "http://127.0.0.1:1",
            "--nft",
            nft,
            "1",
        ],
        &[],
    )
    .await;
    run.fails_with("cannot reach the RPC at http://127.0.0.1:1: connection refused");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "took {:?}",
        run.elapsed
    );

    // The path of an RPC URL often holds an API key: it is not printed.
    let run = genim_in(
        dir.path(),
        &[
            "status",
            "--rpc-url",
            "http://127.0.0.1:1/v2/sEcReTkEy",
            "--nft",
            nft,
            "1",
        ],
        &[],
    )
    .await;
    run.fails_with("cannot reach the RPC at http://127.0.0.1:1/...: connection refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_chain_is_refused() {
    let chain = TestChain::start().await;
    let url = chain.rpc_url();
    let port = url.rsplit(':').next().unwrap().to_owned();
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let key = chain.key(2);
    let args = [
        "mint",
        "--chain",
        "base",
        "--rpc-url",
        &url,
        "--nft",
        &nft,
        "--prompt",
        "fox",
    ];
    let run = chain.genim(&args, &[("GENIM_PRIVATE_KEY", &key)]).await;
    run.fails_with(&format!(
        "wrong chain: the RPC at http://localhost:{port} is chain 31337, but --chain base is chain 8453"
    ));

    // A deployment record made for another chain is refused too.
    std::fs::create_dir_all(chain.dir().join("deployments")).unwrap();
    let record = serde_json::json!({
        "chainId": 10, "nft": nft, "block": 1, "tx": {"nft": format!("0x{}", "11".repeat(32))},
        "constructorArgs": {"owner": nft, "price": "1", "feeBps": 0, "feeRecipient": nft, "deliveryWindow": 1},
        "compiler": "solc 0.8.37", "genimVersion": "0.1.0",
    });
    std::fs::write(
        chain.dir().join("deployments/31337.json"),
        record.to_string(),
    )
    .unwrap();
    let run = chain
        .genim(&["mint", "--prompt", "fox"], &[("GENIM_PRIVATE_KEY", &key)])
        .await;
    run.fails_with("wrong chain: the RPC is chain 31337, but deployments/31337.json is a deployment on chain 10");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_contract_at_the_address() {
    let chain = TestChain::start().await;
    let empty = Address::repeat_byte(0x42);
    let run = chain
        .genim(&["status", "--nft", &empty.to_string(), "1"], &[])
        .await;
    run.fails_with(&format!("no contract at {empty} on chain 31337"));

    // And no --nft and no record: say how to get one.
    let run = chain.genim(&["status", "1"], &[]).await;
    run.fails_with(
        "no GenImNFT given: pass --nft ADDRESS, or deploy one with `genim deploy` (there is no \
         deployments/31337.json)",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn insufficient_funds_and_missing_wallet() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let pauper = alloy::signers::local::PrivateKeySigner::random();
    let key = alloy::hex::encode_prefixed(pauper.to_bytes());
    let args = ["mint", "--nft", &nft, "--prompt", "fox"];
    let run = chain.genim(&args, &[("GENIM_PRIVATE_KEY", &key)]).await;
    run.fails_with(&format!(
        "insufficient funds: {} has 0 ETH, but this transaction sends 0.00003 ETH plus gas",
        pauper.address()
    ));
    run.assert_hides(&key);

    let run = chain.genim(&args, &[]).await;
    run.fails_with(
        "no wallet to sign with: pass --private-key (or set GENIM_PRIVATE_KEY), --keystore or \
         --mnemonic",
    );

    let run = chain.genim(&["status", "--nft", &nft, "9"], &[]).await;
    run.fails_with(&format!(
        "token 9 does not exist on GenImNFT {nft} (never minted)"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_that_times_out_still_names_the_token() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await.to_string();
    let key = chain.key(2);
    let args = [
        "mint",
        "--nft",
        &nft,
        "--prompt",
        "fox",
        "--wait",
        "--wait-timeout",
        "1",
        "--poll-interval",
        "1",
        "--json",
    ];
    let run = chain.genim(&args, &[("GENIM_PRIVATE_KEY", &key)]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    // The token id came out as soon as the token existed, then the final state.
    let lines = run.json_lines();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(lines[0]["tokenId"], 1);
    assert!(lines[0].get("state").is_none());
    assert_eq!(lines[1]["tokenId"], 1);
    assert_eq!(lines[1]["state"], "pending");
    assert!(
        run.stderr.ends_with(
            "error: token 1 is still pending after 1 s; check later with `genim status 1`\n"
        ),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_below_env_and_flags() {
    let chain = TestChain::start().await;
    let nft = chain.deploy_nft(ether("0.00003"), &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!("rpc_url = \"{}\"\nnft = \"{nft}\"\n", chain.rpc_url());
    std::fs::write(dir.path().join("genim.toml"), config).unwrap();

    // The file alone is enough.
    let run = genim_in(dir.path(), &["price", "get", "--json"], &[])
        .await
        .ok();
    assert_eq!(run.json()["price"], "30000000000000");
    // The environment beats the file, and a flag beats the environment.
    let dead = ("ETH_RPC_URL", "http://127.0.0.1:1".to_owned());
    let run = genim_in(dir.path(), &["price", "get"], std::slice::from_ref(&dead)).await;
    run.fails_with("cannot reach the RPC at http://127.0.0.1:1: connection refused");
    let args = ["price", "get", "--rpc-url", &chain.rpc_url(), "--json"];
    let run = genim_in(dir.path(), &args, &[dead]).await.ok();
    assert_eq!(run.json()["price"], "30000000000000");
    // `--config` names another file, which must exist.
    let run = genim_in(
        dir.path(),
        &["price", "get", "--config", "missing.toml"],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .starts_with("error: cannot read config file missing.toml: "),
        "{}",
        run.stderr
    );
}
