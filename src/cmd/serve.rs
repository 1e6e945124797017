//! `genim serve`: sell images over x402, be a facilitator, serve the web page.

use super::{
    generator_opts::GeneratorOpts,
    opts::{RpcOpts, WalletOpts, parse_address},
    print,
};
use crate::{
    serve::{self, ServeOptions},
    store::StoreSpec,
};
use alloy::primitives::Address;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Arguments of `genim serve`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # Everything local: anvil, real USDC, a Splitter, a USDC-priced GenImTokenNFT, sample images:
  genim serve
  # Pay-per-image into a Splitter (direct: settled only once the image exists):
  GENIM_PRIVATE_KEY=0x... genim serve --chain base-sepolia --pay-to 0xSPLITTER --price 0.05 \\
      --generator openai --model gpt-image-1 --store ipfs:http://127.0.0.1:5001
  # Escrow: every paid request mints an NFT; the image or the money back:
  GENIM_PRIVATE_KEY=0x... genim serve --nft 0xGENIMTOKENNFT --store dir:./images
  # Several instances sharing one ledger:
  genim serve --nft 0x... --ledger postgres://genim:secret@db:5432/genim")]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "GENIM_LISTEN",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:4021"
    )]
    pub listen: SocketAddr,

    /// Direct mode: x402 payments go to this address (a Splitter) by transferWithAuthorization.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub pay_to: Option<Address>,

    /// Escrow mode and the web page: this GenImTokenNFT (or, for the page only, a GenImNFT).
    /// With --pay-to as well, x402 pays the Splitter and the page serves this contract.
    #[arg(long, env = "GENIM_NFT", value_name = "ADDRESS", value_parser = parse_address)]
    pub nft: Option<Address>,

    /// The EIP-3009 token payments are made in [default: the contract's asset (escrow), else
    /// the chain preset's USDC]
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub token: Option<Address>,

    /// Direct mode: the price of one image in the token's units (e.g. 0.05); per model and
    /// size in genim.toml's [serve.prices]. Escrow mode takes the contract's price.
    #[arg(long, value_name = "AMOUNT")]
    pub price: Option<String>,

    #[command(flatten)]
    pub generator: GeneratorOpts,

    /// Where images (and NFT metadata) go: dir:PATH or ipfs:URL.
    #[arg(
        long,
        env = "GENIM_STORE",
        value_name = "KIND:ARG",
        default_value = "dir:genim-store"
    )]
    pub store: StoreSpec,

    /// Payment state (reservations, results, settlements): embedded:PATH [default:
    /// embedded:<state-dir>/ledger], or postgres://USER:PASSWORD@HOST:PORT/DB to share it
    /// between instances.
    #[arg(long, env = "GENIM_LEDGER", value_name = "SPEC")]
    pub ledger: Option<String>,

    /// Folder for the embedded ledger and the provider loop's state.
    #[arg(
        long,
        env = "GENIM_STATE_DIR",
        value_name = "DIR",
        default_value = ".genim/serve"
    )]
    pub state_dir: PathBuf,

    /// The URL clients reach this server at (for `url` answers and x402 resources) [default:
    /// http://<listen>]
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// Do not run the provider loop for --nft (another `genim provide` delivers wallet mints).
    #[arg(long)]
    pub no_provide: bool,

    /// Seconds requests in flight may take to finish after SIGINT/SIGTERM.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub shutdown_timeout: u64,

    /// With no --pay-to/--nft: the anvil binary for the local chain.
    #[arg(long, value_name = "PATH")]
    pub anvil: Option<PathBuf>,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl ServeArgs {
    /// Builds the server and runs it until SIGINT/SIGTERM.
    pub async fn run(self) -> eyre::Result<()> {
        let generator = self.generator.build()?;
        let store = self.store.open()?;
        let options = ServeOptions {
            listen: self.listen,
            pay_to: self.pay_to,
            nft: self.nft,
            token: self.token,
            price: self.price.clone(),
            ledger: self.ledger.clone(),
            state_dir: self.state_dir.clone(),
            public_url: self.public_url.clone(),
            provide: !self.no_provide,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            anvil: self.anvil.clone(),
        };
        let local = self.pay_to.is_none() && self.nft.is_none();
        let (conn, config) = if local {
            (None, self.rpc.load_config()?)
        } else {
            let (conn, config) = self.rpc.connect(Some(&self.wallet)).await?;
            conn.signer()?;
            (Some(conn), config)
        };
        let server = serve::Server::build(options, conn, &config, generator, store, |line| {
            eprintln!("{line}")
        })
        .await?;
        // The first line on stdout is the URL: scripts and tests read it.
        print(server.url());
        server.run(super::provide::shutdown_signal()).await?;
        Ok(())
    }
}
