//! Minting: pay the price (held in escrow) and get a token whose image providers generate.

use super::{Nft, NftError, NftKind, known::IERC20, token_id_json};
use crate::{
    amount::decimal,
    bindings::{gen_im_nft::GenImNFT, gen_im_token_nft::GenImTokenNFT},
    chain::{ChainError, Connection, receipt_event},
    eip3009::{self, Authorization, Kind},
};
use alloy::{
    primitives::{Address, B256, Bytes, TxHash, U256, keccak256},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest prompt the contracts accept, in bytes.
pub const MAX_PROMPT_BYTES: usize = 1000;

/// What to mint and how much the user agreed to pay.
#[derive(Debug, Clone, Default)]
pub struct MintRequest {
    /// What to draw.
    pub prompt: String,
    /// Pay exactly this (the contract refuses anything but the current price).
    pub value: Option<U256>,
    /// Refuse to pay more than this.
    pub max_price: Option<U256>,
}

/// A mint that went through (`--json`: `tokenId`, `tx`, `paid`, `block`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Minted {
    /// The new token.
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    /// The mint transaction.
    pub tx: TxHash,
    /// What was paid (held in escrow), in the contract's asset.
    #[serde(with = "decimal")]
    pub paid: U256,
    /// Block of the mint.
    pub block: u64,
}

/// Checks a prompt the way the contract will, before anything is paid: not blank, at most
/// [`MAX_PROMPT_BYTES`].
pub fn check_prompt(prompt: &str) -> Result<(), NftError> {
    if prompt.trim().is_empty() {
        return Err(NftError::Refused(
            "empty prompt: describe the image to generate".into(),
        ));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(NftError::Refused(format!(
            "prompt too long: {} bytes, at most {MAX_PROMPT_BYTES} are allowed",
            prompt.len()
        )));
    }
    Ok(())
}

/// The price to pay now, checked against what the user agreed to.
pub async fn price_to_pay(
    conn: &Connection,
    nft: &Nft,
    request: &MintRequest,
) -> Result<U256, NftError> {
    let price = nft
        .contract(conn)
        .price()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    if let Some(max) = request.max_price
        && price > max
    {
        return Err(NftError::Refused(format!(
            "the price is {}, above your --max-price of {}; nothing was paid",
            nft.format(price),
            nft.format(max)
        )));
    }
    Ok(request.value.unwrap_or(price))
}

/// Mints a token for `request.prompt`, paying the price (or exactly `request.value`) from the
/// signer: in ETH, or in the contract's token after approving it when the allowance is short.
/// Decodes the token id from the receipt's `ImageRequested` log.
pub async fn mint(conn: &Connection, nft: &Nft, request: &MintRequest) -> Result<Minted, NftError> {
    check_prompt(&request.prompt)?;
    let me = conn.signer()?;
    let value = price_to_pay(conn, nft, request).await?;
    tracing::info!(nft = %nft.address, price = %nft.format(value), "minting");
    let receipt = match nft.kind {
        NftKind::Eth => {
            let tx = nft
                .contract(conn)
                .mint(request.prompt.clone())
                .value(value)
                .into_transaction_request();
            conn.send(tx).await?
        }
        NftKind::Token => {
            let token = nft
                .asset
                .token()
                .expect("a token-priced contract has a token");
            let erc20 = IERC20::new(token, conn.provider.clone());
            let allowance = erc20
                .allowance(me, nft.address)
                .call()
                .await
                .map_err(|err| conn.call_error(err))?;
            if allowance < value {
                conn.send(erc20.approve(nft.address, value).into_transaction_request())
                    .await?;
            }
            let tx = GenImTokenNFT::new(nft.address, conn.provider.clone())
                .mint(request.prompt.clone())
                .into_transaction_request();
            conn.send(tx).await?
        }
    };
    minted_from(&receipt, nft)
}

/// A gasless mint, signed by the payer and ready for anyone to relay: the prompt and the
/// EIP-3009 authorization of exactly the price to the contract. Its nonce commits to the prompt
/// ([`prompt_nonce`]), so whoever relays it cannot swap the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedMint {
    pub prompt: String,
    /// Which authorization was signed (`receive` cannot be front-run).
    pub kind: Kind,
    pub authorization: Authorization,
    pub signature: Bytes,
}

/// How long a gasless mint's authorization stays valid.
pub const AUTHORIZATION_VALIDITY: Duration = Duration::from_secs(3600);

