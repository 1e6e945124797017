//! Minting: pay the price (held in escrow) and get a token whose image providers generate.

use super::{Nft, NftError, NftKind, token_id_json};
use crate::{
    amount::decimal,
    bindings::gen_im_nft::GenImNFT,
    chain::{ChainError, Connection, receipt_event},
};
use alloy::primitives::{TxHash, U256};
use serde::Serialize;

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

/// Mints a token for `request.prompt` on an ETH-priced contract, paying the price (or exactly
/// `request.value`), and decodes its id from the receipt's `ImageRequested` log.
pub async fn mint(conn: &Connection, nft: &Nft, request: &MintRequest) -> Result<Minted, NftError> {
    check_prompt(&request.prompt)?;
    conn.signer()?;
    let value = price_to_pay(conn, nft, request).await?;
    if nft.kind != NftKind::Eth {
        return Err(NftError::Refused(format!(
            "{} is priced in {}; token-priced mints are not supported by this call",
            nft.address,
            nft.asset.symbol()
        )));
    }
    let tx = nft
        .contract(conn)
        .mint(request.prompt.clone())
        .value(value)
        .into_transaction_request();
    let receipt = conn.send(tx).await?;
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
