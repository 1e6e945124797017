//! Payouts (refund, withdraw, fees) and the owner's settings (providers, price). Each returns
//! what happened, for a sentence or `--json`. Asking for money when there is none is not an
//! error: nothing is sent and the amount is zero (the same rule as `split release`).

use super::{Nft, NftError, token_id_json};
use crate::{
    amount::decimal,
    bindings::gen_im_nft::GenImNFT,
    chain::{Connection, receipt_event},
};
use alloy::primitives::{Address, TxHash, U256};
use serde::Serialize;

/// A refund (`--json`: `tokenId`, `amount`, `tx`, `credited`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refunded {
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    /// The escrow returned.
    #[serde(with = "decimal")]
    pub amount: U256,
    pub tx: TxHash,
    /// The push failed and the amount was credited instead (see `withdraw`).
    pub credited: bool,
}

/// Burns the signer's undelivered token after its deadline for its escrow.
pub async fn refund(conn: &Connection, nft: &Nft, token_id: U256) -> Result<Refunded, NftError> {
    conn.signer()?;
    let tx = nft
        .contract(conn)
        .refund(token_id)
        .into_transaction_request();
    let receipt = conn.send(tx).await?;
    let amount = receipt_event::<GenImNFT::Refunded>(&receipt, nft.address)
        .map(|event| event.amount)
        .unwrap_or_default();
    let credited = receipt_event::<GenImNFT::Credited>(&receipt, nft.address).is_some();
    Ok(Refunded {
        token_id,
        amount,
        tx: receipt.transaction_hash,
        credited,
    })
}

/// A withdrawal (`--json`: `account`, `amount`, `tx`; `tx` null when there was nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawn {
    pub account: Address,
    #[serde(with = "decimal")]
    pub amount: U256,
    pub tx: Option<TxHash>,
}

/// Sends the signer what the contract holds for it: a provider's earnings from deliveries,
/// and refunds credited after a failed push.
pub async fn withdraw(conn: &Connection, nft: &Nft) -> Result<Withdrawn, NftError> {
    let account = conn.signer()?;
    let owed = withdrawable(conn, nft, account).await?;
    if owed.is_zero() {
        return Ok(Withdrawn {
            account,
            amount: U256::ZERO,
            tx: None,
        });
    }
    let receipt = conn
        .send(nft.contract(conn).withdraw().into_transaction_request())
        .await?;
    let amount = receipt_event::<GenImNFT::Withdrawn>(&receipt, nft.address)
        .map(|event| event.amount)
        .unwrap_or(owed);
    Ok(Withdrawn {
        account,
        amount,
        tx: Some(receipt.transaction_hash),
    })
}

/// What `withdraw()` would pay `account` now: earnings plus credit.
pub async fn withdrawable(
    conn: &Connection,
    nft: &Nft,
    account: Address,
) -> Result<U256, NftError> {
    let contract = nft.contract(conn);
    let credit = contract
        .credit(account)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let earnings = contract
        .earnings(account)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(credit + earnings)
}

/// Fees sent or accrued (`--json`: `amount`, `recipient`, `tx`; `tx` null when nothing was
/// sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fees {
    #[serde(with = "decimal")]
    pub amount: U256,
    pub recipient: Address,
    pub tx: Option<TxHash>,
}

/// The fees accrued and not yet sent, and where they go.
pub async fn accrued_fees(conn: &Connection, nft: &Nft) -> Result<Fees, NftError> {
    let contract = nft.contract(conn);
    let amount = contract
        .accruedFees()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let recipient = contract
        .feeRecipient()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(Fees {
        amount,
        recipient,
        tx: None,
    })
}

/// Sends the accrued fees to the fee recipient (anyone may); nothing is sent when none accrued.
pub async fn withdraw_fees(conn: &Connection, nft: &Nft) -> Result<Fees, NftError> {
    conn.signer()?;
    let accrued = accrued_fees(conn, nft).await?;
    if accrued.amount.is_zero() {
        return Ok(accrued);
    }
    let receipt = conn
        .send(nft.contract(conn).withdrawFees().into_transaction_request())
        .await?;
    let (amount, recipient) = receipt_event::<GenImNFT::FeesWithdrawn>(&receipt, nft.address)
        .map(|event| (event.amount, event.recipient))
        .unwrap_or((accrued.amount, accrued.recipient));
    Ok(Fees {
        amount,
        recipient,
        tx: Some(receipt.transaction_hash),
    })
}

/// A provider authorized or removed (`--json`: `provider`, `authorized`, `tx`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSet {
    pub provider: Address,
    pub authorized: bool,
    pub tx: TxHash,
}

/// Authorizes or removes an image provider (owner only).
pub async fn set_provider(
    conn: &Connection,
    nft: &Nft,
    provider: Address,
    authorized: bool,
) -> Result<ProviderSet, NftError> {
    conn.signer()?;
    let tx = nft
        .contract(conn)
        .setProvider(provider, authorized)
        .into_transaction_request();
    let receipt = conn.send(tx).await?;
    Ok(ProviderSet {
        provider,
        authorized,
        tx: receipt.transaction_hash,
    })
}

/// One listed provider (`--json`: `provider`, `authorized`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderEntry {
    pub provider: Address,
    pub authorized: bool,
}

/// The contract's providers and whether each may deliver now.
pub async fn providers(conn: &Connection, nft: &Nft) -> Result<Vec<ProviderEntry>, NftError> {
    let contract = nft.contract(conn);
    let listed = contract
        .providers()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let mut rows = Vec::with_capacity(listed.len());
    for provider in listed {
        let authorized = contract
            .isProvider(provider)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        rows.push(ProviderEntry {
            provider,
            authorized,
        });
    }
    Ok(rows)
}

/// The current price (`--json`: `price`; with `set`, also `tx`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    #[serde(with = "decimal")]
    pub price: U256,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx: Option<TxHash>,
}

/// Reads the price of the next mint.
pub async fn price(conn: &Connection, nft: &Nft) -> Result<Price, NftError> {
    let price = nft
        .contract(conn)
        .price()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(Price { price, tx: None })
}

/// Sets the price of future mints (owner only).
pub async fn set_price(conn: &Connection, nft: &Nft, price: U256) -> Result<Price, NftError> {
    conn.signer()?;
    let receipt = conn
        .send(
            nft.contract(conn)
                .setPrice(price)
                .into_transaction_request(),
        )
        .await?;
    let price = receipt_event::<GenImNFT::PriceSet>(&receipt, nft.address)
        .map(|event| event.price)
        .unwrap_or(price);
    Ok(Price {
        price,
        tx: Some(receipt.transaction_hash),
    })
}
