//! `genim deploy`: the escrow NFT, optionally a fee Splitter, and its first providers.
//!
//! Every step waits for its receipt. A failure after something was created still names what
//! was created (addresses and transactions), so nothing deployed is ever lost.

use super::deployment::{
    ConstructorArgs, Deployment, DeploymentTxs, RecordError, SplitShare, compiler_version,
};
use crate::{
    bindings::{gen_im_nft::GenImNFT, gen_im_token_nft::GenImTokenNFT},
    chain::{ChainError, Connection},
    split,
};
use alloy::primitives::{Address, B256, TxHash, U256};
use std::fmt::Write as _;
use tracing::info;

/// Where the fees go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeRecipient {
    /// A plain address.
    Address(Address),
    /// A Splitter clone over these shares, made by `factory` (else genim's deterministic
    /// factory) with `salt`; reused when that split already exists.
    Split {
        shares: Vec<SplitShare>,
        salt: B256,
        factory: Option<Address>,
    },
}

/// What to deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployParams {
    /// Contract owner [default: the deployer].
    pub owner: Option<Address>,
    /// The EIP-3009 token (USDC, EURC) to price in: a GenImTokenNFT; `None`: a GenImNFT in ETH.
    pub token: Option<Address>,
    /// Price per mint in the asset's smallest unit.
    pub price: U256,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// Fee recipient [default (`None`): the deployer].
    pub fee_recipient: Option<FeeRecipient>,
    /// Seconds before an undelivered token may be refunded.
    pub delivery_window: u64,
    /// Providers to authorize.
    pub providers: Vec<Address>,
}

/// A deployment that failed part-way: what exists already, and why it stopped.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}{}", created_suffix(.created))]
pub struct DeployError {
    /// The step that failed ("deploying GenImNFT", "authorizing provider 0x..").
    pub step: String,
    /// What was created before the failure: (what, address, transaction).
    pub created: Vec<(String, Address, Option<TxHash>)>,
    #[source]
    pub source: DeployFailure,
}

/// The cause of a [`DeployError`].
#[derive(Debug, thiserror::Error)]
pub enum DeployFailure {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Split(#[from] split::SplitError),
    #[error(transparent)]
    Record(#[from] RecordError),
}

fn created_suffix(created: &[(String, Address, Option<TxHash>)]) -> String {
    if created.is_empty() {
        return String::new();
    }
    let mut out = String::from(" (already created: ");
    for (i, (what, address, tx)) in created.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{what} {address}");
        if let Some(tx) = tx {
            let _ = write!(out, " in tx {tx}");
        }
    }
    out.push(')');
    out
}

/// Deploys the escrow NFT (and, for a split, a Splitter clone as fee recipient), authorizes
/// the providers, and returns the record to save.
pub async fn deploy(conn: &Connection, params: &DeployParams) -> Result<Deployment, DeployError> {
    let mut created: Vec<(String, Address, Option<TxHash>)> = Vec::new();
    let fail = |step: &str, created: &Vec<_>, source: DeployFailure| DeployError {
        step: step.to_owned(),
        created: created.clone(),
        source,
    };
    let deployer = conn
        .signer()
        .map_err(|err| fail("deploying", &created, err.into()))?;
    let owner = params.owner.unwrap_or(deployer);
    let mut txs = DeploymentTxs::default();
    let (mut splitter, mut splitter_factory, mut split_shares) = (None, None, None);
    let fee_recipient = match &params.fee_recipient {
        None => deployer,
        Some(FeeRecipient::Address(address)) => *address,
        Some(FeeRecipient::Split {
            shares,
            salt,
            factory,
        }) => {
            let (factory, factory_tx) = split::ensure_factory(conn, *factory)
                .await
                .map_err(|err| fail("deploying the SplitterFactory", &created, err.into()))?;
            if factory_tx.is_some() {
                created.push(("SplitterFactory".into(), factory, factory_tx));
            }
            txs.splitter_factory = factory_tx;
            let made = split::create(conn, factory, shares, *salt)
                .await
                .map_err(|err| fail("creating the fee Splitter", &created, err.into()))?;
            if made.tx.is_some() {
                created.push(("Splitter".into(), made.splitter, made.tx));
            }
            txs.splitter = made.tx;
            splitter = Some(made.splitter);
            splitter_factory = Some(factory);
            split_shares = Some(shares.clone());
            made.splitter
        }
    };
    let args = ConstructorArgs {
        owner,
        token: params.token,
        price: params.price,
        fee_bps: params.fee_bps,
        fee_recipient,
        delivery_window: params.delivery_window,
    };
    let (name, tx, bytecode) = match params.token {
        None => (
            "GenImNFT",
            GenImNFT::deploy_builder(
                conn.provider.clone(),
                args.owner,
                args.price,
                args.fee_bps,
                args.fee_recipient,
                args.delivery_window,
            )
            .into_transaction_request(),
            &GenImNFT::BYTECODE,
        ),
        Some(token) => (
            "GenImTokenNFT",
            GenImTokenNFT::deploy_builder(
                conn.provider.clone(),
                args.owner,
                token,
                args.price,
                args.fee_bps,
                args.fee_recipient,
                args.delivery_window,
            )
            .into_transaction_request(),
            &GenImTokenNFT::BYTECODE,
        ),
    };
    let step = format!("deploying {name}");
    let receipt = conn
        .send(tx)
        .await
        .map_err(|err| fail(&step, &created, err.into()))?;
    let nft = receipt.contract_address.ok_or_else(|| {
        fail(
            &step,
            &created,
            ChainError::Reverted("the deployment has no contract address".into()).into(),
        )
    })?;
    created.push((name.into(), nft, Some(receipt.transaction_hash)));
    txs.nft = receipt.transaction_hash;
    let block = receipt.block_number.unwrap_or_default();
    info!(%nft, block, "{name} deployed");
    let contract = GenImNFT::new(nft, conn.provider.clone());
    for provider in &params.providers {
        let tx = contract
            .setProvider(*provider, true)
            .into_transaction_request();
        let receipt = conn.send(tx).await.map_err(|err| {
            fail(
                &format!("authorizing provider {provider}"),
                &created,
                err.into(),
            )
        })?;
        txs.providers.push(receipt.transaction_hash);
    }
    Ok(Deployment {
        chain_id: conn.chain_id,
        nft,
        splitter,
        splitter_factory,
        split: split_shares,
        providers: params.providers.clone(),
        block,
        tx: txs,
        constructor_args: args,
        compiler: compiler_version(bytecode).unwrap_or_else(|| "unknown".into()),
        genim_version: env!("CARGO_PKG_VERSION").into(),
    })
}
