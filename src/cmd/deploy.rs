//! `genim deploy`: deploy GenImNFT (optionally with a fee Splitter), authorize providers, and
//! record it in `deployments/<chain-id>.json`.

use super::{
    opts::{RpcOpts, WalletOpts, parse_address, parse_eth},
    print, print_json,
};
use crate::{
    amount::Asset,
    chain::{ChainPreset, Connection},
    nft::{
        deploy::{self, DeployParams, FeeRecipient},
        deployment::Deployment,
        known,
    },
    split,
    time::format_duration,
    usdc::{self, UsdcOptions},
};
use alloy::primitives::{Address, B256};
use std::path::PathBuf;

/// Arguments of `genim deploy`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # Local anvil, first dev account as deployer and provider:
  export GENIM_PRIVATE_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  genim deploy --price 0.00003ether --provider 0x70997970C51812dc3A010C7d01b50e0d17dc79C8

  # Fees split 85/15 through a Splitter clone, 1 hour delivery window, JSON out:
  genim deploy --price 30000gwei --provider 0x7099...79C8 \\
      --split 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266:85,0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC:15 \\
      --delivery-window 3600 --json

  # Base Sepolia with a keystore (password from GENIM_KEYSTORE_PASSWORD or a prompt):
  genim deploy --chain base-sepolia --keystore ~/.foundry/keystores/deployer \\
      --price 0.0001ether --provider 0x...

  # Priced in USDC (GenImTokenNFT, gasless mints); on anvil `usdc` deploys Circle's real
  # USDC and gives each dev account 1000 USDC:
  genim deploy --token usdc --price 0.05 --provider 0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
pub struct DeployArgs {
    /// Price of one mint: in ETH 0.00003ether, 30000gwei or plain wei; with --token, whole
    /// token units such as 0.05 (USDC).
    #[arg(long, value_name = "AMOUNT")]
    pub price: String,

    /// Price mints in this EIP-3009 token (a GenImTokenNFT): an address, or `usdc` for Circle's
    /// USDC of the --chain preset (on anvil: deploy one and fund the dev accounts).
    #[arg(long, value_name = "ADDRESS|usdc")]
    pub token: Option<String>,

    /// Image provider to authorize; repeat for several.
    #[arg(long = "provider", value_name = "ADDRESS", required = true, value_parser = parse_address)]
    pub providers: Vec<Address>,

    /// Fee kept from each delivered escrow, in basis points (500 = 5%).
    #[arg(long, value_name = "BPS", default_value_t = 500)]
    pub fee_bps: u16,

    /// Where fees go [default: the deployer]
    #[arg(long, value_name = "ADDRESS", conflicts_with = "split", value_parser = parse_address)]
    pub fee_recipient: Option<Address>,

    /// Send fees to a Splitter clone shared as ADDRESS:SHARE,... (e.g. 0xA..:85,0xB..:15).
    #[arg(long, value_name = "ADDRESS:SHARE,...")]
    pub split: Option<String>,

    /// SplitterFactory to create the --split clone with [default: genim's, at the same address
    /// on every chain; deployed once per chain when missing]
    #[arg(long, value_name = "ADDRESS", requires = "split", value_parser = parse_address)]
    pub splitter_factory: Option<Address>,

    /// Seconds a provider has to deliver before the minter may refund (1 to 31536000).
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    pub delivery_window: u64,

    /// Contract owner, who manages providers and the price [default: the deployer]
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub owner: Option<Address>,

    /// Folder for the deployment record [default: deployments]
    #[arg(long, env = "GENIM_DEPLOYMENTS", value_name = "DIR")]
    pub deployments: Option<PathBuf>,

