//! x402 settlement on anvil with real USDC: direct and escrow, at most one charge however
//! often (and however concurrently) it is asked, and a front-run authorization counted as
//! settled with the third party's transaction.

use crate::x402_harness::{
    OWNER, PAYEE, PAYER, POOR, RELAYER, THIRD_PARTY, X402Chain, authorization, payment, requirement,
};
use alloy::{primitives::U256, providers::Provider, rpc::types::TransactionReceipt};
use genim::{
    bindings::gen_im_token_nft::GenImTokenNFT,
    chain::Connection,
    eip3009::IEIP3009,
    nft::deploy::{DeployParams, deploy},
    x402::{
        Executor, Facilitator, Mode, Payment, Reason, Requirement, SettleError, Settler, Version,
        verify,
    },
};
use std::collections::BTreeSet;

/// The third party submits the payer's authorization itself, straight to the token.
async fn front_run(third: &Connection, req: &Requirement, p: &Payment) -> TransactionReceipt {
    let auth = &p.authorization;
    let call = IEIP3009::new(req.asset, third.provider.clone())
        .transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.valid_after,
            auth.valid_before,
            auth.nonce,
            p.signature.clone(),
        )
        .into_transaction_request();
    third.send(call).await.expect("the third party executes it")
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_settlement_charges_once_however_often_it_is_asked() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await;
    let relayer = chain.connect(RELAYER).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let p = payment(
        &req,
        &authorization(&req, payer.address(), chain.now().await),
        &payer,
        Version::V2,
    )
    .await;
    verify::verify(&relayer, &req, &p, &Mode::Direct)
        .await
        .unwrap();

    let settler = Settler::new(relayer.clone());
    let (first, second) = tokio::join!(
        settler.settle(&req, &p, &Mode::Direct),
        settler.settle(&req, &p, &Mode::Direct)
    );
    let first = first.unwrap();
    assert_eq!(
        second.unwrap(),
        first,
        "concurrent calls share one settlement"
    );
    assert_eq!(first.executor, Executor::Relayer);
    assert_eq!(
        (first.payer, first.chain_id, first.token_id),
        (payer.address(), 31337, None)
    );
    assert_eq!(
        settler.settle(&req, &p, &Mode::Direct).await.unwrap(),
        first
    );
    // A new process (nothing in memory) finds the same transaction in the token's logs.
    let restarted = Settler::new(relayer.clone());
    assert_eq!(
        restarted.settle(&req, &p, &Mode::Direct).await.unwrap(),
        first
    );
    // One transaction, one charge.
    assert_eq!(chain.nonce(chain.address(RELAYER)).await, 1);
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(10_000)
    );
    assert_eq!(
        chain.balance(usdc, payer.address()).await,
        U256::from(1_000_000_000u64 - 10_000)
    );
    // The settlement header content.
    let response = first.response(Version::V2);
    assert!(response.success);
    assert_eq!(response.transaction, first.transaction.to_string());
    assert_eq!(response.network, "eip155:31337");

    // Settling on behalf of another requirement is refused before the chain is asked.
    let mut other = req.clone();
    other.amount = U256::from(20_000);
    let err = settler.settle(&other, &p, &Mode::Direct).await.unwrap_err();
    assert_eq!(err.reason(), Reason::ValueMismatch);
}

