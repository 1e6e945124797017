//! `genim provide`: run the image provider.

use crate::{
    chain,
    generate::{self, Generator, GeneratorConfig, GeneratorKind, Size, Timeouts},
    opts::{ContractOpts, RpcOpts, WalletOpts},
    provide::{ImageProvider, ProvideOptions, RetryPolicy, Shard},
    store::StoreSpec,
    units::format_eth,
};
use alloy::primitives::Address;
use eyre::WrapErr;
use reqwest::Url;
use std::{path::PathBuf, sync::Arc, time::Duration};

/// Which image generator to use and how (`--generator` and its options).
#[derive(Debug, Clone, clap::Args)]
pub struct GeneratorOpts {
    /// Image generator: local (built-in, offline, deterministic), openai (OpenAI-compatible
    /// /v1/images/generations: OpenAI, DeepInfra, IONOS), bfl (Black Forest Labs)
    #[arg(
        long = "generator",
        env = "GENIM_GENERATOR",
        value_name = "KIND",
        default_value = "local"
    )]
    pub kind: GeneratorKind,

    /// API base URL [default: https://api.openai.com for openai, https://api.bfl.ai for bfl]
    #[arg(
        long = "generator-url",
        env = "GENIM_GENERATOR_URL",
        value_name = "URL"
    )]
    pub base_url: Option<Url>,

    /// Model [default: local-v1, gpt-image-1 or flux-pro-1.1]
    #[arg(long, env = "GENIM_MODEL")]
    pub model: Option<String>,

    /// Image size WIDTHxHEIGHT [default: 512x512 for local, 1024x1024 otherwise]
    #[arg(long, value_name = "WxH")]
    pub size: Option<Size>,

    /// Environment variable holding the API key [default: OPENAI_API_KEY or BFL_API_KEY]
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Seconds one generation may take, polling and download included
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub generator_timeout: u64,
}

impl Default for GeneratorOpts {
    /// The built-in local generator at its default size.
    fn default() -> Self {
        Self {
            kind: GeneratorKind::Local,
            base_url: None,
            model: None,
            size: None,
            api_key_env: None,
            generator_timeout: 300,
        }
    }
}

impl GeneratorOpts {
    /// Builds the generator (reading its API key from the environment, never printing it).
    pub fn build(&self) -> eyre::Result<Arc<dyn Generator>> {
        let overall = Duration::from_secs(self.generator_timeout.max(1));
        let defaults = Timeouts::default();
        let config = GeneratorConfig {
            kind: self.kind,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            size: self.size,
            api_key_env: self.api_key_env.clone(),
            timeouts: Timeouts {
                request: defaults.request.min(overall),
                overall,
                ..defaults
            },
        };
        Ok(generate::from_config(&config)?)
    }
}

/// Arguments of `genim provide`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # serve the contract of deployments/<chain-id>.json with the built-in generator
  genim provide --private-key $PROVIDER_KEY --generator local --store dir:./images
  # OpenAI-compatible API, IPFS, two instances splitting the work
  OPENAI_API_KEY=.. genim provide --nft 0x.. --generator openai --model gpt-image-1 \\
      --store ipfs:http://127.0.0.1:5001 --shard 0/2
  # cron job: handle everything pending now, then exit
  genim provide --once --store dir:./images")]
pub struct ProvideArgs {
    /// GenImNFT contract to serve; repeat for several [default: from deployments/<chain-id>.json]
    #[arg(long = "nft", value_name = "ADDRESS")]
    pub nfts: Vec<String>,

    #[command(flatten)]
    pub generator: GeneratorOpts,

