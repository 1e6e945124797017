//! `genim demo`: the whole system on one machine. A fresh anvil, the escrow NFT deployed with a
//! provider, sample users minting one image each, the provider loop delivering them with the
//! built-in generator into a local store, and what happened, token by token.

use crate::{
    amount::Asset,
    devnet::{Devnet, DevnetError},
    eip3009::Kind,
    generate::{self, GeneratorConfig, GeneratorKind},
    nft::{
        Nft, NftError,
        deploy::{self, DeployError, DeployParams},
        mint::{self, MintRequest},
    },
    provide::{ImageProvider, ProvideOptions, Report},
    store::StoreSpec,
    usdc::{self, UsdcOptions},
};
use alloy::primitives::{Address, U256, utils::parse_ether};
use serde::Serialize;
use std::{path::PathBuf, time::Duration};
use tokio::sync::mpsc;

/// Prompts minted by the demo's users.
pub const PROMPTS: [&str; 5] = [
    "a lighthouse on a cliff at dawn, watercolor",
    "a red fox sleeping in fresh snow",
    "a tiny robot watering a bonsai tree",
    "the skyline of a floating city above the clouds",
    "a bowl of ramen drawn as a vintage travel poster",
];

/// How long the demo waits for every image.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// What the demo's contract is priced in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DemoAsset {
    /// GenImNFT at 0.00003 ETH; users mint with ETH.
    #[default]
    Eth,
    /// GenImTokenNFT at 0.05 USDC (Circle's real USDC deployed on the fly); users mint
    /// gaslessly, a relayer submits their signed authorizations.
    Usdc,
}

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// What the contract is priced in.
    pub asset: DemoAsset,
    /// Images to mint (1-5), one per sample prompt, each from its own dev account.
    pub images: usize,
    /// Folder for the image store and the provider's state.
    pub out: PathBuf,
    /// anvil binary (default: see [`crate::devnet::find_anvil`]).
    pub anvil: Option<PathBuf>,
}

/// The demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Devnet(#[from] DevnetError),
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    #[error(transparent)]
    Nft(#[from] NftError),
    #[error(transparent)]
    Deploy(#[from] DeployError),
    #[error("{0}")]
    Setup(String),
    #[error("the provider failed: {0}")]
    Provider(String),
}

/// One delivered image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoImage {
    pub token_id: u64,
    pub prompt: String,
    pub image_cid: String,
    pub metadata_cid: String,
    /// What the provider earned for it.
    #[serde(with = "crate::amount::decimal")]
    pub payout: U256,
    /// Gas of its delivery (a batch's gas divided among its tokens).
    pub gas_used: u64,
}

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub chain_id: u64,
    pub nft: Address,
    pub provider: Address,
    /// What the contract is priced in.
    pub asset: Asset,
    pub images: Vec<DemoImage>,
    /// Gas of every delivery transaction.
    pub gas_used: u64,
    /// What the provider withdrew at the end of its run.
    #[serde(with = "crate::amount::decimal")]
    pub withdrawn: U256,
    /// Where images and metadata are, each under its CID.
    pub store: PathBuf,
}

