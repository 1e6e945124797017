//! Circle's real USDC on anvil, deployed from the embedded bytecode, and EIP-3009
//! authorizations signed by genim: what gasless mints and x402 payments rest on.

use crate::common::TestChain;
use alloy::primitives::{U256, keccak256};
use genim::{
    chain::{ConnectOptions, Connection},
    eip3009::{self, Authorization, IEIP3009, Kind},
    usdc::{self, UsdcOptions},
};

#[tokio::test(flavor = "multi_thread")]
async fn real_usdc_moves_with_a_signed_authorization_exactly_once() {
    let chain = TestChain::start().await;
    let open = |i: usize| {
        Connection::open(
            chain.rpc_url().parse().unwrap(),
            Some(chain.signer(i)),
            ConnectOptions::default(),
        )
    };
    let owner = open(0).await.unwrap();
    let payer = chain.address(2);
    let usdc = usdc::deploy(
        &owner,
        &UsdcOptions {
            holders: vec![payer],
            ..UsdcOptions::default()
        },
    )
    .await
    .unwrap();
    let token = IEIP3009::new(usdc.address, owner.provider.clone());
    assert_eq!(token.name().call().await.unwrap(), "USD Coin");
    assert_eq!(token.version().call().await.unwrap(), "2");
    assert_eq!(token.decimals().call().await.unwrap(), 6);
    assert_eq!(
        token.balanceOf(payer).call().await.unwrap(),
        U256::from(1_000_000_000u64)
    );

    // The payer signs; a relayer (account 1) submits and pays the gas.
    let domain = eip3009::domain(&owner, usdc.address).await.unwrap();
    let payee = chain.address(5);
    let auth = Authorization {
        from: payer,
        to: payee,
        value: U256::from(50_000),
        valid_after: U256::ZERO,
        valid_before: U256::from(u64::MAX),
        nonce: keccak256(b"one"),
    };
    let signature = auth
        .sign(Kind::Transfer, &domain, &chain.signer(2))
        .await
        .unwrap();
    let relayer = open(1).await.unwrap();
    let relay = IEIP3009::new(usdc.address, relayer.provider.clone());
    let call = relay
        .transferWithAuthorization(
            auth.from,
            auth.to,
            auth.value,
            auth.valid_after,
            auth.valid_before,
            auth.nonce,
            signature.clone(),
        )
        .into_transaction_request();
    relayer.send(call.clone()).await.unwrap();
    assert_eq!(
        token.balanceOf(payee).call().await.unwrap(),
        U256::from(50_000)
    );
    assert!(
        token
            .authorizationState(payer, auth.nonce)
            .call()
            .await
            .unwrap()
    );
    // Replaying it is refused by the token, with its reason.
    let err = relayer.send(call).await.unwrap_err().to_string();
    assert!(err.contains("authorization is used or canceled"), "{err}");
    assert_eq!(
        token.balanceOf(payee).call().await.unwrap(),
        U256::from(50_000)
    );
}
