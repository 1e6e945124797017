//! Subcommands: one file each (a folder for a group), each with its `Args` and `run`.

use clap::{Parser, Subcommand};
use std::{fmt::Display, io::Write};

pub mod bind;
pub mod build;
pub mod demo;
pub mod deploy;
pub mod fees;
pub mod generator_opts;
pub mod mint;
pub mod opts;
pub mod pay;
pub mod price;
pub mod provide;
pub mod provider;
pub mod refund;
pub mod serve;
pub mod split;
pub mod status;
pub mod withdraw;

/// genim: paid AI image generation on Ethereum L2s.
///
/// Compile and deploy the escrow contracts (priced in ETH or in USDC), mint images with a prompt
/// (gasless in USDC), follow them until delivered, refund undelivered ones, run an image provider
/// that gets paid per delivery, and sell images over x402 with `serve` (paid with `pay`).
#[derive(Debug, Parser)]
#[command(name = "genim", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// More logs on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile contracts/ with foundry-compilers (cached).
    Build(build::BuildArgs),
    /// Generate typed alloy bindings from a foundry project's artifacts.
    Bind(bind::BindArgs),
    /// Deploy GenImNFT (and optionally a fee Splitter), authorize providers, record it.
    Deploy(deploy::DeployArgs),
    /// Pay the price and mint an image token for a prompt.
    Mint(mint::MintArgs),
    /// Show a token's state: pending, delivered or refunded.
    Status(status::StatusArgs),
    /// Burn your undelivered token after its deadline and get its escrow back.
    Refund(refund::RefundArgs),
    /// Withdraw what a contract holds for you: provider earnings, credited refunds.
    Withdraw(withdraw::WithdrawArgs),
    /// Send accrued fees to the fee recipient.
    Fees(fees::FeesArgs),
    /// Authorize or remove image providers (owner).
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// Change the mint price (owner).
    #[command(subcommand)]
    Price(price::PriceCommand),
    /// Create, inspect and release revenue splitters.
    #[command(subcommand)]
    Split(split::SplitCommand),
    /// Run the image provider: watch mints, generate, store on IPFS, deliver, get paid.
    Provide(Box<provide::ProvideArgs>),
    /// Sell images over x402 (v1 and v2), be a facilitator, serve the web page.
    Serve(Box<serve::ServeArgs>),
    /// Run everything locally: anvil, deploy, mint sample prompts, provide, print a table.
    Demo(demo::DemoArgs),
    /// Request a URL and pay its x402 402 (v1 or v2) with a gasless USDC authorization.
    Pay(Box<pay::PayArgs>),
}

impl Cli {
    /// The log level without `-v`: services say what they do (one line per delivery), other
    /// commands only warn.
    pub fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Provide(_) | Command::Serve(_) => "info",
            _ => "warn",
        }
    }

    /// Runs the chosen subcommand.
    pub async fn run(self) -> eyre::Result<()> {
        match self.command {
            Command::Build(args) => args.run().await,
            Command::Bind(args) => args.run().await,
            Command::Deploy(args) => args.run().await,
            Command::Mint(args) => args.run().await,
            Command::Status(args) => args.run().await,
            Command::Refund(args) => args.run().await,
            Command::Withdraw(args) => args.run().await,
            Command::Fees(args) => args.run().await,
            Command::Provider(cmd) => cmd.run().await,
            Command::Price(cmd) => cmd.run().await,
            Command::Split(cmd) => cmd.run().await,
            Command::Provide(args) => args.run().await,
            Command::Demo(args) => args.run().await,
            Command::Serve(args) => args.run().await,
            Command::Pay(args) => args.run().await,
        }
    }
}

/// Prints one result line on stdout. A closed stdout (`genim status 1 | head -1`) ends genim
/// quietly with success: the reader has what it wanted.
pub fn print(text: impl Display) {
    let mut out = std::io::stdout().lock();
    if let Err(err) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {err}");
        std::process::exit(1);
    }
}

/// Prints a value as one line of JSON on stdout (see [`print`]).
pub fn print_json(value: &impl serde::Serialize) {
    print(serde_json::to_string(value).expect("results serialize"));
}
