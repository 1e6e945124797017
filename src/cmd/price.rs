//! `genim price`: show or change the mint price.

use super::{
    opts::{ReadOpts, SendOpts},
    print, print_json,
};
use crate::nft::manage;

/// `genim price get|set`.
#[derive(Debug, clap::Subcommand)]
pub enum PriceCommand {
    /// Show the price of the next mint.
    #[command(after_long_help = "Examples:
  genim price get
  genim price get --json")]
    Get(GetPriceArgs),
    /// Change the price of future mints (owner only); existing escrows keep what was paid.
    #[command(after_long_help = "Examples:
  genim price set 0.00005ether
  genim price set 50000gwei --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json
  genim price set 0.05 --nft 0x...        # a USDC-priced contract: 0.05 USDC")]
    Set(SetPriceArgs),
}

/// Arguments of `genim price get`.
#[derive(Debug, clap::Args)]
pub struct GetPriceArgs {
    /// Print the result as JSON: {"price"} (in the asset's smallest unit).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: ReadOpts,
}

/// Arguments of `genim price set`.
#[derive(Debug, clap::Args)]
pub struct SetPriceArgs {
    /// The new price: for ETH 0.00003ether, 30000gwei or plain wei; for a token, whole units
    /// such as 0.05 (USDC).
    #[arg(value_name = "AMOUNT")]
    pub amount: String,

    /// Print the result as JSON: {"price","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: SendOpts,
}

impl PriceCommand {
    /// Runs the chosen action.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Get(args) => args.run().await,
            Self::Set(args) => args.run().await,
        }
    }
}

impl GetPriceArgs {
    async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let price = manage::price(&session.conn, &session.nft).await?;
        if self.json {
            print_json(&price);
        } else {
            print(format_args!(
                "{} ({} {})",
                session.nft.format(price.price),
                price.price,
                smallest_unit(&session.nft.asset)
            ));
        }
        Ok(())
    }
}

impl SetPriceArgs {
    async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let price = session.nft.asset.parse(&self.amount)?;
        let set = manage::set_price(&session.conn, &session.nft, price).await?;
        if self.json {
            print_json(&set);
        } else {
            print(format_args!(
                "price set to {} (tx {})",
                session.nft.format(set.price),
                set.tx.unwrap_or_default()
            ));
        }
        Ok(())
    }
}

fn smallest_unit(asset: &crate::amount::Asset) -> &'static str {
    match asset {
        crate::amount::Asset::Eth => "wei",
        crate::amount::Asset::Token { .. } => "units",
    }
}
