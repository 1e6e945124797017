//! Revenue splitters: EIP-1167 clones of `Splitter` made by one `SplitterFactory`, which genim
//! deploys once per chain at a deterministic address (CREATE2 through the standard deployer
//! `0x4e59b448...`, present on anvil, Base and OP), so every later split reuses it.

use crate::{
    amount::{Asset, decimal},
    bindings::{splitter::Splitter, splitter_factory::SplitterFactory},
    chain::{ChainError, Connection, call_tx, receipt_event},
    nft::deployment::SplitShare,
};
use alloy::{
    primitives::{Address, B256, Bytes, TxHash, U256, address, keccak256},
    providers::Provider,
};
use serde::Serialize;
use tracing::info;

/// The deterministic-deployment proxy (Arachnid's CREATE2 factory).
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920ca78fbf26c0b4956c");

/// Salt of genim's SplitterFactory deployment.
const FACTORY_SALT: B256 = B256::ZERO;

/// Errors of splitter operations.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The chain failed or refused.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The split text is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The chain has no deterministic deployer to create the factory with.
    #[error(
        "chain {0} has no CREATE2 deployer at 0x4e59b44847b379578588920ca78fbf26c0b4956c: pass \
         --factory ADDRESS of a SplitterFactory"
    )]
    NoDeployer(u64),
}

/// Parses `0xA..:85,0xB..:15` into shares (each recipient once, each share above zero).
pub fn parse_split(text: &str) -> Result<Vec<SplitShare>, SplitError> {
    let mut shares: Vec<SplitShare> = Vec::new();
    let invalid = |message: String| SplitError::Invalid(message);
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let Some((account, share)) = part.rsplit_once(':') else {
            return Err(invalid(format!(
                "invalid split entry '{part}': expected ADDRESS:SHARE"
            )));
        };
        let account = crate::parse::address(account).map_err(|err| invalid(err.to_string()))?;
        let share: u64 = share.trim().parse().map_err(|_| {
            invalid(format!(
                "invalid split entry '{part}': the share must be a whole number"
            ))
        })?;
        if share == 0 {
            return Err(invalid(format!(
                "invalid split entry '{part}': the share must be above zero"
            )));
        }
        if shares.iter().any(|existing| existing.account == account) {
            return Err(invalid(format!("invalid split: {account} is listed twice")));
        }
        shares.push(SplitShare { account, share });
    }
    if !(1..=32).contains(&shares.len()) {
        return Err(invalid(format!(
            "invalid split '{text}': give 1 to 32 ADDRESS:SHARE entries"
        )));
    }
    Ok(shares)
}

/// `0x` + 64 hex digits as is; any other text hashed.
pub fn parse_salt(text: &str) -> B256 {
    text.parse().unwrap_or_else(|_| keccak256(text.as_bytes()))
}

/// The address of genim's SplitterFactory on every chain with the CREATE2 deployer.
pub fn factory_address() -> Address {
    CREATE2_DEPLOYER.create2_from_code(FACTORY_SALT, &SplitterFactory::BYTECODE)
}

/// The SplitterFactory to use: `explicit` (must hold code), else genim's deterministic one,
/// deployed now if this chain does not have it yet. Returns it and the deploying transaction.
pub async fn ensure_factory(
    conn: &Connection,
    explicit: Option<Address>,
) -> Result<(Address, Option<TxHash>), SplitError> {
    if let Some(factory) = explicit {
        conn.contract_code(factory).await?;
        return Ok((factory, None));
    }
    let factory = factory_address();
    if conn.contract_code(factory).await.is_ok() {
        return Ok((factory, None));
    }
    if conn.contract_code(CREATE2_DEPLOYER).await.is_err() {
        return Err(SplitError::NoDeployer(conn.chain_id));
    }
    let input: Bytes = [FACTORY_SALT.as_slice(), &SplitterFactory::BYTECODE[..]]
        .concat()
        .into();
    let receipt = conn
        .send(call_tx(CREATE2_DEPLOYER, input, U256::ZERO))
        .await?;
    conn.contract_code(factory).await?;
    info!(%factory, "SplitterFactory deployed");
    Ok((factory, Some(receipt.transaction_hash)))
}

/// A splitter created (or found) for a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    /// The clone.
    pub splitter: Address,
    /// The factory that made it.
    pub factory: Address,
    /// `createSplitter`, none when the clone existed.
    pub tx: Option<TxHash>,
}

