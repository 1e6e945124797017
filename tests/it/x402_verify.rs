//! x402 verification against real USDC on anvil: each bad payment gets its standard reason,
//! a good one passes without moving anything, and the simulation catches what only the chain
//! knows (a wrong signing domain, a smart wallet's verdict).

use crate::x402_harness::{
    PAYEE, PAYER, POOR, RELAYER, THIRD_PARTY, X402Chain, authorization, payment, payment_with,
    requirement,
};
use alloy::primitives::{Address, Bytes, U256, hex};
use genim::{
    eip3009::IEIP3009,
    x402::{
        Mode, Reason, Version,
        verify::{self, VerifyError},
        wire,
    },
};

fn reason_of(result: Result<verify::Verified, VerifyError>) -> Reason {
    match result {
        Ok(_) => panic!("the payment verified"),
        Err(VerifyError::Rejected(err)) => err.reason,
        Err(VerifyError::Chain(err)) => panic!("chain error: {err}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_payment_gets_its_reason_and_a_good_one_passes() {
    let chain = X402Chain::start(84532).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await;
    let relayer = chain.connect(RELAYER).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let now = chain.now().await;
    let direct = Mode::Direct;
    let verify = |p: genim::x402::Payment| {
        let (relayer, req) = (relayer.clone(), req.clone());
        async move { verify::verify(&relayer, &req, &p, &Mode::Direct).await }
    };

    // A good one passes, in both generations, and nothing moves.
    for version in [Version::V2, Version::V1] {
        let good = payment(
            &req,
            &authorization(&req, payer.address(), now),
            &payer,
            version,
        )
        .await;
        let verified = verify(good.clone()).await.expect("a good payment verifies");
        assert_eq!(verified.payer, payer.address());
        assert_eq!(verified.key.nonce, good.authorization.nonce);
    }
    assert_eq!(chain.balance(usdc, chain.address(PAYEE)).await, U256::ZERO);
    assert_eq!(
        chain.nonce(chain.address(RELAYER)).await,
        0,
        "verify sends nothing"
    );

    // Malformed headers never reach the chain: decoding names the reason.
    let good = payment(
        &req,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    let mut raw = good.raw.clone();
    raw["x402Version"] = 7.into();
    for (header, reason) in [
        ("%%%".to_owned(), Reason::InvalidPayload),
        (
            data_encoding::BASE64.encode(b"{nope"),
            Reason::InvalidPayload,
        ),
        (wire::encode_base64_json(&raw), Reason::InvalidX402Version),
    ] {
        assert_eq!(
            wire::decode_payment_header(&header).unwrap_err().reason,
            reason
        );
    }
    let mut raw = good.raw.clone();
    raw["accepted"]["scheme"] = "upto".into();
    let err = wire::decode_payment_header(&wire::encode_base64_json(&raw)).unwrap_err();
    assert_eq!(err.reason, Reason::InvalidScheme);
    raw["accepted"]["scheme"] = "exact".into();
    raw["accepted"]["network"] = "solana:devnet".into();
    let err = wire::decode_payment_header(&wire::encode_base64_json(&raw)).unwrap_err();
    assert_eq!(err.reason, Reason::InvalidNetwork);

    // Another chain than the requirement's.
    let mut other_chain = req.clone();
    other_chain.chain_id = 8453;
    let p = payment(
        &other_chain,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    assert_eq!(reason_of(verify(p).await), Reason::NetworkMismatch);

    // Another token: what the v2 client accepted is not what is asked.
    let mut other_token = req.clone();
    other_token.asset = Address::repeat_byte(0x42);
    let p = payment(
        &other_token,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    assert_eq!(
        reason_of(verify(p).await),
        Reason::InvalidPaymentRequirements
    );
    // v1 carries no asset: a payment signed for another token fails its signature.
    let p = payment(
        &other_token,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V1,
    )
    .await;
    assert_eq!(reason_of(verify(p).await), Reason::InvalidSignature);

    // Another payee, another amount (in the authorization itself).
    let mut auth = authorization(&req, payer.address(), now);
    auth.to = chain.address(THIRD_PARTY);
    let p = payment(&req, &auth, &payer, Version::V1).await;
    assert_eq!(reason_of(verify(p).await), Reason::RecipientMismatch);
    let mut auth = authorization(&req, payer.address(), now);
    auth.value = U256::from(9_999);
    let p = payment(&req, &auth, &payer, Version::V1).await;
    assert_eq!(reason_of(verify(p).await), Reason::ValueMismatch);
    let mut auth = authorization(&req, payer.address(), now);
    auth.value = U256::from(10_001);
    let p = payment(&req, &auth, &payer, Version::V2).await;
    assert_eq!(reason_of(verify(p).await), Reason::ValueMismatch);

    // Windows, on chain time: expiring within 6 s, expired, not yet valid.
    let mut auth = authorization(&req, payer.address(), now);
    auth.valid_before = U256::from(now + 3);
    let p = payment(&req, &auth, &payer, Version::V2).await;
    assert_eq!(reason_of(verify(p).await), Reason::ValidBefore);
    let mut auth = authorization(&req, payer.address(), now);
    auth.valid_before = U256::from(now - 100);
    let p = payment(&req, &auth, &payer, Version::V2).await;
    assert_eq!(reason_of(verify(p).await), Reason::ValidBefore);
    let mut auth = authorization(&req, payer.address(), now);
    auth.valid_after = U256::from(now + 3600);
    auth.valid_before = U256::from(now + 7200);
    let p = payment(&req, &auth, &payer, Version::V2).await;
    assert_eq!(reason_of(verify(p).await), Reason::ValidAfter);

    // A foreign signature: someone else signed the payer's authorization.
    let auth = authorization(&req, payer.address(), now);
    let p = payment(&req, &auth, &chain.signer(THIRD_PARTY), Version::V2).await;
    assert_eq!(reason_of(verify(p).await), Reason::InvalidSignature);
    let p = payment_with(&req, &auth, Bytes::from_static(&[1, 2, 3]), Version::V2);
    assert_eq!(reason_of(verify(p).await), Reason::InvalidSignature);

    // Too little balance: a payer without USDC.
    let poor = chain.signer(POOR);
    let p = payment(
        &req,
        &authorization(&req, poor.address(), now),
        &poor,
        Version::V2,
    )
    .await;
    assert_eq!(reason_of(verify(p).await), Reason::InsufficientBalance);

    // A reused nonce: the authorization was executed already (by anyone).
    let auth = authorization(&req, payer.address(), now);
    let p = payment(&req, &auth, &payer, Version::V2).await;
    let third = chain.connect(THIRD_PARTY).await;
    let call = IEIP3009::new(usdc, third.provider.clone())
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
    third.send(call).await.expect("the third party executes it");
    assert_eq!(reason_of(verify(p).await), Reason::NonceAlreadyUsed);

    // A requirement without the token's domain cannot be checked.
    let mut no_domain = req.clone();
    no_domain.domain = None;
    let p = payment(
        &req,
        &authorization(&req, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    let err = verify::verify(&relayer, &no_domain, &p, &direct).await;
    assert_eq!(reason_of(err), Reason::MissingEip712Domain);
    // A chain this relayer is not on.
    let err = verify::verify(&relayer, &other_chain, &p, &direct).await;
    assert_eq!(reason_of(err), Reason::InvalidNetwork);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_simulation_catches_a_wrong_signing_domain() {
    let chain = X402Chain::start(31337).await;
    let payer = chain.signer(PAYER);
    let usdc = chain.usdc(&[payer.address()]).await; // named "USD Coin"
    let relayer = chain.connect(RELAYER).await;
    let now = chain.now().await;
    // The server says "USDC" (Base Sepolia's name) for a token named "USD Coin": the client
    // signs what it is told, the signature matches that (wrong) domain, only the token knows.
    let wrong = requirement(&chain, usdc, chain.address(PAYEE), "USDC");
    let p = payment(
        &wrong,
        &authorization(&wrong, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    let err = verify::verify(&relayer, &wrong, &p, &Mode::Direct)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenNameMismatch, "{err}");
    assert!(err.to_string().contains("'USD Coin'"), "{err}");
    let mut wrong_version = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    wrong_version.domain.as_mut().unwrap().version = "1".into();
    let p = payment(
        &wrong_version,
        &authorization(&wrong_version, payer.address(), now),
        &payer,
        Version::V2,
    )
    .await;
    let err = verify::verify(&relayer, &wrong_version, &p, &Mode::Direct)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::TokenVersionMismatch, "{err}");
}

/// ERC-1271 wallets, as runtime code: `isValidSignature` answers the magic value for anything
/// (accepts every signature) or 32 zero bytes (refuses every one).
fn accepting_wallet() -> Bytes {
    // PUSH32 0x1626ba7e00..00, PUSH1 0, MSTORE, PUSH1 32, PUSH1 0, RETURN
    hex::decode(format!("7f1626ba7e{}60005260206000f3", "00".repeat(28)))
        .unwrap()
        .into()
}

fn refusing_wallet() -> Bytes {
    // PUSH1 32, PUSH1 0, RETURN (32 zero bytes)
    hex::decode("60206000f3").unwrap().into()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smart_wallets_signature_is_left_to_the_simulation() {
    let chain = X402Chain::start(31337).await;
    let wallet = chain.address(POOR);
    let usdc = chain.usdc(&[wallet]).await;
    let relayer = chain.connect(RELAYER).await;
    let req = requirement(&chain, usdc, chain.address(PAYEE), "USD Coin");
    let now = chain.now().await;
    let auth = authorization(&req, wallet, now);
    // Not an EOA signature at all: only the wallet can say whether it is valid.
    let signature = Bytes::from_static(b"a smart wallet's own proof");
    chain.set_code(wallet, refusing_wallet()).await;
    let p = payment_with(&req, &auth, signature.clone(), Version::V2);
    let err = verify::verify(&relayer, &req, &p, &Mode::Direct)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::InvalidSignature, "{err}");
    chain.set_code(wallet, accepting_wallet()).await;
    verify::verify(&relayer, &req, &p, &Mode::Direct)
        .await
        .expect("the wallet accepts it, so does the token");
    // And it settles through the `bytes` overload (the v, r, s one cannot carry it).
    let settler = genim::x402::Settler::new(relayer.clone());
    let settled = settler.settle(&req, &p, &Mode::Direct).await.unwrap();
    assert_eq!(settled.payer, wallet);
    assert_eq!(
        chain.balance(usdc, chain.address(PAYEE)).await,
        U256::from(10_000)
    );
}
