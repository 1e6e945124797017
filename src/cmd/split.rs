//! `genim split`: create, inspect and release fee splitters.

use crate::{
    bindings::splitter::Splitter,
    bindings::splitter_factory::SplitterFactory,
    chain::{self, Connection, Deployment},
    opts::{ContractOpts, RpcOpts, WalletOpts, parse_address},
    units::format_eth,
};
use alloy::{
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
};
use eyre::WrapErr;

/// `genim split create|show|release`.
#[derive(Debug, clap::Subcommand)]
pub enum SplitCommand {
    /// Create a Splitter clone for a split (reused if that split and salt exist already).
    #[command(after_long_help = "Examples:
  genim split create 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266:85,0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:15
  genim split create 0xA..:5,0xB..:10,0xC..:85 --salt model-v2 --factory 0x... --json")]
    Create(CreateSplitArgs),
    /// Show a splitter's recipients, shares, released and releasable ETH.
    #[command(after_long_help = "Examples:
  genim split show                  # the fee splitter of deployments/<chain-id>.json
  genim split show 0x... --json")]
    Show(ShowSplitArgs),
    /// Send recipients their releasable ETH (anyone may call).
    #[command(after_long_help = "Examples:
  genim split release               # every recipient of the recorded fee splitter
  genim split release 0x... --account 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    Release(ReleaseSplitArgs),
}

/// Arguments of `genim split create`.
#[derive(Debug, clap::Args)]
pub struct CreateSplitArgs {
    /// The split: ADDRESS:SHARE,... (shares are relative, e.g. 85 and 15).
    #[arg(value_name = "ADDRESS:SHARE,...")]
    pub split: String,

    /// Salt distinguishing several splitters with the same split: 0x + 64 hex digits, or any
    /// text (hashed) [default: zero]
    #[arg(long, value_name = "SALT")]
    pub salt: Option<String>,

    /// SplitterFactory to use [default: the recorded one, else a new one is deployed]
    #[arg(long, value_name = "ADDRESS")]
    pub factory: Option<String>,

    /// Print the result as JSON: {"splitter","factory","tx"}.
    #[arg(long)]
    pub json: bool,

    /// Folder of deployment records [default: deployments]
    #[arg(long, env = "GENIM_DEPLOYMENTS", value_name = "DIR")]
    pub deployments: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

/// Arguments of `genim split show`.
#[derive(Debug, clap::Args)]
pub struct ShowSplitArgs {
    /// The splitter [default: the fee splitter of the deployment record]
    #[arg(value_name = "SPLITTER")]
    pub splitter: Option<String>,

    /// Print the result as JSON: {"splitter","balance","totalShares","recipients":[{"account",
    /// "share","released","releasable"}]}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,
}

/// Arguments of `genim split release`.
#[derive(Debug, clap::Args)]
pub struct ReleaseSplitArgs {
    /// The splitter [default: the fee splitter of the deployment record]
    #[arg(value_name = "SPLITTER")]
    pub splitter: Option<String>,

    /// Release only to this recipient; repeat for several [default: every recipient with
    /// something releasable]
    #[arg(long = "account", value_name = "ADDRESS")]
    pub accounts: Vec<String>,

    /// Print the result as JSON: [{"account","amount","tx"}].
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl SplitCommand {
    /// Runs the chosen action.
    pub async fn run(self) -> eyre::Result<()> {
        match self {
            Self::Create(args) => args.run().await,
            Self::Show(args) => args.run().await,
            Self::Release(args) => args.run().await,
        }
    }
}

impl CreateSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        let shares = chain::parse_split(&self.split)?;
        let salt = self.salt.as_deref().map(parse_salt).unwrap_or(B256::ZERO);
        let explicit = self.factory.as_deref().map(parse_address).transpose()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        conn.signer()?;
        let dir = self
            .deployments
            .clone()
            .unwrap_or_else(|| conn.config.deployments_dir());
        let recorded = Deployment::load(&dir, conn.chain_id)?.and_then(|d| d.splitter_factory);
        let factory = match (explicit, recorded) {
            (Some(factory), _) => {
                conn.ensure_contract(factory).await?;
                factory
            }
            (None, Some(factory)) if conn.ensure_contract(factory).await.is_ok() => factory,
            _ => {
                eprintln!(
                    "no SplitterFactory recorded for chain {}: deploying one",
                    conn.chain_id
                );
                let tx = SplitterFactory::deploy_builder(conn.provider.clone())
                    .into_transaction_request();
                let receipt = conn.send(tx).await.wrap_err("deploying SplitterFactory")?;
                let factory = receipt.contract_address.unwrap_or_default();
                eprintln!("SplitterFactory {factory} (pass it as --factory next time)");
                factory
            }
        };
        let (splitter, tx) = chain::create_splitter(&conn, factory, &shares, salt).await?;
        if self.json {
            let out = serde_json::json!({ "splitter": splitter, "factory": factory, "tx": tx });
            println!("{out}");
        } else {
            match tx {
                Some(tx) => println!("created splitter {splitter} (tx {tx})"),
                None => println!("splitter {splitter} already exists for this split and salt"),
            }
        }
        Ok(())
    }
}