    /// Where images and metadata go: dir:PATH (content-addressed folder) or ipfs:URL (Kubo RPC
    /// API, e.g. ipfs:http://127.0.0.1:5001)
    #[arg(
        long,
        env = "GENIM_STORE",
        value_name = "KIND:ARG",
        default_value = "dir:genim-store"
    )]
    pub store: StoreSpec,

    /// Folder for checkpoints and per-token records (keep it across restarts)
    #[arg(
        long,
        env = "GENIM_STATE_DIR",
        value_name = "DIR",
        default_value = ".genim/provider"
    )]
    pub state_dir: PathBuf,

    /// Images generated at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Most tokens delivered in one transaction
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=200))]
    pub batch_max: u16,

    /// How long a finished image waits for others to share its transaction (ms)
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub batch_wait: u64,

    /// Take tokens with id % N == I first, others only after --shard-grace
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,

    /// Seconds another shard's token must stay pending before this instance takes it
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub shard_grace: u64,

    /// Handle everything pending now, then exit (for cron jobs and tests)
    #[arg(long)]
    pub once: bool,

    /// How often to look for new blocks (ms) [default: 100 on a local node, 1000 otherwise]
    #[arg(long, value_name = "MS")]
    pub poll_interval: Option<u64>,

    /// Most blocks per eth_getLogs call
    #[arg(long, default_value_t = 2000, value_name = "BLOCKS")]
    pub chunk_blocks: u64,

    /// Blocks behind the head read again on every poll, in case of reorgs
    #[arg(long, default_value_t = 32, value_name = "BLOCKS")]
    pub reorg_blocks: u64,

    /// First block to read when there is no checkpoint [default: the deployment's block]
    #[arg(long, value_name = "BLOCK")]
    pub from_block: Option<u64>,

    /// Attempts per generator, store or RPC call before giving up on a token
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,

    /// Seconds in-flight work may take to finish after SIGINT/SIGTERM
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub shutdown_timeout: u64,

    /// Print the totals at exit as JSON: {"delivered","skipped","failed","earned","gasUsed"}
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl ProvideArgs {
    /// Connects, checks the provider's authorization and runs until SIGINT/SIGTERM (or, with
    /// `--once`, until everything pending is handled); prints the totals.
    pub async fn run(self) -> eyre::Result<()> {
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        conn.signer()?;
        let nfts = self.contracts(&conn).await?;
        let generator = self.generator.build()?;
        let store = self.store.open()?;
        let local = conn
            .url
            .host_str()
            .is_some_and(|h| h == "127.0.0.1" || h == "localhost");
        let poll = self.poll_interval.unwrap_or(if local { 100 } else { 1000 });
        let opts = ProvideOptions {
            nfts,
            state_dir: self.state_dir,
            concurrency: self.concurrency.into(),
            batch_max: self.batch_max.into(),
            batch_wait: Duration::from_millis(self.batch_wait),
            shard: self.shard,
            shard_grace: Duration::from_secs(self.shard_grace),
            once: self.once,
            poll_interval: Duration::from_millis(poll),
            chunk_blocks: self.chunk_blocks.max(1),
            reorg_blocks: self.reorg_blocks,
            from_block: self.from_block,
            retry: RetryPolicy {
                attempts: self.attempts,
                ..RetryPolicy::default()
            },
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            progress: true,
        };
        tracing::info!(generator = %generator.describe(), store = %store.describe(), "starting the provider");
        let totals = ImageProvider::new(conn, generator, store, opts)
            .run(shutdown_signal())
            .await?;
        if self.json {
            println!("{}", serde_json::to_string(&totals)?);
        } else {
            println!(
                "delivered {} · skipped {} · failed {} · earned {} · gas {}",
                totals.delivered,
                totals.skipped,
                totals.failed,
                format_eth(totals.earned),
                totals.gas_used
            );
        }
        Ok(())
    }

    async fn contracts(&self, conn: &chain::Connection) -> eyre::Result<Vec<Address>> {
        if self.nfts.is_empty() {
            let from_record = ContractOpts {
                nft: None,
                deployments: None,
            };
            return Ok(vec![chain::resolve_nft(conn, &from_record).await?]);
        }
        let mut nfts = Vec::new();
        for text in &self.nfts {
            let one = ContractOpts {
                nft: Some(text.clone()),
                deployments: None,
            };
            nfts.push(chain::resolve_nft(conn, &one).await.wrap_err("--nft")?);
        }
        Ok(nfts)
    }
}

/// Completes on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
