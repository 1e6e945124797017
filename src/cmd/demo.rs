//! `genim demo`: the whole system on one machine, in one command.

use crate::{
    amount::format_eth,
    chain::{ConnectOptions, Connection},
    generate::{self, GeneratorConfig, GeneratorKind},
    nft::{
        Nft,
        deploy::{self, DeployParams},
        mint::{self, MintRequest},
    },
    provide::{ImageProvider, ProvideOptions, Report},
    store::StoreSpec,
};
use alloy::{
    node_bindings::Anvil,
    primitives::{U256, utils::parse_ether},
    signers::local::PrivateKeySigner,
};
use eyre::{WrapErr, bail, eyre};
use std::{
    path::{Path, PathBuf},
    time::Duration,
};
use tokio::sync::mpsc;

/// Prompts minted by the demo's users.
const PROMPTS: [&str; 5] = [
    "a lighthouse on a cliff at dawn, watercolor",
    "a red fox sleeping in fresh snow",
    "a tiny robot watering a bonsai tree",
    "the skyline of a floating city above the clouds",
    "a bowl of ramen drawn as a vintage travel poster",
];

/// Arguments of `genim demo`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim demo
  genim demo --images 3 --out /tmp/genim-demo")]
pub struct DemoArgs {
    /// Images to mint (1-5), one per sample prompt, each from its own test account
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub images: u8,

    /// Folder for the content-addressed image store and the provider's state
    #[arg(long, value_name = "DIR", default_value = "genim-demo")]
    pub out: PathBuf,

    /// anvil binary [default: env ANVIL, else ./node_modules/.bin/anvil, else anvil on PATH]
    #[arg(long, value_name = "PATH")]
    pub anvil: Option<PathBuf>,
}

impl DemoArgs {
    /// Starts anvil, deploys, mints, provides until every image is delivered, prints a table.
    pub async fn run(self) -> eyre::Result<()> {
        let anvil_path = find_anvil(self.anvil.as_deref())?;
        eprintln!("starting anvil ({})", anvil_path.display());
        // Dropping the instance kills anvil, also when a step below fails or Ctrl-C arrives.
        let anvil = Anvil::new()
            .path(&anvil_path)
            .try_spawn()
            .map_err(|err| eyre!("cannot start anvil ({}): {err}", anvil_path.display()))?;
        let endpoint = anvil.endpoint();
        tokio::select! {
            result = self.run_on(&endpoint, anvil.keys()) => result,
            _ = super::provide::shutdown_signal() => bail!("interrupted"),
        }
    }

