//! `genim split`: create, inspect and release revenue splitters.

use super::{
    opts::{ContractOpts, RpcOpts, WalletOpts, parse_address},
    print, print_json,
};
use crate::{
    amount::Asset,
    chain::Connection,
    config::Config,
    nft::{Nft, deployment::Deployment, known},
    split,
};
use alloy::primitives::{Address, B256, U256};

/// `genim split create|show|release`.
#[derive(Debug, clap::Subcommand)]
pub enum SplitCommand {
    /// Create a Splitter clone for a split (reused if that split and salt exist already).
    #[command(after_long_help = "Examples:
  genim split create 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266:85,0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:15
  genim split create 0xA..:5,0xB..:10,0xC..:85 --salt model-v2 --json")]
    Create(CreateSplitArgs),
    /// Show a splitter's recipients, shares, released and releasable amounts.
    #[command(after_long_help = "Examples:
  genim split show                  # the fee splitter of deployments/<chain-id>.json
  genim split show 0x... --json
  genim split show 0x... --token 0x036CbD53842c5426634e7929541eC2318f3dCF7e   # its USDC")]
    Show(ShowSplitArgs),
    /// Send recipients what is releasable to them (anyone may call).
    #[command(after_long_help = "Examples:
  genim split release               # every recipient of the recorded fee splitter
  genim split release 0x... --account 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    Release(ReleaseSplitArgs),
}

/// Arguments of `genim split create`.
#[derive(Debug, clap::Args)]
pub struct CreateSplitArgs {
    /// The split: ADDRESS:SHARE,... (shares are relative, e.g. 85 and 15).
    #[arg(value_name = "ADDRESS:SHARE,...")]
    pub split: String,

    /// Salt distinguishing several splitters with the same split: 0x + 64 hex digits, or any
    /// text (hashed) [default: zero]
    #[arg(long, value_name = "SALT")]
    pub salt: Option<String>,

    /// SplitterFactory to use [default: genim's, at the same address on every chain; deployed
    /// once per chain when missing]
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub factory: Option<Address>,

    /// Print the result as JSON: {"splitter","factory","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

/// Which splitter, and in which asset.
#[derive(Debug, clap::Args)]
pub struct SplitterOpts {
    /// The splitter [default: the fee splitter of the deployment record]
    #[arg(value_name = "SPLITTER", value_parser = parse_address)]
    pub splitter: Option<Address>,

    /// ERC-20 to show or release [default: the recorded contract's asset, else ETH]
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub token: Option<Address>,

    #[command(flatten)]
    pub contract: ContractOpts,
}

/// Arguments of `genim split show`.
#[derive(Debug, clap::Args)]
pub struct ShowSplitArgs {
    #[command(flatten)]
    pub which: SplitterOpts,

    /// Print the result as JSON: {"splitter","balance","totalShares","recipients":[{"account",
    /// "share","released","releasable"}]}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub rpc: RpcOpts,
}

/// Arguments of `genim split release`.
#[derive(Debug, clap::Args)]
pub struct ReleaseSplitArgs {
    #[command(flatten)]
    pub which: SplitterOpts,

    /// Release only to this recipient; repeat for several [default: every recipient with
    /// something releasable]
    #[arg(long = "account", value_name = "ADDRESS", value_parser = parse_address)]
    pub accounts: Vec<Address>,

    /// Print the result as JSON: [{"account","amount","tx"}].
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl SplitCommand {
    /// Runs the chosen action.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Create(args) => args.run().await,
            Self::Show(args) => args.run().await,
            Self::Release(args) => args.run().await,
        }
    }
}

impl CreateSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        let shares = split::parse_split(&self.split)?;
        let salt = self
            .salt
            .as_deref()
            .map(split::parse_salt)
            .unwrap_or(B256::ZERO);
        let (conn, _) = self.rpc.connect(Some(&self.wallet)).await?;
        conn.signer()?;
        let (factory, deployed) = split::ensure_factory(&conn, self.factory).await?;
        if let Some(tx) = deployed {
            eprintln!(
                "deployed genim's SplitterFactory {factory} on chain {} (tx {tx})",
                conn.chain_id
            );
        }
        let created = split::create(&conn, factory, &shares, salt).await?;
        if self.json {
            print_json(&created);
        } else {
            match created.tx {
                Some(tx) => print(format_args!(
                    "created splitter {} (tx {tx})",
                    created.splitter
                )),
                None => print(format_args!(
                    "splitter {} already exists for this split and salt",
                    created.splitter
                )),
            }
        }
        Ok(())
    }
}

impl ShowSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        let (conn, config) = self.rpc.connect(None).await?;
        let (splitter, asset) = self.which.resolve(&conn, &config).await?;
        let state = split::show(&conn, splitter, &asset).await?;
        if self.json {
            print_json(&state);
            return Ok(());
        }
        print(format_args!(
            "splitter {splitter}: holds {}",
            asset.format(state.balance)
        ));
        for row in &state.recipients {
            print(format_args!(
                "{} {}/{}  released {}  releasable {}",
                row.account,
                row.share,
                state.total_shares,
                asset.format(row.released),
                asset.format(row.releasable)
            ));
        }
        Ok(())
    }
}

impl ReleaseSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        let (conn, config) = self.rpc.connect(Some(&self.wallet)).await?;
        conn.signer()?;
        let (splitter, asset) = self.which.resolve(&conn, &config).await?;
        let released = split::release(&conn, splitter, &asset, &self.accounts).await?;
        if self.json {
            print_json(&released);
        } else if released.is_empty() {
            print(format_args!("nothing to release on splitter {splitter}"));
        } else {
            for row in &released {
                print(format_args!(
                    "released {} to {} (tx {})",
                    asset.format(row.amount),
                    row.account,
                    row.tx
                ));
            }
            let total: U256 = released.iter().map(|row| row.amount).sum();
            print(format_args!("released {} in total", asset.format(total)));
        }
        Ok(())
    }
}

impl SplitterOpts {
    /// The splitter given, else the recorded fee splitter; the asset given, else the recorded
    /// contract's, else ETH.
    async fn resolve(&self, conn: &Connection, config: &Config) -> eyre::Result<(Address, Asset)> {
        let dir = self.contract.deployments_dir(config);
        let record = Deployment::load(&dir, conn.chain_id)?;
        let splitter = match self.splitter {
            Some(splitter) => splitter,
            None => record.as_ref().and_then(|r| r.splitter).ok_or_else(|| {
                eyre::eyre!(
                    "no splitter given and {} records none: pass SPLITTER",
                    Deployment::path(&dir, conn.chain_id).display()
                )
            })?,
        };
        let asset = match self.token {
            Some(token) => known::erc20_asset(conn, token).await?,
            None => match self.contract.nft.or(record.map(|r| r.nft)) {
                Some(nft) => match Nft::open(conn, nft).await {
                    Ok(nft) => nft.asset,
                    Err(_) => Asset::Eth,
                },
                None => Asset::Eth,
            },
        };
        Ok((splitter, asset))
    }
}