/// Settlements that queue go out together in one Multicall3 transaction; a member whose call
/// fails in it (its payer's money went to another member) fails alone, with its reason and
/// without a charge, and every settled one is found again in the logs by a new process.
#[tokio::test(flavor = "multi_thread")]
async fn queued_direct_settlements_share_a_transaction_and_fail_alone() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.signer(PAYER);
    let poor = chain.signer(POOR);
    let usdc = chain.usdc(&[payer.address()]).await;
    let relayer = chain.connect(RELAYER).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let now = chain.now().await;
    // POOR holds exactly one price.
    let gift = genim::eip3009::Authorization {
        to: poor.address(),
        ..authorization(&req, payer.address(), now)
    };
    front_run(
        &relayer,
        &req,
        &payment(&req, &gift, &payer, Version::V2).await,
    )
    .await;
    let mut payments = Vec::new();
    for _ in 0..6 {
        let auth = authorization(&req, payer.address(), now);
        payments.push(payment(&req, &auth, &payer, Version::V2).await);
    }
    // Two from POOR: each verifies alone, only one can be paid.
    for _ in 0..2 {
        let auth = authorization(&req, poor.address(), now);
        payments.push(payment(&req, &auth, &poor, Version::V2).await);
    }
    let facilitator = Facilitator::new(relayer.clone()).unwrap();
    for p in &payments {
        facilitator
            .verify(&req, p, &Mode::Direct)
            .await
            .expect("each verifies alone");
    }
    let sent_before = chain.nonce(chain.address(RELAYER)).await;

    let outcomes = futures::future::join_all(
        payments
            .iter()
            .map(|p| facilitator.settle(&req, p, &Mode::Direct)),
    )
    .await;
    let settled: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let refused: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(settled.len(), 7, "{outcomes:?}");
    assert_eq!(refused.len(), 1, "{outcomes:?}");
    assert_eq!(
        refused[0].reason(),
        Reason::InsufficientBalance,
        "{refused:?}"
    );
    let transactions: BTreeSet<_> = settled.iter().map(|s| s.transaction).collect();
    assert!(
        transactions.len() < settled.len(),
        "queued settlements share transactions: {transactions:?}"
    );
    let sent = chain.nonce(chain.address(RELAYER)).await - sent_before;
    assert!(sent < 8, "{sent} transactions for 8 settlements");
    // Exactly the settled ones were charged.
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(7 * 10_000)
    );
    assert_eq!(chain.balance(usdc, poor.address()).await, U256::ZERO);
    // A new process finds each settled payment's own execution in its (shared) transaction.
    let restarted = Settler::new(relayer.clone());
    for (p, outcome) in payments.iter().zip(&outcomes) {
        let again = restarted.settle(&req, p, &Mode::Direct).await;
        match outcome {
            Ok(settled) => assert_eq!(again.unwrap().transaction, settled.transaction),
            Err(_) => assert!(again.is_err(), "the refused payment stays unpaid"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_front_run_counts_as_settled_with_the_third_partys_transaction() {
    let chain = X402Chain::start(84532).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await;
    let relayer = chain.connect(RELAYER).await;
    let third = chain.connect(THIRD_PARTY).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let now = chain.now().await;
    let p = payment(
        &req,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V1,
    )
    .await;
    verify::verify(&relayer, &req, &p, &Mode::Direct)
        .await
        .unwrap();
    // Between verify and settle (while the server works), someone who saw the header submits
    // it: the payee is paid all the same.
    let theirs = front_run(&third, &req, &p).await;
    let settler = Settler::new(relayer.clone());
    let settled = settler.settle(&req, &p, &Mode::Direct).await.unwrap();
    assert_eq!(settled.transaction, theirs.transaction_hash);
    assert_eq!(
        settled.executor,
        Executor::Other(chain.address(THIRD_PARTY))
    );
    assert_eq!(settled.response(Version::V1).network, "base-sepolia");
    assert_eq!(
        settler.settle(&req, &p, &Mode::Direct).await.unwrap(),
        settled
    );
    assert_eq!(
        chain.nonce(chain.address(RELAYER)).await,
        0,
        "the relayer sent nothing"
    );
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(10_000)
    );

    // A nonce used for another payment (here: to someone else) is not this payment.
    let mut elsewhere = authorization(&req, payer.address(), now);
    elsewhere.to = chain.address(THIRD_PARTY);
    let mut to_third = req.clone();
    to_third.pay_to = chain.address(THIRD_PARTY);
    let paid_elsewhere = payment(&to_third, &elsewhere, &payer, Version::V2).await;
    front_run(&third, &to_third, &paid_elsewhere).await;
    let same_nonce = genim::eip3009::Authorization {
        nonce: elsewhere.nonce,
        ..authorization(&req, payer.address(), now)
    };
    let p = payment(&req, &same_nonce, &payer, Version::V2).await;
    let err = settler.settle(&req, &p, &Mode::Direct).await.unwrap_err();
    assert!(matches!(err, SettleError::Rejected(_)), "{err:?}");
    assert_eq!(err.reason(), Reason::NonceAlreadyUsed, "{err}");
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(10_000)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn escrow_mints_once_and_mints_for_a_front_run_payment() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await;
    let owner = chain.connect(OWNER).await;
    let relayer = chain.connect(RELAYER).await;
    let nft = deploy(
        &owner,
        &DeployParams {
            token: Some(usdc),
            price: U256::from(10_000),
            fee_bps: 500,
            delivery_window: 86_400,
            providers: vec![chain.address(RELAYER)],
            ..DeployParams::default()
        },
    )
    .await
    .expect("GenImTokenNFT deploys")
    .nft;
    let req = requirement(&chain, usdc, nft, "USD Coin");
    let escrow = Mode::Escrow {
        prompt: "a red fox in the snow".into(),
    };
    let contract = GenImTokenNFT::new(nft, owner.provider.clone());

    let now = chain.now().await;
    let p = payment(
        &req,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    verify::verify(&relayer, &req, &p, &escrow).await.unwrap();
    let settler = Settler::new(relayer.clone());
    let settled = settler.settle(&req, &p, &escrow).await.unwrap();
    let token = settled.token_id.expect("a token");
    assert_eq!(settled.mint_transaction, Some(settled.transaction));
    assert_eq!(settled.executor, Executor::Relayer);
    assert_eq!(
        contract.ownerOf(token).call().await.unwrap(),
        payer.address()
    );
    assert_eq!(chain.balance(usdc, nft).await, U256::from(10_000));
    assert_eq!(settler.settle(&req, &p, &escrow).await.unwrap(), settled);
    assert_eq!(
        Settler::new(relayer.clone())
            .settle(&req, &p, &escrow)
            .await
            .unwrap(),
        settled,
        "a new process finds the token through mintedByAuthorization"
    );

    // Front-run: the authorization is executed on the token, the money sits in the NFT without
    // a token; verify now refuses new use of it, settle mints for it (the relayer is a
    // provider) and reports the third party's transaction as the payment.
    let p = payment(
        &req,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    verify::verify(&relayer, &req, &p, &escrow).await.unwrap();
    let theirs = front_run(&chain.connect(THIRD_PARTY).await, &req, &p).await;
    let err = verify::verify(&relayer, &req, &p, &escrow)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::NonceAlreadyUsed);
    let settled = settler.settle(&req, &p, &escrow).await.unwrap();
    let second = settled.token_id.expect("a token for the front-run payment");
    assert_ne!(second, token);
    assert_eq!(settled.transaction, theirs.transaction_hash);
    assert_ne!(settled.mint_transaction, Some(theirs.transaction_hash));
    assert_eq!(
        settled.executor,
        Executor::Other(chain.address(THIRD_PARTY))
    );
    assert_eq!(
        contract.ownerOf(second).call().await.unwrap(),
        payer.address()
    );
    assert_eq!(chain.balance(usdc, nft).await, U256::from(20_000));
    assert_eq!(
        Settler::new(relayer.clone())
            .settle(&req, &p, &escrow)
            .await
            .unwrap(),
        settled,
        "found again from the logs: the mint and the third party's payment"
    );
    assert_eq!(
        chain.balance(usdc, payer.address()).await,
        U256::from(1_000_000_000u64 - 20_000),
        "two payments, two charges"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_settlement_is_followed_never_sent_twice() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let p = payment(
        &req,
        &authorization(&req, payer.address(), chain.now().await),
        &payer,
        Version::V2,
    )
    .await;
    // Blocks stop coming: the settlement waits in the pool past the receipt timeout.
    let relayer = chain
        .connect(RELAYER)
        .await
        .with_tx_timeout(Some(std::time::Duration::from_secs(1)));
    let automine = |on: bool| {
        let provider = relayer.provider.clone();
        async move {
            let _: serde_json::Value = provider
                .raw_request("evm_setAutomine".into(), (on,))
                .await
                .expect("evm_setAutomine");
        }
    };
    automine(false).await;
    let settler = Settler::new(relayer.clone());
    let err = settler.settle(&req, &p, &Mode::Direct).await.unwrap_err();
    let SettleError::Pending { tx } = err else {
        panic!("expected a pending settlement, got {err:?}");
    };
    assert_eq!(err.reason(), Reason::SettlementPending);
    let response = err.response(Version::V2, req.chain_id, payer.address());
    assert_eq!(response.error_reason.as_deref(), Some("settlement_pending"));
    assert_eq!(response.transaction, tx.to_string());
    // Asked again while it is still in the pool: the same transaction, no second one.
    let again = settler.settle(&req, &p, &Mode::Direct).await.unwrap_err();
    assert!(
        matches!(again, SettleError::Pending { tx: same } if same == tx),
        "{again:?}"
    );
    let pending: u64 = relayer
        .provider
        .get_transaction_count(chain.address(RELAYER))
        .pending()
        .await
        .unwrap();
    assert_eq!(pending, 1, "one settlement transaction in flight");
    // Blocks come back: the next call follows it to its receipt.
    automine(true).await;
    let _: serde_json::Value = relayer
        .provider
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();
    let settled = settler.settle(&req, &p, &Mode::Direct).await.unwrap();
    assert_eq!(settled.transaction, tx);
    assert_eq!(chain.nonce(chain.address(RELAYER)).await, 1);
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(10_000)
    );
}
