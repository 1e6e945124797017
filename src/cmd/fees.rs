//! `genim fees`: send the accrued fees to the fee recipient.

use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain,
    opts::{ContractOpts, RpcOpts, WalletOpts},
    units::format_eth,
};

/// Arguments of `genim fees`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # Anyone may trigger it; the fees always go to the fee recipient:
  genim fees
  genim fees --show            # only print what has accrued
  genim fees --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json")]
pub struct FeesArgs {
    /// Only show the accrued fees and their recipient; send nothing.
    #[arg(long)]
    pub show: bool,

    /// Print the result as JSON: {"amount","recipient","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl FeesArgs {
    /// Sends `withdrawFees()` (or with `--show` reads `accruedFees()`).
    pub async fn run(self) -> eyre::Result<()> {
        let wallet = (!self.show).then_some(&self.wallet);
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, wallet).await?;
        if !self.show {
            conn.signer()?;
        }
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let contract = conn.nft(nft);
        let accrued = contract
            .accruedFees()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        let recipient = contract
            .feeRecipient()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        if self.show {
            if self.json {
                let out = serde_json::json!({
                    "amount": accrued.to_string(),
                    "recipient": recipient,
                    "tx": null,
                });
                println!("{out}");
            } else {
                println!("{} accrued for {recipient}", format_eth(accrued));
            }
            return Ok(());
        }
        eyre::ensure!(!accrued.is_zero(), "no fees to withdraw on GenImNFT {nft}");
        let receipt = conn
            .send(contract.withdrawFees().into_transaction_request())
            .await?;
        let event = chain::receipt_event::<GenImNFT::FeesWithdrawn>(&receipt, nft);
        let (amount, recipient) = event
            .map(|event| (event.amount, event.recipient))
            .unwrap_or((accrued, recipient));
        if self.json {
            let out = serde_json::json!({
                "amount": amount.to_string(),
                "recipient": recipient,
                "tx": receipt.transaction_hash,
            });
            println!("{out}");
        } else {
            println!(
                "sent {} of fees to {recipient} (tx {})",
                format_eth(amount),
                receipt.transaction_hash
            );
        }
        Ok(())
    }
}