/// Runs the demo; `progress` gets one line per step.
pub async fn run(options: &DemoOptions, progress: impl Fn(&str)) -> Result<DemoReport, DemoError> {
    let devnet = Devnet::start(options.anvil.as_deref(), None)?;
    progress(&format!("started anvil at {}", devnet.url()));
    let owner = devnet.connect(0).await?;
    let provider = devnet.address(1);
    let images = options.images.clamp(1, PROMPTS.len());
    let users: Vec<Address> = (0..images).map(|i| devnet.address(2 + i)).collect();
    let (token, price) = match options.asset {
        DemoAsset::Eth => (None, parse_ether("0.00003").expect("a valid amount")),
        DemoAsset::Usdc => {
            let usdc = usdc::deploy(
                &owner,
                &UsdcOptions {
                    holders: users.clone(),
                    ..UsdcOptions::default()
                },
            )
            .await?;
            progress(&format!(
                "deployed USDC (Circle's FiatTokenV2_2) at {}, 1000 USDC for each user",
                usdc.address
            ));
            (Some(usdc.address), U256::from(50_000u64))
        }
    };
    let params = DeployParams {
        token,
        price,
        fee_bps: 500,
        delivery_window: 86_400,
        providers: vec![provider],
        ..DeployParams::default()
    };
    let deployment = deploy::deploy(&owner, &params).await?;
    let nft = Nft::open(&owner, deployment.nft).await?;
    progress(&format!(
        "deployed {} at {} (chain {}), price {}, provider {provider}",
        if token.is_some() {
            "GenImTokenNFT"
        } else {
            "GenImNFT"
        },
        nft.address,
        owner.chain_id,
        nft.format(price)
    ));

    for (i, prompt) in PROMPTS.iter().take(images).enumerate() {
        let request = MintRequest {
            prompt: (*prompt).into(),
            ..MintRequest::default()
        };
        let token = match options.asset {
            DemoAsset::Eth => mint::mint(&devnet.connect(2 + i).await?, &nft, &request).await?,
            DemoAsset::Usdc => {
                // The user only signs; the owner's account relays and pays the gas.
                let signed =
                    mint::sign_mint(&owner, &nft, &request, &devnet.signer(2 + i), Kind::Receive)
                        .await?;
                mint::relay_mint(&owner, &nft, &signed).await?
            }
        };
        progress(&format!(
            "user {} minted token {} for {}{}: {prompt:?}",
            users[i],
            token.token_id,
            nft.format(token.paid),
            if options.asset == DemoAsset::Usdc {
                " without gas"
            } else {
                ""
            }
        ));
    }

    let store_dir = options.out.join("store");
    let state_dir = options.out.join("state");
    // A fresh chain each run: old checkpoints would point past its blocks.
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir).map_err(|err| {
            DemoError::Setup(format!("cannot clear {}: {err}", state_dir.display()))
        })?;
    }
    let store = StoreSpec::Dir(store_dir.clone())
        .open()
        .map_err(|err| DemoError::Setup(err.to_string()))?;
    let generator = generate::from_config(&GeneratorConfig::new(GeneratorKind::Local))
        .map_err(|err| DemoError::Setup(err.to_string()))?;
    let provide_options = ProvideOptions {
        nfts: vec![nft.address],
        state_dir,
        from_block: Some(deployment.block),
        poll_interval: Duration::from_millis(100),
        batch_wait: Duration::from_millis(300),
        progress: false,
        ..ProvideOptions::default()
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let provider_conn = devnet.connect(1).await?;
    let provider_run =
        ImageProvider::new(provider_conn, generator, store, provide_options).observe(tx);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(provider_run.run(async {
        let _ = done_rx.await;
    }));

    let mut delivered = Vec::new();
    let wait = async {
        while delivered.len() < images {
            match rx.recv().await {
                Some(Report::Delivered(delivery)) => delivered.push(*delivery),
                Some(Report::Failed {
                    token_id, error, ..
                }) => return Err(DemoError::Provider(format!("token {token_id}: {error}"))),
                Some(_) => {}
                None => {
                    return Err(DemoError::Provider(
                        "it stopped before delivering every image".into(),
                    ));
                }
            }
        }
        Ok(())
    };
    let waited = tokio::time::timeout(DELIVERY_TIMEOUT, wait).await;
    let _ = done_tx.send(());
    let totals = runner
        .await
        .map_err(|err| DemoError::Provider(err.to_string()))?
        .map_err(|err| DemoError::Provider(crate::logging::one_line(&err)))?;
    waited.map_err(|_| {
        DemoError::Provider(format!(
            "not every image was delivered within {} s",
            DELIVERY_TIMEOUT.as_secs()
        ))
    })??;

    delivered.sort_by_key(|d| d.token_id);
    let contract = nft.contract(&owner);
    let mut rows = Vec::new();
    for d in delivered {
        // The token's URI must name exactly the stored metadata.
        let uri = contract
            .tokenURI(U256::from(d.token_id))
            .call()
            .await
            .map_err(|err| owner.call_error(err))?;
        if uri != format!("ipfs://{}", d.metadata_cid) {
            return Err(DemoError::Provider(format!(
                "token {} has URI {uri}, expected ipfs://{}",
                d.token_id, d.metadata_cid
            )));
        }
        rows.push(DemoImage {
            token_id: d.token_id,
            prompt: d.prompt,
            image_cid: d.image_cid,
            metadata_cid: d.metadata_cid,
            payout: d.payout,
            gas_used: d.gas_used,
        });
    }
    Ok(DemoReport {
        chain_id: owner.chain_id,
        nft: nft.address,
        provider,
        asset: nft.asset,
        images: rows,
        gas_used: totals.gas_used,
        withdrawn: totals.withdrawn,
        store: store_dir,
    })
}