/// GenImTokenNFT's `promptNonce`: the nonce that commits an authorization to a prompt,
/// `keccak256(abi.encode(nft, from, keccak256(prompt), validAfter, validBefore))`.
pub fn prompt_nonce(
    nft: Address,
    prompt: &str,
    from: Address,
    valid_after: U256,
    valid_before: U256,
) -> B256 {
    keccak256(
        (
            nft,
            from,
            keccak256(prompt.as_bytes()),
            valid_after,
            valid_before,
        )
            .abi_encode(),
    )
}

/// Signs a gasless mint of `prompt` as `payer`, for the current price (checked against the
/// request's `max_price`), valid from now for [`AUTHORIZATION_VALIDITY`].
pub async fn sign_mint(
    conn: &Connection,
    nft: &Nft,
    request: &MintRequest,
    payer: &PrivateKeySigner,
    kind: Kind,
) -> Result<SignedMint, NftError> {
    check_prompt(&request.prompt)?;
    let Some(token) = nft.asset.token() else {
        return Err(NftError::Refused(format!(
            "{} is priced in ETH: gasless mints need a token-priced contract (GenImTokenNFT)",
            nft.address
        )));
    };
    let value = price_to_pay(conn, nft, request).await?;
    let domain = eip3009::domain(conn, token).await?;
    let now = conn.chain_time().await?;
    let (valid_after, valid_before) = (
        U256::ZERO,
        U256::from(now + AUTHORIZATION_VALIDITY.as_secs()),
    );
    let from = payer.address();
    let authorization = Authorization {
        from,
        to: nft.address,
        value,
        valid_after,
        valid_before,
        nonce: prompt_nonce(
            nft.address,
            &request.prompt,
            from,
            valid_after,
            valid_before,
        ),
    };
    let signature = authorization
        .sign(kind, &domain, payer)
        .await
        .map_err(|err| ChainError::Signing(err.to_string()))?;
    Ok(SignedMint {
        prompt: request.prompt.clone(),
        kind,
        authorization,
        signature,
    })
}

/// Submits a signed gasless mint from `relayer` (who pays the gas): the contract pulls the
/// price from the payer and mints the token to the payer.
pub async fn relay_mint(
    relayer: &Connection,
    nft: &Nft,
    signed: &SignedMint,
) -> Result<Minted, NftError> {
    check_prompt(&signed.prompt)?;
    relayer.signer()?;
    let auth = &signed.authorization;
    if auth.to != nft.address {
        return Err(NftError::Refused(format!(
            "the authorization pays {}, not this contract {}",
            auth.to, nft.address
        )));
    }
    let tx = GenImTokenNFT::new(nft.address, relayer.provider.clone())
        .mintWithAuthorization(
            signed.prompt.clone(),
            auth.from,
            auth.valid_after,
            auth.valid_before,
            auth.nonce,
            signed.signature.clone(),
        )
        .into_transaction_request();
    let receipt = relayer.send(tx).await?;
    minted_from(&receipt, nft)
}

/// The token a mint receipt created.
pub fn minted_from(
    receipt: &alloy::rpc::types::TransactionReceipt,
    nft: &Nft,
) -> Result<Minted, NftError> {
    let event =
        receipt_event::<GenImNFT::ImageRequested>(receipt, nft.address).ok_or_else(|| {
            ChainError::Reverted(format!(
                "mint transaction {} has no ImageRequested event",
                receipt.transaction_hash
            ))
        })?;
    Ok(Minted {
        token_id: event.tokenId,
        tx: receipt.transaction_hash,
        paid: event.escrow,
        block: receipt.block_number.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_nonce_matches_the_contract_vector() {
        // contracts/test/GenImTokenNFT.t.sol `test_PromptNonceVector`.
        let nonce = prompt_nonce(
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            "a fox in the snow",
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse()
                .unwrap(),
            U256::ZERO,
            U256::from(1_750_003_600u64),
        );
        let expected: B256 = "0x45e5641bb06f9dedc8f149678a57debaedf6670c026a90bd90199734d921d06d"
            .parse()
            .unwrap();
        assert_eq!(nonce, expected);
    }

    #[test]
    fn blank_and_long_prompts_are_refused_before_paying() {
        assert!(check_prompt("a fox").is_ok());
        assert_eq!(
            check_prompt("   \n").unwrap_err().to_string(),
            "empty prompt: describe the image to generate"
        );
        let long = "x".repeat(MAX_PROMPT_BYTES + 1);
        assert!(
            check_prompt(&long)
                .unwrap_err()
                .to_string()
                .starts_with("prompt too long")
        );
    }
}
