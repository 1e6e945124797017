//! `genim refund`: burn an undelivered token after its deadline and get its escrow back.

use super::{
    opts::{SendOpts, parse_token_id},
    print, print_json,
};
use crate::nft::manage;
use alloy::primitives::U256;

/// Arguments of `genim refund`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim refund 3
  genim refund --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 3 --json")]
pub struct RefundArgs {
    /// Your undelivered token whose deadline has passed.
    #[arg(value_name = "TOKEN_ID", value_parser = parse_token_id)]
    pub token_id: U256,

    /// Print the result as JSON: {"tokenId","amount","tx","credited"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: SendOpts,
}

impl RefundArgs {
    /// Sends `refund(tokenId)` and prints what came back.
    pub async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let (conn, nft) = (&session.conn, &session.nft);
        let me = conn.signer()?;
        let refunded = manage::refund(conn, nft, self.token_id).await?;
        if self.json {
            print_json(&refunded);
        } else if refunded.credited {
            // A refund whose push failed is credited instead (see `genim withdraw`).
            print(format_args!(
                "refunded token {}: {} credited to {me}, the transfer failed; take it with \
                 `genim withdraw` (tx {})",
                self.token_id,
                nft.format(refunded.amount),
                refunded.tx
            ));
        } else {
            print(format_args!(
                "refunded token {}: {} back to {me} (tx {})",
                self.token_id,
                nft.format(refunded.amount),
                refunded.tx
            ));
        }
        Ok(())
    }
}
