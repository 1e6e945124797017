//! Operations on genim's escrow NFT contracts: the ETH-priced `GenImNFT` and the token-priced
//! `GenImTokenNFT`, which share every function but the payment-in. Each operation takes a
//! [`Connection`] and an [`Nft`] and returns a value that serializes for `--json`.
//!
//! An [`Nft`] is only made from an address whose code genim recognizes ([`known`]): genim never
//! pays a contract it does not know, whatever a flag, a `genim.toml` or a record says.

pub mod deploy;
pub mod deployment;
pub mod known;
pub mod manage;
pub mod mint;
pub mod token;

use crate::{
    amount::Asset,
    bindings::gen_im_nft::GenImNFT::{self, GenImNFTInstance},
    chain::{ChainError, Connection},
};
use alloy::{primitives::Address, providers::DynProvider};
use deployment::{Deployment, RecordError};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use known::NftKind;

/// Errors of the NFT operations, each one line naming the contract, token or file.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// The chain failed or refused (unreachable, revert, funds...).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The address holds a contract genim does not know.
    #[error(
        "{address} on chain {chain_id} is not a GenImNFT that this genim knows ({reason}); \
         nothing was sent. Check the address (--nft, GENIM_NFT, the `nft` key of {config}, or \
         the deployment record)"
    )]
    Foreign {
        address: Address,
        chain_id: u64,
        reason: String,
        config: String,
    },
    /// No contract was given and no deployment record exists.
    #[error(
        "no GenImNFT given: pass --nft ADDRESS, or deploy one with `genim deploy` (there is no \
         {})", .0.display()
    )]
    NoneGiven(PathBuf),
    /// A deployment record cannot be read or written.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The request is refused before anything is sent.
    #[error("{0}")]
    Refused(String),
}

/// Where the contract address comes from, highest precedence first.
#[derive(Debug, Clone, Default)]
pub struct NftSource {
    /// `--nft` / `GENIM_NFT`.
    pub address: Option<Address>,
    /// The `nft` key of `genim.toml`.
    pub config: Option<Address>,
    /// The config file's path, for messages.
    pub config_path: Option<PathBuf>,
    /// Folder of deployment records (`<chain-id>.json`).
    pub deployments: PathBuf,
}

/// A recognized GenImNFT or GenImTokenNFT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Nft {
    /// The contract.
    pub address: Address,
    /// ETH- or token-priced.
    pub kind: NftKind,
    /// What its price, escrows, fees and payouts are in.
    pub asset: Asset,
}

impl Nft {
    /// Recognizes the contract at `address` by its code and reads its asset.
    pub async fn open(conn: &Connection, address: Address) -> Result<Self, NftError> {
        Self::open_with(conn, address, None).await
    }

    async fn open_with(
        conn: &Connection,
        address: Address,
        config: Option<&Path>,
    ) -> Result<Self, NftError> {
        let code = conn.contract_code(address).await?;
        let kind = known::identify(&code).map_err(|reason| NftError::Foreign {
            address,
            chain_id: conn.chain_id,
            reason,
            config: config.map_or_else(|| "genim.toml".into(), |p| p.display().to_string()),
        })?;
        let asset = match kind {
            NftKind::Eth => Asset::Eth,
            NftKind::Token => known::token_asset(conn, address).await?,
        };
        Ok(Self {
            address,
            kind,
            asset,
        })
    }

    /// Resolves the contract: `--nft`/`GENIM_NFT`, else the config's `nft`, else the deployment
    /// record of the RPC's chain id; then recognizes its code.
    pub async fn resolve(conn: &Connection, source: &NftSource) -> Result<Self, NftError> {
        let address = match source.address.or(source.config) {
            Some(address) => address,
            None => match Deployment::load(&source.deployments, conn.chain_id)? {
                Some(record) => record.nft,
                None => {
                    return Err(NftError::NoneGiven(Deployment::path(
                        &source.deployments,
                        conn.chain_id,
                    )));
                }
            },
        };
        Self::open_with(conn, address, source.config_path.as_deref()).await
    }

    /// A typed handle on `conn`'s provider. The token contract shares every function but the
    /// payment-in with GenImNFT, so these bindings serve both.
    pub fn contract(&self, conn: &Connection) -> GenImNFTInstance<DynProvider> {
        GenImNFT::new(self.address, conn.provider.clone())
    }

    /// `0.05 USDC`, `0.00003 ETH`.
    pub fn format(&self, amount: alloy::primitives::U256) -> String {
        self.asset.format(amount)
    }
}

/// Token ids in JSON: a number when it fits 53 bits (safe in JavaScript), else a decimal string.
pub mod token_id_json {
    use alloy::primitives::U256;
    use serde::Serializer;

    /// Serializes a token id.
    pub fn serialize<S: Serializer>(id: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        match u64::try_from(*id) {
            Ok(small) if small < (1 << 53) => serializer.serialize_u64(small),
            _ => serializer.serialize_str(&id.to_string()),
        }
    }
}
