//! `genim refund`: burn an undelivered token after its deadline and get its escrow back.

use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain,
    opts::{ContractOpts, RpcOpts, WalletOpts},
    units::{format_eth, json_id, parse_token_id},
};

/// Arguments of `genim refund`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim refund 3
  genim refund --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 3 --json")]
pub struct RefundArgs {
    /// Your undelivered token whose deadline has passed.
    #[arg(value_name = "TOKEN_ID")]
    pub token_id: String,

    /// Print the result as JSON: {"tokenId","amount","tx","credited"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl RefundArgs {
    /// Sends `refund(tokenId)` and prints what came back.
    pub async fn run(self) -> eyre::Result<()> {
        let token_id = parse_token_id(&self.token_id)?;
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        let me = conn.signer()?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let tx = conn.nft(nft).refund(token_id).into_transaction_request();
        let receipt = conn.send(tx).await?;
        let amount = chain::receipt_event::<GenImNFT::Refunded>(&receipt, nft)
            .map(|event| event.amount)
            .unwrap_or_default();
        // A refund whose push failed is credited instead (see `genim withdraw`).
        let credited = chain::receipt_event::<GenImNFT::Credited>(&receipt, nft).is_some();
        if self.json {
            let out = serde_json::json!({
                "tokenId": json_id(token_id),
                "amount": amount.to_string(),
                "tx": receipt.transaction_hash,
                "credited": credited,
            });
            println!("{out}");
        } else if credited {
            println!(
                "refunded token {token_id}: {} credited to {me}, the transfer failed; take it with `genim withdraw` (tx {})",
                format_eth(amount),
                receipt.transaction_hash
            );
        } else {
            println!(
                "refunded token {token_id}: {} back to {me} (tx {})",
                format_eth(amount),
                receipt.transaction_hash
            );
        }
        Ok(())
    }
}