impl ShowSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, None).await?;
        let address = resolve_splitter(&conn, self.splitter.as_deref(), &self.contract).await?;
        let splitter = Splitter::new(address, conn.provider.clone());
        let call_err = |err| conn.call_error(err);
        let recipients = splitter.recipients().call().await.map_err(call_err)?;
        let total = splitter.totalShares().call().await.map_err(call_err)?;
        let balance = conn
            .provider
            .get_balance(address)
            .await
            .map_err(|e| conn.rpc_error(e))?;
        let mut rows = Vec::new();
        for account in recipients {
            let share = splitter.shares(account).call().await.map_err(call_err)?;
            let released = splitter
                .released(Address::ZERO, account)
                .call()
                .await
                .map_err(call_err)?;
            let releasable = splitter
                .releasable_0(account)
                .call()
                .await
                .map_err(call_err)?;
            rows.push((account, share, released, releasable));
        }
        if self.json {
            let recipients: Vec<_> = rows
                .iter()
                .map(|(account, share, released, releasable)| {
                    serde_json::json!({
                        "account": account,
                        "share": share.to_string(),
                        "released": released.to_string(),
                        "releasable": releasable.to_string(),
                    })
                })
                .collect();
            let out = serde_json::json!({
                "splitter": address,
                "balance": balance.to_string(),
                "totalShares": total.to_string(),
                "recipients": recipients,
            });
            println!("{out}");
            return Ok(());
        }
        println!("splitter {address}: holds {}", format_eth(balance));
        for (account, share, released, releasable) in rows {
            println!(
                "{account} {share}/{total}  released {}  releasable {}",
                format_eth(released),
                format_eth(releasable)
            );
        }
        Ok(())
    }
}

impl ReleaseSplitArgs {
    async fn run(self) -> eyre::Result<()> {
        let only = self
            .accounts
            .iter()
            .map(|text| parse_address(text))
            .collect::<eyre::Result<Vec<_>>>()?;
        self.contract.validate()?;
        let conn = chain::connect(&self.rpc, Some(&self.wallet)).await?;
        conn.signer()?;
        let address = resolve_splitter(&conn, self.splitter.as_deref(), &self.contract).await?;
        let splitter = Splitter::new(address, conn.provider.clone());
        let accounts = if only.is_empty() {
            splitter
                .recipients()
                .call()
                .await
                .map_err(|err| conn.call_error(err))?
        } else {
            only.clone()
        };
        let mut released = Vec::new();
        for account in accounts {
            let releasable = splitter
                .releasable_0(account)
                .call()
                .await
                .map_err(|err| conn.call_error(err))?;
            // Skip empty recipients unless they were asked for by name (then say why).
            if releasable.is_zero() && only.is_empty() {
                continue;
            }
            let receipt = conn
                .send(splitter.release_0(account).into_transaction_request())
                .await?;
            let amount = chain::receipt_event::<Splitter::PaymentReleased>(&receipt, address)
                .map(|event| event.amount)
                .unwrap_or(releasable);
            released.push((account, amount, receipt.transaction_hash));
        }
        if self.json {
            let out: Vec<_> = released
                .iter()
                .map(|(account, amount, tx)| {
                    serde_json::json!({ "account": account, "amount": amount.to_string(), "tx": tx })
                })
                .collect();
            println!("{}", serde_json::Value::from(out));
        } else if released.is_empty() {
            println!("nothing to release on splitter {address}");
        } else {
            let total: U256 = released.iter().map(|(_, amount, _)| *amount).sum();
            for (account, amount, tx) in &released {
                println!("released {} to {account} (tx {tx})", format_eth(*amount));
            }
            println!("released {} in total", format_eth(total));
        }
        Ok(())
    }
}

/// The splitter given, else the fee splitter of the chain's deployment record; must hold code.
async fn resolve_splitter(
    conn: &Connection,
    given: Option<&str>,
    contract: &ContractOpts,
) -> eyre::Result<Address> {
    let address = match given {
        Some(text) => parse_address(text)?,
        None => {
            let dir = contract.deployments_dir(&conn.config);
            let record = Deployment::load(&dir, conn.chain_id)?;
            record.and_then(|record| record.splitter).ok_or_else(|| {
                eyre::eyre!(
                    "no splitter given and {} records none: pass SPLITTER",
                    Deployment::path(&dir, conn.chain_id).display()
                )
            })?
        }
    };
    conn.ensure_contract(address).await?;
    Ok(address)
}

/// `0x` + 64 hex digits as is; any other text hashed.
fn parse_salt(text: &str) -> B256 {
    text.parse().unwrap_or_else(|_| keccak256(text.as_bytes()))
}