    async fn run_on(
        &self,
        url: &str,
        keys: &[alloy::signers::k256::SecretKey],
    ) -> eyre::Result<()> {
        let url: reqwest::Url = url.parse()?;
        let signer = |i: usize| PrivateKeySigner::from_signing_key(keys[i].clone().into());
        let open = |i: usize| {
            Connection::open(
                url.clone(),
                Some(signer(i)),
                ConnectOptions {
                    tx_timeout: Some(Duration::from_secs(30)),
                },
            )
        };
        let owner = open(0).await?;
        let provider_conn = open(1).await?;
        let provider = signer(1).address();

        let price = parse_ether("0.00003")?;
        let params = DeployParams {
            owner: None,
            price,
            fee_bps: 500,
            fee_recipient: None,
            delivery_window: 86_400,
            providers: vec![provider],
        };
        let deployment = deploy::deploy(&owner, &params).await?;
        let nft = Nft::open(&owner, deployment.nft).await?;
        eprintln!(
            "deployed GenImNFT at {} (chain {}), provider {provider}",
            nft.address, owner.chain_id
        );

        let images = usize::from(self.images);
        for (i, prompt) in PROMPTS.iter().take(images).enumerate() {
            let user = open(2 + i).await?;
            let request = MintRequest {
                prompt: (*prompt).into(),
                ..MintRequest::default()
            };
            let token = mint::mint(&user, &nft, &request).await?;
            eprintln!(
                "user {} minted token {} for {}: {prompt:?}",
                signer(2 + i).address(),
                token.token_id,
                format_eth(token.paid)
            );
        }

        let store_dir = self.out.join("store");
        let state_dir = self.out.join("state");
        // A fresh chain each run: old checkpoints would point past its blocks.
        if state_dir.exists() {
            std::fs::remove_dir_all(&state_dir)
                .wrap_err_with(|| format!("cannot clear {}", state_dir.display()))?;
        }
        let store = StoreSpec::Dir(store_dir.clone()).open()?;
        let generator = generate::from_config(&GeneratorConfig::new(GeneratorKind::Local))?;
        let opts = ProvideOptions {
            nfts: vec![nft.address],
            state_dir,
            from_block: Some(deployment.block),
            poll_interval: Duration::from_millis(100),
            batch_wait: Duration::from_millis(300),
            progress: false,
            ..ProvideOptions::default()
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let provider_run = ImageProvider::new(provider_conn, generator, store, opts).observe(tx);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let runner = tokio::spawn(provider_run.run(async {
            let _ = done_rx.await;
        }));

        let mut deliveries = Vec::new();
        let wait = async {
            while deliveries.len() < images {
                match rx.recv().await {
                    Some(Report::Delivered(delivery)) => deliveries.push(*delivery),
                    Some(Report::Failed {
                        token_id, error, ..
                    }) => {
                        bail!("token {token_id} failed: {error}")
                    }
                    Some(_) => {}
                    None => bail!("the provider stopped before delivering every image"),
                }
            }
            Ok(())
        };
        let waited = tokio::time::timeout(Duration::from_secs(120), wait).await;
        let _ = done_tx.send(());
        let totals = runner.await.wrap_err("provider task")??;
        waited.map_err(|_| eyre!("not every image was delivered within 120 s"))??;

        deliveries.sort_by_key(|d| d.token_id);
        let nft_contract = nft.contract(&owner);
        println!("| token | prompt | metadata CID (tokenURI) | payout | gas |");
        println!("|---:|---|---|---:|---:|");
        for d in &deliveries {
            let uri = nft_contract
                .tokenURI(U256::from(d.token_id))
                .call()
                .await
                .map_err(|e| owner.call_error(e))?;
            if uri != format!("ipfs://{}", d.metadata_cid) {
                bail!(
                    "token {} has URI {uri}, expected ipfs://{}",
                    d.token_id,
                    d.metadata_cid
                );
            }
            println!(
                "| {} | {} | {} | {} | {} |",
                d.token_id,
                d.prompt,
                d.metadata_cid,
                format_eth(d.payout),
                d.gas_used
            );
        }
        println!();
        println!(
            "{} images delivered, provider earned {} ({} gas in delivery transactions).",
            totals.delivered,
            format_eth(totals.earned),
            totals.gas_used
        );
        println!(
            "Images and metadata, each saved under its IPFS CID, are in {}:",
            store_dir.display()
        );
        for d in &deliveries {
            println!(
                "  token {}: image {}, metadata {}",
                d.token_id,
                store_dir.join(&d.image_cid).display(),
                store_dir.join(&d.metadata_cid).display()
            );
        }
        Ok(())
    }
}

/// anvil: `--anvil`, env `ANVIL`, `./node_modules/.bin/anvil`, or `anvil` on PATH.
pub fn find_anvil(explicit: Option<&Path>) -> eyre::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("ANVIL") {
        return Ok(path.into());
    }
    let local = Path::new("node_modules/.bin/anvil");
    if local.exists() {
        return Ok(local.to_path_buf());
    }
    if let Some(path) = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("anvil"))
        .find(|candidate| candidate.is_file())
    {
        return Ok(path);
    }
    bail!(
        "no anvil found: run `npm ci` in the genim checkout (it installs node_modules/.bin/anvil), set ANVIL, or pass --anvil PATH"
    )
}
