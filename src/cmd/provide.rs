//! `genim provide`: run the image provider.

use super::{
    generator_opts::GeneratorOpts,
    opts::{ContractOpts, RpcOpts, WalletOpts, parse_address},
    print, print_json,
};
use crate::{
    amount::format_eth,
    chain::Connection,
    config::Config,
    nft::Nft,
    provide::{ImageProvider, ProvideOptions, RetryPolicy, Shard, failed_tokens},
    store::StoreSpec,
};
use alloy::primitives::Address;
use std::{path::PathBuf, time::Duration};

/// Arguments of `genim provide`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # serve the contract of deployments/<chain-id>.json with the built-in generator
  genim provide --private-key $PROVIDER_KEY --generator local --store dir:./images
  # OpenAI-compatible API, IPFS, two instances splitting the work
  OPENAI_API_KEY=.. genim provide --nft 0x.. --generator openai --model gpt-image-1 \\
      --store ipfs:http://127.0.0.1:5001 --shard 0/2
  # cron job: handle everything pending now, then exit
  genim provide --once --store dir:./images
  # list the tokens given up on (content-policy refusals...), then try them again
  genim provide --failed
  genim provide --retry-failed --store dir:./images

Failures: a generator, store or RPC that is down (connection refused, HTTP 5xx, timeouts) is
retried with capped backoff for as long as the token is pending; with --once, up to --attempts
times, then the run stops with exit code 1 and gives nothing up (the next run resumes). A
prompt the generator refuses (content policy, invalid request) fails that token only: it is
recorded, listed by --failed, and its owner can refund it after the deadline. A configuration
error (bad API key, unknown model, full disk) stops the run at once with exit code 1, marking
no token failed.

Deliveries are followed until they are mined or can never be (--tx-timeout does not apply to
them): a late receipt is waited for, never answered by a second transaction. A token's outcome
is final once it is --reorg-blocks deep; until then a reorg that makes it pending again gets
it delivered again.")]
pub struct ProvideArgs {
    /// GenImNFT contract to serve; repeat (or comma-separate) for several [default: from
    /// deployments/<chain-id>.json]
    #[arg(
        long = "nft",
        env = "GENIM_NFT",
        value_delimiter = ',',
        value_name = "ADDRESS",
        value_parser = parse_address
    )]
    pub nfts: Vec<Address>,

    /// Folder of deployment records, one <chain-id>.json per chain [default: deployments]
    #[arg(long, env = "GENIM_DEPLOYMENTS", value_name = "DIR")]
    pub deployments: Option<PathBuf>,

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

    /// Seconds another shard's token must have been pending since its mint (block time)
    /// before this instance takes it; with --once, such tokens are left to their shard
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub shard_grace: u64,

    /// Handle everything pending now, then exit (for cron jobs and tests); waits for nothing:
    /// transient failures get --attempts tries, other shards' tokens in their grace period
    /// are left to them
    #[arg(long)]
    pub once: bool,

    /// Print the tokens given up on (token id, prompt, error), then exit; with --json, one
    /// JSON object per line
    #[arg(long, conflicts_with = "retry_failed")]
    pub failed: bool,

    /// Try the tokens given up on again (those still pending), then go on as usual
    #[arg(long)]
    pub retry_failed: bool,

    /// Withdraw earnings every SECONDS while running, when there are some (0: only at exit)
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    pub withdraw_every: u64,

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

    /// With --once: attempts per generator, store or RPC call before the run stops (it gives
    /// no token up for a transient failure); a running service retries until it works
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,

    /// Longest wait between two retries of a failing generator, store or RPC (seconds)
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_max_delay: u64,

    /// Seconds in-flight work (generations, deliveries waiting for a receipt) may take to
    /// finish after SIGINT/SIGTERM; what is left then is handed back to the next run
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
        if self.failed {
            return self.list_failed().await;
        }
        let (conn, config) = self.rpc.connect(Some(&self.wallet)).await?;
        conn.signer()?;
        let nfts = self.contracts(&conn, &config).await?;
        let generator = self.generator.build()?;
        let store = self.store.open()?;
        let poll = self
            .poll_interval
            .unwrap_or(if conn.is_local() { 100 } else { 1000 });
        let records = ContractOpts {
            nft: None,
            deployments: self.deployments.clone(),
        };
        let opts = ProvideOptions {
            nfts,
            deployments_dir: records.deployments_dir(&config),
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
                max_delay: Duration::from_secs(self.retry_max_delay),
                ..RetryPolicy::default()
            },
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            progress: true,
            withdraw_every: (self.withdraw_every > 0)
                .then(|| Duration::from_secs(self.withdraw_every)),
            retry_failed: self.retry_failed,
            claims: None,
        };
        tracing::info!(generator = %generator.describe(), store = %store.describe(), "starting the provider");
        let totals = ImageProvider::new(conn, generator, store, opts)
            .run(shutdown_signal())
            .await?;
        if self.json {
            print_json(&totals);
        } else {
            print(format_args!(
                "delivered {} · skipped {} · failed {} · earned {} · gas {}",
                totals.delivered,
                totals.skipped,
                totals.failed,
                format_eth(totals.earned),
                totals.gas_used
            ));
        }
        Ok(())
    }

    /// `--failed`: the tokens given up on, one line each (no wallet needed).
    async fn list_failed(&self) -> eyre::Result<()> {
        let (conn, config) = self.rpc.connect(None).await?;
        for nft in self.contracts(&conn, &config).await? {
            for record in failed_tokens(&self.state_dir, conn.chain_id, nft)? {
                let prompt = record.mint.as_ref().map(|m| m.prompt.as_str());
                let error = record.error.as_deref().unwrap_or("unknown error");
                if self.json {
                    print_json(&serde_json::json!({
                        "nft": nft,
                        "tokenId": record.token_id,
                        "prompt": prompt,
                        "error": error,
                    }));
                } else {
                    print(format_args!(
                        "{nft} token {}: {error} (prompt: {:?})",
                        record.token_id,
                        prompt.unwrap_or_default()
                    ));
                }
            }
        }
        Ok(())
    }

    async fn contracts(&self, conn: &Connection, config: &Config) -> eyre::Result<Vec<Address>> {
        if self.nfts.is_empty() {
            let from_record = ContractOpts {
                nft: None,
                deployments: self.deployments.clone(),
            };
            let nft = Nft::resolve(conn, &from_record.source(config)?).await?;
            return Ok(vec![nft.address]);
        }
        let mut nfts = Vec::new();
        for &address in &self.nfts {
            nfts.push(Nft::open(conn, address).await?.address);
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
