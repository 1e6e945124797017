//! The USDC-priced escrow NFT through the CLI, as a new user runs it on anvil: deploy with
//! `--token usdc` (Circle's real USDC), mint gaslessly and after an approval, follow, deliver,
//! withdraw, fees, refund; balances right to the last unit.

use crate::common::TestChain;
use alloy::primitives::{Address, U256};
use genim::{
    bindings::gen_im_token_nft::GenImTokenNFT, eip3009::IEIP3009, nft::deployment::Deployment,
};

/// 0.05 USDC in its smallest unit (6 decimals).
const PRICE: u64 = 50_000;
const FEE: u64 = PRICE * 500 / 10_000;

async fn usdc_balance(chain: &TestChain, usdc: Address, account: Address) -> U256 {
    IEIP3009::new(usdc, chain.root())
        .balanceOf(account)
        .call()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn usdc_escrow_from_deploy_to_gasless_mint_delivery_and_refund() {
    let chain = TestChain::start().await;
    let (owner, provider, alice, bob, relayer) = (
        chain.address(0),
        chain.address(1),
        chain.address(2),
        chain.address(3),
        chain.address(9),
    );
    let run = chain
        .genim(
            &[
                "deploy",
                "--token",
                "usdc",
                "--price",
                "0.05",
                "--provider",
                &provider.to_string(),
                "--delivery-window",
                "3600",
            ],
            &[("GENIM_PRIVATE_KEY", &chain.key(0))],
        )
        .await
        .ok();
    assert!(
        run.stdout.starts_with("GenImTokenNFT    0x"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("priced in        USDC 0x"),
        "{}",
        run.stdout
    );
    let record = Deployment::load(&chain.dir().join("deployments"), chain.chain_id())
        .unwrap()
        .unwrap();
    let (nft, usdc) = (record.nft, record.constructor_args.token.unwrap());
    assert_eq!(
        usdc_balance(&chain, usdc, alice).await,
        U256::from(1_000_000_000u64)
    );

    let run = chain.genim(&["price", "get"], &[]).await.ok();
    assert_eq!(run.stdout, "0.05 USDC (50000 units)\n");

    // Alice has no ETH to spare: she signs, the relayer submits and pays the gas.
    let alice_eth = chain.balance(alice).await;
    let relayer_eth = chain.balance(relayer).await;
    let run = chain
        .genim(
            &[
                "mint",
                "--prompt",
                "a red fox in fresh snow",
                "--gasless",
                "--json",
            ],
            &[
                ("GENIM_PRIVATE_KEY", &chain.key(2)),
                ("GENIM_RELAYER_KEY", &chain.key(9)),
            ],
        )
        .await
        .ok();
    run.assert_hides(&chain.key(9));
    let minted = run.json();
    assert_eq!(minted["tokenId"], 1);
    assert_eq!(minted["paid"], PRICE.to_string());
    assert_eq!(chain.balance(alice).await, alice_eth, "no gas for alice");
    assert!(
        chain.balance(relayer).await < relayer_eth,
        "the relayer paid the gas"
    );
    assert_eq!(
        usdc_balance(&chain, usdc, alice).await,
        U256::from(1_000_000_000u64 - PRICE)
    );
    let contract = GenImTokenNFT::new(nft, chain.root());
    assert_eq!(contract.ownerOf(U256::from(1)).call().await.unwrap(), alice);

    // Bob pays with gas: an approval, then the mint.
    let run = chain
        .genim(
            &["mint", "--prompt", "a lighthouse at dusk"],
            &[("GENIM_PRIVATE_KEY", &chain.key(3))],
        )
        .await
        .ok();
    assert!(
        run.stdout
            .starts_with("minted token 2 for 0.05 USDC (tx 0x"),
        "{}",
        run.stdout
    );
    assert_eq!(
        usdc_balance(&chain, usdc, bob).await,
        U256::from(1_000_000_000u64 - PRICE)
    );

    // Status in the token's units, with who may deliver.
    let run = chain.genim(&["status", "1"], &[]).await.ok();
    assert!(
        run.stdout.contains("escrow     0.05 USDC\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("deliverers {provider}\n")),
        "{}",
        run.stdout
    );
    let status = chain
        .genim(&["status", "1", "--json"], &[])
        .await
        .ok()
        .json();
    assert_eq!(status["escrow"], PRICE.to_string());
    assert_eq!(
        status["deliverers"][0]
            .as_str()
            .unwrap()
            .parse::<Address>()
            .unwrap(),
        provider
    );

    // A third token is left undelivered: the provider runs only up to token 2.
    chain
        .genim(
            &["mint", "--prompt", "left for a refund"],
            &[("GENIM_PRIVATE_KEY", &chain.key(3))],
        )
        .await
        .ok();
    let contract_before = usdc_balance(&chain, usdc, nft).await;
    assert_eq!(contract_before, U256::from(3 * PRICE));

    // Bob refunds token 3 after its deadline, before any provider runs.
    chain.increase_time(3601).await;
    let run = chain
        .genim(
            &["refund", "3", "--json"],
            &[("GENIM_PRIVATE_KEY", &chain.key(3))],
        )
        .await
        .ok();
    assert_eq!(run.json()["amount"], PRICE.to_string());
    assert_eq!(
        usdc_balance(&chain, usdc, bob).await,
        U256::from(1_000_000_000u64 - PRICE)
    );

    // The provider delivers 1 and 2 (past their deadline, nobody refunded them) and takes its
    // earnings home at the end of the run.
    let provider_before = usdc_balance(&chain, usdc, provider).await;
    let run = chain
        .genim(
            &[
                "provide",
                "--once",
                "--store",
                "dir:store",
                "--state-dir",
                "state",
                "--json",
            ],
            &[("GENIM_PRIVATE_KEY", &chain.key(1))],
        )
        .await
        .ok();
    let totals = run.json();
    assert_eq!(totals["delivered"], 2, "{}", run.stdout);
    assert_eq!(
        usdc_balance(&chain, usdc, provider).await,
        provider_before + U256::from(2 * (PRICE - FEE))
    );
    assert_eq!(totals["withdrawn"], (2 * (PRICE - FEE)).to_string());

    // Fees go to the fee recipient (the deployer); the contract ends empty.
    let owner_before = usdc_balance(&chain, usdc, owner).await;
    let run = chain
        .genim(&["fees", "--json"], &[("GENIM_PRIVATE_KEY", &chain.key(4))])
        .await
        .ok();
    assert_eq!(run.json()["amount"], (2 * FEE).to_string());
    assert_eq!(
        usdc_balance(&chain, usdc, owner).await,
        owner_before + U256::from(2 * FEE)
    );
    assert_eq!(usdc_balance(&chain, usdc, nft).await, U256::ZERO);
}

#[tokio::test(flavor = "multi_thread")]
async fn gasless_mistakes_are_sentences_and_cost_nothing() {
    let chain = TestChain::start().await;
    let eth_nft = chain.deploy_nft(crate::common::ether("0.00003"), &[]).await;
    let alice = chain.address(2);
    let nonce = chain.nonce(alice).await;
    let run = chain
        .genim(
            &[
                "mint",
                "--nft",
                &eth_nft.to_string(),
                "--prompt",
                "a fox",
                "--gasless",
            ],
            &[("GENIM_PRIVATE_KEY", &chain.key(2))],
        )
        .await;
    run.fails_with(
        "--gasless needs a relayer to submit the mint: pass --relayer-key (or set \
         GENIM_RELAYER_KEY)",
    );
    let run = chain
        .genim(
            &[
                "mint",
                "--nft",
                &eth_nft.to_string(),
                "--prompt",
                "a fox",
                "--gasless",
            ],
            &[
                ("GENIM_PRIVATE_KEY", &chain.key(2)),
                ("GENIM_RELAYER_KEY", &chain.key(9)),
            ],
        )
        .await;
    run.fails_with(&format!(
        "{eth_nft} is priced in ETH: gasless mints need a token-priced contract (GenImTokenNFT)"
    ));
    assert_eq!(chain.nonce(alice).await, nonce);
}