/// Creates the Splitter clone for `shares` and `salt` through `factory`, or finds it when it
/// already exists.
pub async fn create(
    conn: &Connection,
    factory: Address,
    shares: &[SplitShare],
    salt: B256,
) -> Result<Created, SplitError> {
    let contract = SplitterFactory::new(factory, conn.provider.clone());
    let recipients: Vec<Address> = shares.iter().map(|share| share.account).collect();
    let amounts: Vec<U256> = shares.iter().map(|share| U256::from(share.share)).collect();
    let predicted = contract
        .predictSplitter(recipients.clone(), amounts.clone(), salt)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    if conn.contract_code(predicted).await.is_ok() {
        info!(splitter = %predicted, "splitter exists, reusing it");
        return Ok(Created {
            splitter: predicted,
            factory,
            tx: None,
        });
    }
    let tx = contract
        .createSplitter(recipients, amounts, salt)
        .into_transaction_request();
    let receipt = conn.send(tx).await?;
    let splitter = receipt_event::<SplitterFactory::SplitterCreated>(&receipt, factory)
        .map(|event| event.splitter)
        .unwrap_or(predicted);
    Ok(Created {
        splitter,
        factory,
        tx: Some(receipt.transaction_hash),
    })
}

/// One recipient as `split show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub account: Address,
    #[serde(with = "decimal")]
    pub share: U256,
    #[serde(with = "decimal")]
    pub released: U256,
    #[serde(with = "decimal")]
    pub releasable: U256,
}

/// A splitter's state in one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitterState {
    pub splitter: Address,
    /// What the amounts are in.
    #[serde(skip)]
    pub asset: Asset,
    #[serde(with = "decimal")]
    pub balance: U256,
    #[serde(with = "decimal")]
    pub total_shares: U256,
    pub recipients: Vec<Recipient>,
}

/// Reads a splitter's recipients, shares, released and releasable amounts of `asset`.
pub async fn show(
    conn: &Connection,
    splitter: Address,
    asset: &Asset,
) -> Result<SplitterState, SplitError> {
    conn.contract_code(splitter).await?;
    let contract = Splitter::new(splitter, conn.provider.clone());
    let call_err = |err| conn.call_error(err);
    let token = asset.token();
    let recipients = contract.recipients().call().await.map_err(call_err)?;
    let total = contract.totalShares().call().await.map_err(call_err)?;
    let balance = balance_of(conn, token, splitter).await?;
    let mut rows = Vec::new();
    for account in recipients {
        let share = contract.shares(account).call().await.map_err(call_err)?;
        let released = contract
            .released(token.unwrap_or(Address::ZERO), account)
            .call()
            .await
            .map_err(call_err)?;
        let releasable = match token {
            None => contract.releasable_0(account).call().await,
            Some(token) => contract.releasable_1(token, account).call().await,
        }
        .map_err(call_err)?;
        rows.push(Recipient {
            account,
            share,
            released,
            releasable,
        });
    }
    Ok(SplitterState {
        splitter,
        asset: asset.clone(),
        balance,
        total_shares: total,
        recipients: rows,
    })
}

/// A release that went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub account: Address,
    #[serde(with = "decimal")]
    pub amount: U256,
    pub tx: TxHash,
}

/// Sends `accounts` (default: every recipient with something releasable) their part of
/// `asset`. Nothing releasable is not an error: the result is then empty.
pub async fn release(
    conn: &Connection,
    splitter: Address,
    asset: &Asset,
    accounts: &[Address],
) -> Result<Vec<Released>, SplitError> {
    conn.signer()?;
    conn.contract_code(splitter).await?;
    let contract = Splitter::new(splitter, conn.provider.clone());
    let token = asset.token();
    let targets = if accounts.is_empty() {
        contract
            .recipients()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?
    } else {
        accounts.to_vec()
    };
    let mut released = Vec::new();
    for account in targets {
        let releasable = match token {
            None => contract.releasable_0(account).call().await,
            Some(token) => contract.releasable_1(token, account).call().await,
        }
        .map_err(|err| conn.call_error(err))?;
        if releasable.is_zero() {
            continue;
        }
        let tx = match token {
            None => contract.release_0(account).into_transaction_request(),
            Some(token) => contract
                .release_1(token, account)
                .into_transaction_request(),
        };
        let receipt = conn.send(tx).await?;
        let amount = receipt_event::<Splitter::PaymentReleased>(&receipt, splitter)
            .map(|event| event.amount)
            .unwrap_or(releasable);
        released.push(Released {
            account,
            amount,
            tx: receipt.transaction_hash,
        });
    }
    Ok(released)
}

/// ETH (`token` none) or ERC-20 balance of `account`.
pub async fn balance_of(
    conn: &Connection,
    token: Option<Address>,
    account: Address,
) -> Result<U256, ChainError> {
    match token {
        None => conn
            .provider
            .get_balance(account)
            .await
            .map_err(|err| conn.rpc_error(err)),
        Some(token) => crate::nft::known::IERC20::new(token, conn.provider.clone())
            .balanceOf(account)
            .call()
            .await
            .map_err(|err| conn.call_error(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_splits() {
        let shares = parse_split(
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:5, 0x90F79bf6EB2c4f870365E785982E1f101E93b906:95",
        )
        .unwrap();
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[1].share, 95);
        for bad in [
            "",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:0",
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:1,0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:2",
        ] {
            assert!(parse_split(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn factory_address_is_deterministic() {
        assert_eq!(factory_address(), factory_address());
        assert_eq!(parse_salt("x"), keccak256(b"x"));
    }
}
