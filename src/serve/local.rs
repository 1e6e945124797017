//! `genim serve` with nothing to point at: the local defaults of `genim demo`. A fresh anvil (on
//! 8545 when free, so every other genim command reaches it without `--rpc-url`),
//! Circle's real USDC (each dev account holds 1000), a revenue Splitter (5% marketplace, 10%
//! creator, 85% seller) and a GenImTokenNFT at 0.05 USDC whose fees go to it, with the server's
//! key (dev account 0) as its provider, and a few sample images already minted.

use crate::{
    chain::{ChainError, Connection},
    devnet::{Devnet, DevnetError},
    eip3009::Kind,
    nft::{
        Nft, NftError,
        deploy::{self, DeployError, DeployParams, FeeRecipient},
        deployment::SplitShare,
        mint::{self, MintRequest},
    },
    split::SplitError,
    usdc::{self, LocalUsdc, UsdcOptions},
};
use alloy::primitives::{Address, B256, U256};
use std::path::Path;

/// Prompts the sample users mint, so the gallery is not empty.
pub const SAMPLE_PROMPTS: [&str; 3] = [
    "a lighthouse on a cliff at dawn, watercolor",
    "a red fox sleeping in fresh snow",
    "a tiny robot watering a bonsai tree",
];

/// The price of one image on the local chain: 0.05 USDC.
pub const LOCAL_PRICE: u64 = 50_000;

/// Setting up the local chain failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Nft(#[from] NftError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error(transparent)]
    Split(#[from] SplitError),
}

/// A local chain set up for `genim serve`.
pub struct LocalChain {
    /// anvil; dropping it stops the chain.
    pub devnet: Devnet,
    /// The server's connection (dev account 0: owner, provider, relayer).
    pub conn: Connection,
    pub usdc: LocalUsdc,
    /// The revenue Splitter (fee recipient).
    pub splitter: Address,
    /// The GenImTokenNFT.
    pub nft: Nft,
    /// Block of its deployment (the gallery and the provider read from there).
    pub block: u64,
}

/// Starts anvil and deploys everything; `progress` gets one line per step.
pub async fn start(
    anvil: Option<&Path>,
    progress: impl Fn(&str),
) -> Result<LocalChain, LocalError> {
    let devnet = Devnet::start_preferring(anvil, 8545)?;
    let conn = devnet.connect(0).await?;
    let usdc = usdc::deploy(
        &conn,
        &UsdcOptions {
            holders: crate::devnet::dev_addresses(10),
            ..UsdcOptions::default()
        },
    )
    .await?;
    progress(&format!(
        "anvil at {} (chain {}); USDC (Circle's FiatTokenV2_2) at {}: each dev account holds \
         1000 USDC",
        devnet.url(),
        devnet.chain_id(),
        usdc.address
    ));
    let shares = vec![
        SplitShare {
            account: devnet.address(7),
            share: 5,
        },
        SplitShare {
            account: devnet.address(8),
            share: 10,
        },
        SplitShare {
            account: devnet.address(9),
            share: 85,
        },
    ];
    let params = DeployParams {
        token: Some(usdc.address),
        price: U256::from(LOCAL_PRICE),
        fee_bps: 500,
        fee_recipient: Some(FeeRecipient::Split {
            shares,
            salt: B256::ZERO,
            factory: None,
        }),
        delivery_window: 86_400,
        providers: vec![devnet.address(0)],
        ..DeployParams::default()
    };
    let deployment = deploy::deploy(&conn, &params).await?;
    let nft = Nft::open(&conn, deployment.nft).await?;
    let splitter = deployment
        .splitter
        .expect("a split deployment has a splitter");
    progress(&format!(
        "GenImTokenNFT at {} (0.05 USDC per image; fees to the Splitter {splitter}: 5% \
         marketplace, 10% creator, 85% seller)",
        nft.address
    ));
    for (i, prompt) in SAMPLE_PROMPTS.iter().enumerate() {
        let request = MintRequest {
            prompt: (*prompt).into(),
            ..MintRequest::default()
        };
        let signed =
            mint::sign_mint(&conn, &nft, &request, &devnet.signer(2 + i), Kind::Receive).await?;
        mint::relay_mint(&conn, &nft, &signed).await?;
    }
    Ok(LocalChain {
        conn,
        usdc,
        splitter,
        nft,
        block: deployment.block,
        devnet,
    })
}
