//! `genim fees`: send the fees accrued by deliveries to the fee recipient.

use super::{
    opts::{ReadOpts, WalletOpts},
    print, print_json,
};
use crate::nft::{Nft, manage};

/// Arguments of `genim fees`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim fees                        # anyone may send them; the recipient is fixed by the owner
  genim fees --show --json")]
pub struct FeesArgs {
    /// Only show the accrued fees and their recipient; send nothing.
    #[arg(long)]
    pub show: bool,

    /// Print the result as JSON: {"amount","recipient","tx"} ("tx" is null when nothing was
    /// sent).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: ReadOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl FeesArgs {
    /// Sends `withdrawFees()` when fees accrued (or with `--show` reads `accruedFees()`).
    pub async fn run(self) -> eyre::Result<()> {
        let wallet = (!self.show).then_some(&self.wallet);
        let (conn, config) = self.opts.rpc.connect(wallet).await?;
        if !self.show {
            conn.signer()?;
        }
        let nft = Nft::resolve(&conn, &self.opts.contract.source(&config)?).await?;
        let fees = if self.show {
            manage::accrued_fees(&conn, &nft).await?
        } else {
            manage::withdraw_fees(&conn, &nft).await?
        };
        if self.json {
            print_json(&fees);
            return Ok(());
        }
        let amount = nft.format(fees.amount);
        match (self.show, fees.tx) {
            (true, _) => print(format_args!("{amount} accrued for {}", fees.recipient)),
            (false, Some(tx)) => print(format_args!(
                "sent {amount} of fees to {} (tx {tx})",
                fees.recipient
            )),
            (false, None) => print(format_args!(
                "no fees to withdraw on {}: nothing was sent",
                nft.address
            )),
        }
        Ok(())
    }
}
