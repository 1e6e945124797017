//! `genim provider`: authorize, remove and list image providers (the owner's job).

use crate::{
    chain,
    opts::{ContractOpts, RpcOpts, WalletOpts, parse_address},
};

/// `genim provider add|remove|list`.
#[derive(Debug, clap::Subcommand)]
pub enum ProviderCommand {
    /// Authorize an image provider to deliver and get paid (owner only).
    #[command(after_long_help = "Examples:
  genim provider add 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
  genim provider add --nft 0x5FbDB2315678afecb367f032d93F642f64180aa3 0x7099...79C8 --json")]
    Add(SetProviderArgs),
    /// Stop a provider from delivering (owner only); it keeps what it earned.
    #[command(after_long_help = "Examples:
  genim provider remove 0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    Remove(SetProviderArgs),
    /// List every provider ever authorized and whether it still is.
    #[command(after_long_help = "Examples:
  genim provider list
  genim provider list --json")]
    List(ListProvidersArgs),
}

/// Arguments of `genim provider add` and `genim provider remove`.
#[derive(Debug, clap::Args)]
pub struct SetProviderArgs {
    /// The provider's address.
    #[arg(value_name = "ADDRESS")]
    pub address: String,

    /// Print the result as JSON: {"provider","authorized","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

/// Arguments of `genim provider list`.
#[derive(Debug, clap::Args)]
pub struct ListProvidersArgs {
    /// Print the result as JSON: [{"provider","authorized"}].
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,
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
        let provider = parse_address(&self.address)?;
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        conn.signer()?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let tx = conn
            .nft(nft)
            .setProvider(provider, authorized)
            .into_transaction_request();
        let receipt = conn.send(tx).await?;
        if self.json {
            let out = serde_json::json!({
                "provider": provider,
                "authorized": authorized,
                "tx": receipt.transaction_hash,
            });
            println!("{out}");
        } else {
            let verb = if authorized { "authorized" } else { "removed" };
            println!(
                "{verb} provider {provider} (tx {})",
                receipt.transaction_hash
            );
        }
        Ok(())
    }
}

impl ListProvidersArgs {
    async fn run(self) -> eyre::Result<()> {
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, None).await?;
        let nft = chain::resolve_nft(&conn, &self.contract).await?;
        let contract = conn.nft(nft);
        let providers = contract
            .providers()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        let mut rows = Vec::with_capacity(providers.len());
        for provider in providers {
            let authorized = contract
                .isProvider(provider)
                .call()
                .await
                .map_err(|err| conn.call_error(err))?;
            rows.push((provider, authorized));
        }
        if self.json {
            let out: Vec<_> = rows
                .iter()
                .map(|(provider, authorized)| {
                    serde_json::json!({ "provider": provider, "authorized": authorized })
                })
                .collect();
            println!("{}", serde_json::Value::from(out));
        } else if rows.is_empty() {
            println!("no providers");
        } else {
            for (provider, authorized) in rows {
                println!(
                    "{provider} {}",
                    if authorized { "authorized" } else { "removed" }
                );
            }
        }
        Ok(())
    }
}
