//! `genim status`: a token's state, owner, escrow, deadline and URI.

use super::{
    opts::{ReadOpts, parse_token_id},
    print, print_json,
};
use crate::{
    nft::token::{self, TokenState},
    time::format_utc,
};
use alloy::primitives::U256;

/// Arguments of `genim status`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim status 1
  genim status --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 7 --json
  genim status --chain base-sepolia --nft 0x... 42")]
pub struct StatusArgs {
    /// The token to show.
    #[arg(value_name = "TOKEN_ID", value_parser = parse_token_id)]
    pub token_id: U256,

    /// Print the result as JSON: {"tokenId","state","owner","escrow","deadline","tokenUri",
    /// "digest","deliverers"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub opts: ReadOpts,
}

impl StatusArgs {
    /// Reads and prints the token's status (no wallet needed).
    pub async fn run(self) -> eyre::Result<()> {
        let session = self.opts.open().await?;
        let (conn, nft) = (&session.conn, &session.nft);
        let status = token::status(conn, nft, self.token_id).await?;
        eyre::ensure!(
            status.state != TokenState::None,
            "token {} does not exist on GenImNFT {} (never minted)",
            self.token_id,
            nft.address
        );
        if self.json {
            print_json(&status);
            return Ok(());
        }
        print(format_args!("token {}: {}", self.token_id, status.state));
        if let Some(owner) = status.owner {
            print(format_args!("owner      {owner}"));
        }
        print(format_args!("escrow     {}", nft.format(status.escrow)));
        let note = match status.state {
            TokenState::Pending => " (refundable after it unless delivered)",
            _ => "",
        };
        print(format_args!(
            "deadline   {}{note}",
            format_utc(status.deadline)
        ));
        if status.state == TokenState::Pending {
            let who: Vec<String> = status.deliverers.iter().map(ToString::to_string).collect();
            let who = if who.is_empty() {
                "nobody (no provider authorized at its mint is still authorized)".to_owned()
            } else {
                who.join(", ")
            };
            print(format_args!("deliverers {who}"));
        }
        if status.state == TokenState::Delivered {
            print(format_args!("digest     {}", status.digest));
        }
        if let Some(uri) = &status.token_uri {
            let shown = if uri.starts_with("data:") {
                "data: (pending placeholder)"
            } else {
                uri
            };
            print(format_args!("uri        {shown}"));
        }
        Ok(())
    }
}
