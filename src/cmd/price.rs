//! `genim price`: show or change the mint price.

use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain,
    opts::{ContractOpts, RpcOpts, WalletOpts},
    units::{format_eth, parse_amount},
};

/// `genim price get|set`.
#[derive(Debug, clap::Subcommand)]
pub enum PriceCommand {
    /// Show the current mint price.
    #[command(after_long_help = "Examples:
  genim price get
  genim price get --json")]
    Get(GetPriceArgs),
    /// Change the price of future mints (owner only); tokens already minted keep their escrow.
    #[command(after_long_help = "Examples:
  genim price set 0.00005ether
  genim price set 50000gwei --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json")]
    Set(SetPriceArgs),
}

/// Arguments of `genim price get`.
#[derive(Debug, clap::Args)]
pub struct GetPriceArgs {
    /// Print the result as JSON: {"price"} (wei, decimal string).
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,
}

/// Arguments of `genim price set`.
#[derive(Debug, clap::Args)]
pub struct SetPriceArgs {
    /// New price: 0.00003ether, 30000gwei or plain wei (at most about 18.4 ETH).
    #[arg(value_name = "AMOUNT")]
    pub amount: String,

    /// Print the result as JSON: {"price","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
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
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, None).await?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let price = conn
            .nft(nft)
            .price()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        if self.json {
            println!("{}", serde_json::json!({ "price": price.to_string() }));
        } else {
            println!("{} ({price} wei)", format_eth(price));
        }
        Ok(())
    }
}

impl SetPriceArgs {
    async fn run(self) -> eyre::Result<()> {
        let price = parse_amount(&self.amount)?;
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        conn.signer()?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let receipt = conn
            .send(conn.nft(nft).setPrice(price).into_transaction_request())
            .await?;
        let price = chain::receipt_event::<GenImNFT::PriceSet>(&receipt, nft)
            .map(|event| event.price)
            .unwrap_or(price);
        if self.json {
            let out = serde_json::json!({
                "price": price.to_string(),
                "tx": receipt.transaction_hash,
            });
            println!("{out}");
        } else {
            println!(
                "price set to {} (tx {})",
                format_eth(price),
                receipt.transaction_hash
            );
        }
        Ok(())
    }
}
