//! A token's life through the CLI against a real anvil: deploy, mint, deliver (through the
//! bindings, as a provider does), status, fees, refund after the deadline, withdraw of a
//! credited payout, and the fee splitter.

use crate::common::{NftConfig, TestChain, ether};
use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
};
use genim::{
    bindings::{gen_im_nft::GenImNFT, splitter::Splitter},
    chain::{ConnectOptions, Connection},
    nft::{
        Nft,
        mint::{self, MintRequest},
        token::{self, FollowOptions, FollowOutcome, TokenState},
    },
};
use std::time::Duration;

/// Metadata a provider would store on IPFS.
fn metadata(token: u64) -> Vec<u8> {
    format!(
        r#"{{"name":"GenIm #{token}","description":"a red fox","image":"ipfs://bafkreiimage{token}"}}"#
    )
    .into_bytes()
}

fn address_of(value: &serde_json::Value) -> Address {
    value
        .as_str()
        .expect("address string")
        .parse()
        .expect("address")
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_mint_deliver_status_fees() {
    let chain = TestChain::start().await;
    let (owner, provider, user) = (chain.address(0), chain.address(1), chain.address(2));
    let owner_key = chain.key(0);

    let run = chain
        .genim(
            &[
                "deploy",
                "--price",
                "0.00003ether",
                "--provider",
                &provider.to_string(),
                "--json",
            ],
            &[("GENIM_PRIVATE_KEY", &owner_key)],
        )
        .await
        .ok();
    run.assert_hides(&owner_key);
    let out = run.json();
    assert_eq!(out["chainId"], 31337);
    assert!(out["splitter"].is_null());
    let nft = address_of(&out["nft"]);

    // The record names everything needed to reproduce the deployment.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(chain.dir().join("deployments/31337.json")).expect("record written"),
    )
    .unwrap();
    assert_eq!(address_of(&record["nft"]), nft);
    assert_eq!(record["tx"]["nft"], out["tx"]);
    assert_eq!(record["constructorArgs"]["price"], "30000000000000");
    assert_eq!(record["constructorArgs"]["feeBps"], 500);
    assert_eq!(record["constructorArgs"]["deliveryWindow"], 86400);
    assert_eq!(
        address_of(&record["constructorArgs"]["feeRecipient"]),
        owner
    );
    assert!(
        record["compiler"]
            .as_str()
            .unwrap()
            .starts_with("solc 0.8.")
    );
    assert!(record["block"].as_u64().unwrap() > 0);
    let contract = GenImNFT::new(nft, chain.root());
    assert!(contract.isProvider(provider).call().await.unwrap());

    // Mint without --nft: the record of chain 31337 names it.
    let user_key = chain.key(2);
    let run = chain
        .genim(
            &["mint", "--prompt", "a red fox", "--json"],
            &[("GENIM_PRIVATE_KEY", &user_key)],
        )
        .await
        .ok();
    let out = run.json();
    assert_eq!(out["tokenId"], 1);
    assert_eq!(out["paid"], "30000000000000");
    assert!(out["tx"].as_str().unwrap().starts_with("0x"));

    let run = chain.genim(&["status", "1", "--json"], &[]).await.ok();
    let status = run.json();
    assert_eq!(status["state"], "pending");
    assert_eq!(address_of(&status["owner"]), user);
    assert_eq!(status["escrow"], "30000000000000");
    assert!(
        status["tokenUri"]
            .as_str()
            .unwrap()
            .starts_with("data:application/json;base64,")
    );

    // Deliver as the provider would; it earns escrow minus the 5% fee, and takes it with
    // `genim withdraw` (deliveries credit earnings rather than push ETH: cheaper per image).
    let before = chain.balance(provider).await;
    let delivered = chain.deliver(nft, 1, U256::from(1), &metadata(1)).await;
    let digest = delivered.digest;
    let payout = ether("0.0000285");
    assert_eq!(chain.balance(provider).await + delivered.gas_cost, before);
    let contract_view = GenImNFT::new(nft, chain.root());
    assert_eq!(
        contract_view.earnings(provider).call().await.unwrap(),
        payout
    );
    let run = chain
        .genim(
            &["withdraw", "--json"],
            &[("GENIM_PRIVATE_KEY", &chain.key(1))],
        )
        .await
        .ok();
    let out = run.json();
    assert_eq!(out["amount"], payout.to_string());
    let gas = chain
        .gas_cost(out["tx"].as_str().unwrap().parse().unwrap())
        .await;
    assert_eq!(
        chain.balance(provider).await + delivered.gas_cost + gas,
        before + payout
    );
    assert_eq!(
        contract_view.earnings(provider).call().await.unwrap(),
        U256::ZERO
    );

    let run = chain.genim(&["status", "1", "--json"], &[]).await.ok();
    let status = run.json();
    assert_eq!(status["state"], "delivered");
    let cid = genim::cid::raw_cid_from_digest(&digest.0);
    assert_eq!(status["tokenUri"], format!("ipfs://{cid}"));
    assert_eq!(
        status["tokenUri"],
        format!("ipfs://{}", genim::cid::cid_v1(&metadata(1)))
    );
    let plain = chain.genim(&["status", "1"], &[]).await.ok();
    assert!(
        plain.stdout.starts_with("token 1: delivered\n"),
        "{}",
        plain.stdout
    );

    // Refunding a delivered token explains why it cannot.
    let run = chain
        .genim(&["refund", "1"], &[("GENIM_PRIVATE_KEY", &user_key)])
        .await;
    run.fails_with("token 1 is not pending (it was delivered)");

    // Fees: 5% of 0.00003 ETH to the fee recipient (the owner), sent by anyone.
    let fee = ether("0.0000015");
    let run = chain.genim(&["fees", "--show", "--json"], &[]).await.ok();
    assert_eq!(run.json()["amount"], fee.to_string());
    let recipient_before = chain.balance(owner).await;
    let run = chain
        .genim(&["fees", "--json"], &[("GENIM_PRIVATE_KEY", &chain.key(3))])
        .await
        .ok();
    assert_eq!(run.json()["amount"], fee.to_string());
    assert_eq!(chain.balance(owner).await, recipient_before + fee);
    assert_eq!(contract.accruedFees().call().await.unwrap(), U256::ZERO);
    // Nothing to withdraw is not an error (the same rule as `split release`): nothing is sent.
    let nonce = chain.nonce(chain.address(3)).await;
    let run = chain
        .genim(&["fees"], &[("GENIM_PRIVATE_KEY", &chain.key(3))])
        .await
        .ok();
    assert_eq!(
        run.stdout,
        format!("no fees to withdraw on {nft}: nothing was sent\n")
    );
    assert_eq!(chain.nonce(chain.address(3)).await, nonce);
    let run = chain
        .genim(&["fees", "--json"], &[("GENIM_PRIVATE_KEY", &chain.key(3))])
        .await
        .ok();
    assert_eq!(run.json()["amount"], "0");
    assert!(run.json()["tx"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn mint_wait_follows_until_delivered_and_reads_metadata() {
    let chain = TestChain::start().await;
    let nft = chain
        .deploy_nft(ether("0.00003"), &[chain.address(1)])
        .await;
    let store = tempfile::tempdir().unwrap();
    let gateway = format!("dir:{}", store.path().display());
    let nft_text = nft.to_string();
    let user_key = chain.key(2);
    let args = [
        "mint",
        "--nft",
        &nft_text,
        "--prompt",
        "a red fox",
        "--wait",
        "--poll-interval",
        "1",
        "--ipfs-gateway",
        &gateway,
        "--json",
    ];
    let envs = [("GENIM_PRIVATE_KEY", user_key.as_str())];
    let mint = chain.genim(&args, &envs);
    let deliver = async {
        // Wait for the mint, then act as the provider: store the metadata, deliver.
        let contract = GenImNFT::new(nft, chain.root());
        for _ in 0..200 {
            if contract.totalMinted().call().await.unwrap() == U256::from(1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let bytes = metadata(1);
        std::fs::write(store.path().join(genim::cid::cid_v1(&bytes)), &bytes).unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        chain.deliver(nft, 1, U256::from(1), &bytes).await;
    };
    let (run, ()) = tokio::join!(mint, deliver);
    let run = run.ok();
    run.assert_hides(&user_key);
    let out = run.json();
    assert_eq!(out["tokenId"], 1);
    assert_eq!(out["state"], "delivered");
    assert_eq!(
        out["tokenUri"],
        format!("ipfs://{}", genim::cid::cid_v1(&metadata(1)))
    );
    assert_eq!(out["metadata"]["name"], "GenIm #1");
    assert!(run.stderr.contains("waiting for token 1"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn refund_only_after_the_deadline() {
    let chain = TestChain::start().await;
    let config = NftConfig {
        delivery_window: 3600,
        ..NftConfig::default()
    };
    let nft = chain.deploy_nft_with(config).await;
    let nft_text = nft.to_string();
    let user = chain.address(2);
    let user_key = chain.key(2);
    let token = chain.mint(nft, 2, "a red fox").await;
    let deadline = GenImNFT::new(nft, chain.root())
        .tokenState(token)
        .call()
        .await
        .unwrap()
        .deadline;

    let envs = [("GENIM_PRIVATE_KEY", user_key.as_str())];
    let run = chain
        .genim(&["refund", "--nft", &nft_text, "1"], &envs)
        .await;
    run.fails_with(&format!(
        "refund too early: token 1 can be refunded after {}",
        genim::time::format_utc(deadline)
    ));
    run.assert_hides(&user_key);

    // Someone else's token is not theirs to refund, even after the deadline.
    chain.increase_time(3601).await;
    let other = chain
        .genim(
            &["refund", "--nft", &nft_text, "1"],
            &[("GENIM_PRIVATE_KEY", &chain.key(4))],
        )
        .await;
    other.fails_with(&format!(
        "not your token: {} does not own token 1",
        chain.address(4)
    ));

    let before = chain.balance(user).await;
    let run = chain
        .genim(&["refund", "--nft", &nft_text, "1", "--json"], &envs)
        .await
        .ok();
    let out = run.json();
    assert_eq!(out["amount"], "30000000000000");
    assert_eq!(out["credited"], false);
    let gas = chain
        .gas_cost(out["tx"].as_str().unwrap().parse().unwrap())
        .await;
    assert_eq!(chain.balance(user).await + gas, before + ether("0.00003"));

    let run = chain
        .genim(&["status", "--nft", &nft_text, "1", "--json"], &[])
        .await
        .ok();
    let status = run.json();
    assert_eq!(status["state"], "refunded");
    assert!(status["owner"].is_null() && status["tokenUri"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn withdraw_a_refund_credited_after_a_failed_push() {
    let chain = TestChain::start().await;
    let config = NftConfig {
        delivery_window: 60,
        ..NftConfig::default()
    };
    let nft = chain.deploy_nft_with(config).await;
    let nft_text = nft.to_string();
    let user = chain.address(2);
    chain.mint(nft, 2, "a red fox").await;
    chain.increase_time(61).await;

    // The owner refuses ETH while it refunds (PUSH0 PUSH0 REVERT), so the refund is credited
    // instead of lost.
    chain
        .set_code(user, Bytes::from_static(&[0x5f, 0x5f, 0xfd]))
        .await;
    let contract = GenImNFT::new(nft, chain.root());
    let refund = contract.refund(U256::from(1)).into_transaction_request();
    assert!(chain.send_as(user, refund).await);
    chain.set_code(user, Bytes::new()).await;
    let escrow = ether("0.00003");
    assert_eq!(contract.credit(user).call().await.unwrap(), escrow);

    let key = chain.key(2);
    let envs = [("GENIM_PRIVATE_KEY", key.as_str())];
    let before = chain.balance(user).await;
    let run = chain
        .genim(&["withdraw", "--nft", &nft_text, "--json"], &envs)
        .await
        .ok();
    let out = run.json();
    assert_eq!(out["amount"], escrow.to_string());
    assert_eq!(address_of(&out["account"]), user);
    let gas = chain
        .gas_cost(out["tx"].as_str().unwrap().parse().unwrap())
        .await;
    assert_eq!(chain.balance(user).await + gas, before + escrow);
    assert_eq!(contract.credit(user).call().await.unwrap(), U256::ZERO);

    let run = chain
        .genim(&["withdraw", "--nft", &nft_text], &envs)
        .await
        .ok();
    assert_eq!(
        run.stdout,
        format!("nothing to withdraw: {user} has no earnings or credit on {nft}\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_with_a_fee_split() {
    let chain = TestChain::start().await;
    let (a, b) = (chain.address(5), chain.address(6));
    let split = format!("{a}:85,{b}:15");
    let owner_key = chain.key(0);
    let envs = [("GENIM_PRIVATE_KEY", owner_key.as_str())];
    let provider = chain.address(1).to_string();
    let args = [
        "deploy",
        "--price",
        "30000gwei",
        "--provider",
        &provider,
        "--split",
        &split,
        "--json",
    ];
    let out = chain.genim(&args, &envs).await.ok().json();
    let nft = address_of(&out["nft"]);
    let splitter = address_of(&out["splitter"]);
    let contract = GenImNFT::new(nft, chain.root());
    assert_eq!(contract.feeRecipient().call().await.unwrap(), splitter);
    let recipients = Splitter::new(splitter, chain.root())
        .recipients()
        .call()
        .await
        .unwrap();
    assert_eq!(recipients, vec![a, b]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(chain.dir().join("deployments/31337.json")).unwrap())
            .unwrap();
    assert_eq!(address_of(&record["splitter"]), splitter);
    assert!(record["splitterFactory"].is_string());
    assert_eq!(record["split"][1]["share"], 15);

    // Same split again: the factory and the clone are found, not recreated.
    let again = chain.genim(&args, &envs).await.ok().json();
    assert_eq!(address_of(&again["splitter"]), splitter);

    // A delivered mint's fee flows through the splitter, 85/15.
    chain.mint(nft, 2, "a red fox").await;
    chain.deliver(nft, 1, U256::from(1), &metadata(1)).await;
    chain
        .genim(&["fees", "--nft", &nft.to_string()], &envs)
        .await
        .ok();
    let fee = ether("0.0000015");
    assert_eq!(chain.balance(splitter).await, fee);

    let show = chain
        .genim(&["split", "show", "--json"], &[])
        .await
        .ok()
        .json();
    assert_eq!(
        show["recipients"][0]["releasable"],
        (fee * U256::from(85) / U256::from(100)).to_string()
    );
    let (a_before, b_before) = (chain.balance(a).await, chain.balance(b).await);
    let run = chain
        .genim(
            &["split", "release", "--json"],
            &[("GENIM_PRIVATE_KEY", &chain.key(3))],
        )
        .await
        .ok();
    assert_eq!(run.json().as_array().unwrap().len(), 2);
    assert_eq!(
        chain.balance(a).await,
        a_before + fee * U256::from(85) / U256::from(100)
    );
    assert_eq!(
        chain.balance(b).await,
        b_before + fee * U256::from(15) / U256::from(100)
    );
    assert_eq!(chain.balance(splitter).await, U256::ZERO);
}

/// The library API the provider loop uses: connect, send with revert decoding, follow.
#[tokio::test(flavor = "multi_thread")]
async fn library_connect_send_and_follow() {
    let chain = TestChain::start().await;
    let provider = chain.address(1);
    let nft = chain.deploy_nft(ether("0.00003"), &[provider]).await;

    let open = |account: usize| {
        Connection::open(
            chain.rpc_url().parse().unwrap(),
            Some(chain.signer(account)),
            ConnectOptions::default(),
        )
    };
    let user = open(2).await.unwrap();
    assert_eq!(user.chain_id, 31337);
    assert_eq!(user.signer_address(), Some(chain.address(2)));
    let nft = Nft::open(&user, nft).await.unwrap();
    let request = |prompt: &str| MintRequest {
        prompt: prompt.into(),
        ..MintRequest::default()
    };
    let minted = mint::mint(&user, &nft, &request("a red fox"))
        .await
        .unwrap();
    assert_eq!(minted.token_id, U256::from(1));
    assert_eq!(minted.paid, ether("0.00003"));

    // A non-provider's delivery is refused with a sentence, before any gas is spent.
    let digest = alloy::primitives::B256::repeat_byte(7);
    let tx = nft
        .contract(&user)
        .deliver(minted.token_id, digest)
        .into_transaction_request();
    let err = user.send(tx).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!("not an authorized provider: {}", chain.address(2))
    );

    // The provider's connection, built programmatically, delivers; a follower sees it.
    let provider_conn = open(1).await.unwrap();
    let options = FollowOptions {
        poll_interval: Duration::from_millis(200),
        ..FollowOptions::default()
    };
    let follow = token::follow(&user, &nft, minted.token_id, &options, |status| {
        assert_ne!(status.state, TokenState::None)
    });
    let deliver = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tx = nft
            .contract(&provider_conn)
            .deliver(minted.token_id, digest)
            .into_transaction_request();
        provider_conn.send(tx).await.unwrap()
    };
    let (outcome, receipt) = tokio::join!(follow, deliver);
    assert!(receipt.status());
    match outcome.unwrap() {
        FollowOutcome::Delivered(status) => {
            assert_eq!(status.digest, digest);
            assert!(status.token_uri.unwrap().starts_with("ipfs://bafkrei"));
        }
        other => panic!("expected delivery, got {other:?}"),
    }

    // Delivering twice names the state.
    let tx = nft
        .contract(&provider_conn)
        .deliver(minted.token_id, digest)
        .into_transaction_request();
    let err = provider_conn.send(tx).await.unwrap_err().to_string();
    assert_eq!(err, "token 1 is not pending (it was delivered)");

    // Concurrent sends from one connection get distinct nonces.
    let (two, three) = (request("two"), request("three"));
    let second = mint::mint(&user, &nft, &two);
    let third = mint::mint(&user, &nft, &three);
    let (second, third) = tokio::join!(second, third);
    let mut ids = [second.unwrap().token_id, third.unwrap().token_id];
    ids.sort();
    assert_eq!(ids, [U256::from(2), U256::from(3)]);
    assert!(user.provider.get_block_number().await.unwrap() > 0);
}
