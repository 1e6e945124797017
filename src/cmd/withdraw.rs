//! `genim withdraw`: take payouts and refunds that were credited after a failed transfer.

use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain,
    opts::{ContractOpts, RpcOpts, WalletOpts},
    units::format_eth,
};

/// Arguments of `genim withdraw`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # As the provider whose payout push failed:
  GENIM_PRIVATE_KEY=0x... genim withdraw
  genim withdraw --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json")]
pub struct WithdrawArgs {
    /// Print the result as JSON: {"account","amount","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl WithdrawArgs {
    /// Checks the signer's credit, sends `withdraw()` and prints the amount.
    pub async fn run(self) -> eyre::Result<()> {
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        let me = conn.signer()?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let contract = conn.nft(nft);
        let credit = contract
            .credit(me)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        eyre::ensure!(
            !credit.is_zero(),
            "nothing to withdraw: {me} has no credit on GenImNFT {nft}"
        );
        let receipt = conn
            .send(contract.withdraw().into_transaction_request())
            .await?;
        let amount = chain::receipt_event::<GenImNFT::Withdrawn>(&receipt, nft)
            .map(|event| event.amount)
            .unwrap_or(credit);
        if self.json {
            let out = serde_json::json!({
                "account": me,
                "amount": amount.to_string(),
                "tx": receipt.transaction_hash,
            });
            println!("{out}");
        } else {
            println!(
                "withdrew {} to {me} (tx {})",
                format_eth(amount),
                receipt.transaction_hash
            );
        }
        Ok(())
    }
}
