//! `genim demo`: the whole system on one machine, in one command.

use super::{print, print_json};
use crate::demo::{self, DemoAsset, DemoOptions};
use alloy::primitives::U256;
use eyre::bail;
use std::path::PathBuf;

/// Arguments of `genim demo`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  genim demo
  genim demo --images 3 --out /tmp/genim-demo
  genim demo --token usdc            # priced in USDC, users mint without gas")]
pub struct DemoArgs {
    /// Images to mint (1-5), one per sample prompt, each from its own test account
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub images: u8,

    /// Folder for the content-addressed image store and the provider's state
    #[arg(long, value_name = "DIR", default_value = "genim-demo")]
    pub out: PathBuf,

    /// anvil binary [default: env ANVIL, else ./node_modules/.bin/anvil, else anvil on PATH]
    #[arg(long, value_name = "PATH")]
    pub anvil: Option<PathBuf>,

    /// Price the contract in `eth`, or in `usdc` (Circle's real USDC deployed on the local
    /// chain; users mint without gas by signing, a relayer submits).
    #[arg(long, value_name = "eth|usdc", default_value = "eth", value_parser = parse_asset)]
    pub token: DemoAsset,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_asset(text: &str) -> Result<DemoAsset, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "eth" => Ok(DemoAsset::Eth),
        "usdc" => Ok(DemoAsset::Usdc),
        other => Err(format!("unknown demo token '{other}': use eth or usdc")),
    }
}

impl DemoArgs {
    /// Runs the demo and prints what happened.
    pub async fn run(self) -> eyre::Result<()> {
        let options = DemoOptions {
            asset: self.token,
            images: self.images.into(),
            out: self.out.clone(),
            anvil: self.anvil.clone(),
        };
        let report = tokio::select! {
            report = demo::run(&options, |line| eprintln!("{line}")) => report?,
            _ = super::provide::shutdown_signal() => bail!("interrupted"),
        };
        if self.json {
            print_json(&report);
            return Ok(());
        }
        print("| token | prompt | metadata CID (tokenURI) | payout | gas |");
        print("|---:|---|---|---:|---:|");
        for image in &report.images {
            print(format_args!(
                "| {} | {} | {} | {} | {} |",
                image.token_id,
                image.prompt,
                image.metadata_cid,
                report.asset.format(image.payout),
                image.gas_used
            ));
        }
        let earned: U256 = report.images.iter().map(|image| image.payout).sum();
        print("");
        print(format_args!(
            "{} images delivered, provider earned {} and withdrew {} ({} gas in delivery \
             transactions).",
            report.images.len(),
            report.asset.format(earned),
            report.asset.format(report.withdrawn),
            report.gas_used
        ));
        print(format_args!(
            "Images and metadata, each saved under its IPFS CID, are in {}:",
            report.store.display()
        ));
        for image in &report.images {
            print(format_args!(
                "  token {}: image {}, metadata {}",
                image.token_id,
                report.store.join(&image.image_cid).display(),
                report.store.join(&image.metadata_cid).display()
            ));
        }
        Ok(())
    }
}
