//! `genim status`: a token's state, owner, escrow, deadline and URI.

use crate::{
    chain::{self, TokenState},
    opts::{ContractOpts, RpcOpts},
    units::{format_eth, format_utc, json_id, parse_token_id},
};

/// Arguments of `genim status`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim status 1
  genim status --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 7 --json
  genim status --chain base-sepolia --nft 0x... 42")]
pub struct StatusArgs {
    /// The token to show.
    #[arg(value_name = "TOKEN_ID")]
    pub token_id: String,

    /// Print the result as JSON: {"tokenId","state","owner","escrow","deadline","tokenUri"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,
}

impl StatusArgs {
    /// Reads and prints the token's status (no wallet needed).
    pub async fn run(self) -> eyre::Result<()> {
        let token_id = parse_token_id(&self.token_id)?;
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, None).await?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let status = chain::token_status(&conn, nft, token_id).await?;
        eyre::ensure!(
            status.state != TokenState::None,
            "token {token_id} does not exist on GenImNFT {nft} (never minted)"
        );
        if self.json {
            let out = serde_json::json!({
                "tokenId": json_id(token_id),
                "state": status.state.as_str(),
                "owner": status.owner,
                "escrow": status.escrow.to_string(),
                "deadline": status.deadline,
                "tokenUri": status.token_uri,
            });
            println!("{out}");
            return Ok(());
        }
        println!("token {token_id}: {}", status.state);
        if let Some(owner) = status.owner {
            println!("owner      {owner}");
        }
        println!("escrow     {}", format_eth(status.escrow));
        let note = match status.state {
            TokenState::Pending => " (refundable after it unless delivered)",
            _ => "",
        };
        println!("deadline   {}{note}", format_utc(status.deadline));
        if status.state == TokenState::Delivered {
            println!("digest     {}", status.digest);
        }
        if let Some(uri) = &status.token_uri {
            let shown = if uri.starts_with("data:") {
                "data: (pending placeholder)"
            } else {
                uri
            };
            println!("uri        {shown}");
        }
        Ok(())
    }
}
