//! `genim provider`: authorize, remove and list the image providers of a contract (the
//! owner's job). Running a provider is `genim provide`.

use super::{
    opts::{ReadOpts, SendOpts, parse_address},
    print, print_json,
};
use crate::nft::manage;
use alloy::primitives::Address;

/// `genim provider add|remove|list`.
#[derive(Debug, clap::Subcommand)]
pub enum ProviderCommand {
    /// Authorize an image provider (owner only). It may deliver tokens minted from now on.
    #[command(after_long_help = "Examples:
  genim provider add 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  genim provider add --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 0x7099...79C8 --json")]
    Add(SetProviderArgs),
    /// Remove an image provider (owner only); its accrued fees stay withdrawable.
    #[command(after_long_help = "Examples:
  genim provider remove 0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    Remove(SetProviderArgs),
    /// List the providers and whether each is authorized.
    #[command(after_long_help = "Examples:
  genim provider list
  genim provider list --json")]
    List(ListProvidersArgs),
}

/// Arguments of `genim provider add|remove`.
#[derive(Debug, clap::Args)]
pub struct SetProviderArgs {
    /// The provider's address.
    #[arg(value_name = "ADDRESS", value_parser = parse_address)]
    pub address: Address,

    /// Print the result as JSON: {"provider","authorized","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: SendOpts,
}

/// Arguments of `genim provider list`.
#[derive(Debug, clap::Args)]
pub struct ListProvidersArgs {
    /// Print the result as JSON: [{"provider","authorized"}].
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: ReadOpts,
}

impl ProviderCommand {
    /// Runs the chosen action.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Add(args) => args.set(true).await,
            Self::Remove(args) => args.set(false).await,
            Self::List(args) => args.run().await,
        }
    }
}

impl SetProviderArgs {
    async fn set(self, authorized: bool) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let set =
            manage::set_provider(&session.conn, &session.nft, self.address, authorized).await?;
        if self.json {
            print_json(&set);
        } else {
            let verb = if authorized { "authorized" } else { "removed" };
            print(format_args!(
                "{verb} provider {} (tx {})",
                set.provider, set.tx
            ));
        }
        Ok(())
    }
}

impl ListProvidersArgs {
    async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let rows = manage::providers(&session.conn, &session.nft).await?;
        if self.json {
            print_json(&rows);
        } else if rows.is_empty() {
            print("no providers");
        } else {
            for row in rows {
                let state = if row.authorized {
                    "authorized"
                } else {
                    "removed"
                };
                print(format_args!("{} {state}", row.provider));
            }
        }
        Ok(())
    }
}