    /// Print the result as JSON: {"chainId","nft","splitter","tx"}.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl DeployArgs {
    /// Deploys, records and prints the addresses.
    pub async fn run(self) -> eyre::Result<()> {
        // Everything the user typed is checked before touching the network.
        let split = self.split.as_deref().map(split::parse_split).transpose()?;
        let token = self.token.as_deref().map(TokenChoice::parse).transpose()?;
        if token.is_none() {
            parse_eth(&self.price)?;
        }
        let (conn, config) = self.rpc.connect(Some(&self.wallet)).await?;
        let deployer = conn.signer()?;
        let dir = self
            .deployments
            .clone()
            .unwrap_or_else(|| config.deployments_dir());
        // Before anything is deployed: the record must be writable, or the addresses are lost.
        Deployment::check_writable(&dir, conn.chain_id)?;
        let previous = Deployment::load(&dir, conn.chain_id)?;
        let asset = match &token {
            None => Asset::Eth,
            Some(choice) => choice.resolve(&conn).await?,
        };
        let price = asset.parse(&self.price)?;
        let fee_recipient = match (split, self.fee_recipient) {
            // Salt zero: the clone's address follows from the split alone, so the same split is
            // found again instead of created twice (a split never changes).
            (Some(shares), _) => Some(FeeRecipient::Split {
                shares,
                salt: B256::ZERO,
                factory: self.splitter_factory,
            }),
            (None, Some(address)) => Some(FeeRecipient::Address(address)),
            (None, None) => None,
        };
        let params = DeployParams {
            owner: self.owner,
            token: asset.token(),
            price,
            fee_bps: self.fee_bps,
            fee_recipient,
            delivery_window: self.delivery_window,
            providers: self.providers.clone(),
        };
        let contract = if asset.token().is_some() {
            "GenImTokenNFT"
        } else {
            "GenImNFT"
        };
        eprintln!(
            "deploying {contract} on chain {} from {deployer}: price {}, fee {} bps, delivery \
             window {}",
            conn.chain_id,
            asset.format(price),
            self.fee_bps,
            format_duration(self.delivery_window)
        );
        let record = deploy::deploy(&conn, &params).await?;
        if let Some(previous) = previous.filter(|previous| previous.nft != record.nft) {
            eprintln!(
                "replacing the record of the earlier GenImNFT {}",
                previous.nft
            );
        }
        let path = record.save(&dir).map_err(|err| {
            eyre::eyre!(
                "deployed GenImNFT {} (tx {}), but {err}; pass --nft {} to the other commands",
                record.nft,
                record.tx.nft,
                record.nft
            )
        })?;
        if self.json {
            print_json(&serde_json::json!({
                "chainId": record.chain_id,
                "nft": record.nft,
                "splitter": record.splitter,
                "tx": record.tx.nft,
            }));
            return Ok(());
        }
        print(format_args!("{contract:<16} {}", record.nft));
        if let Asset::Token {
            address, symbol, ..
        } = &asset
        {
            print(format_args!("priced in        {symbol} {address}"));
        }
        if let (Some(splitter), Some(factory)) = (record.splitter, record.splitter_factory) {
            let shares: Vec<String> = record
                .split
                .iter()
                .flatten()
                .map(|share| format!("{} {}", share.account, share.share))
                .collect();
            print(format_args!(
                "Splitter         {splitter} (fee recipient: {})",
                shares.join(", ")
            ));
            print(format_args!("SplitterFactory  {factory}"));
        } else {
            print(format_args!(
                "fee recipient    {}",
                record.constructor_args.fee_recipient
            ));
        }
        for provider in &record.providers {
            print(format_args!("provider         {provider}"));
        }
        print(format_args!("transaction      {}", record.tx.nft));
        print(format_args!(
            "block            {} on chain {}",
            record.block, record.chain_id
        ));
        print(format_args!("record           {}", path.display()));
        Ok(())
    }
}

/// `--token`: an address, or `usdc`.
#[derive(Debug, Clone, Copy)]
enum TokenChoice {
    Address(Address),
    Usdc,
}

impl TokenChoice {
    fn parse(text: &str) -> eyre::Result<Self> {
        if text.trim().eq_ignore_ascii_case("usdc") {
            return Ok(Self::Usdc);
        }
        Ok(Self::Address(parse_address(text)?))
    }

    /// The token's asset; `usdc` is the preset chain's USDC, or on anvil a fresh real USDC
    /// funded for the dev accounts.
    async fn resolve(self, conn: &Connection) -> eyre::Result<Asset> {
        let address = match self {
            Self::Address(address) => address,
            Self::Usdc => match ChainPreset::from_chain_id(conn.chain_id) {
                Some(ChainPreset::Anvil) => {
                    let holders = crate::devnet::dev_addresses(10);
                    let local = usdc::deploy(
                        conn,
                        &UsdcOptions {
                            holders,
                            ..UsdcOptions::default()
                        },
                    )
                    .await?;
                    eprintln!(
                        "deployed USDC (Circle's FiatTokenV2_2 behind FiatTokenProxy) at {}; the \
                         10 anvil dev accounts hold 1000 USDC each",
                        local.address
                    );
                    local.address
                }
                Some(preset) => preset.usdc().ok_or_else(|| {
                    eyre::eyre!("genim knows no USDC on {preset}: pass --token ADDRESS")
                })?,
                None => eyre::bail!(
                    "genim knows no USDC on chain {}: pass --token ADDRESS",
                    conn.chain_id
                ),
            },
        };
        Ok(known::erc20_asset(conn, address).await?)
    }
}
