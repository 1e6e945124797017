//! `genim withdraw`: take what a contract holds for you: a provider's earnings, and refunds
//! credited after a failed push.

use super::{opts::SendOpts, print, print_json};
use crate::nft::manage;

/// Arguments of `genim withdraw`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim withdraw
  genim withdraw --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json")]
pub struct WithdrawArgs {
    /// Print the result as JSON: {"account","amount","tx"} ("tx" is null when there was
    /// nothing to withdraw).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: SendOpts,
}

impl WithdrawArgs {
    /// Sends `withdraw()` when there is something to take, and prints the amount.
    pub async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let (conn, nft) = (&session.conn, &session.nft);
        let withdrawn = manage::withdraw(conn, nft).await?;
        if self.json {
            print_json(&withdrawn);
            return Ok(());
        }
        match withdrawn.tx {
            Some(tx) => print(format_args!(
                "withdrew {} to {} (tx {tx})",
                nft.format(withdrawn.amount),
                withdrawn.account
            )),
            None => print(format_args!(
                "nothing to withdraw: {} has no earnings or credit on {}",
                withdrawn.account, nft.address
            )),
        }
        Ok(())
    }
}
