//! `genim bind`: generate typed alloy bindings (and JSON ABIs) from a foundry project.

use crate::{
    toolchain::FoundryConfig,
    toolchain::bindgen::{self as bind, BindOptions},
};
use eyre::WrapErr;
use regex::Regex;
use std::path::{Path, PathBuf};

/// Arguments of `genim bind`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # Regenerate genim's own bindings (src/bindings/) and ABIs (abi/):
  genim bind

  # CI: fail when the committed bindings are stale:
  genim bind --check

  # Bindings for another foundry project, only its Vault* contracts, no JSON ABIs:
  genim bind --root ../vaults --out ../vaults-rs/src/bindings --no-abi --select '^Vault'

The project is built first (cached). One module per contract, named in snake case (GenImNFT ->
gen_im_nft), each an alloy::sol! block with rpc and the creation bytecode. By default contracts
from the sources directory are bound, except tests, scripts and names ending in Test/Script;
interfaces and abstract contracts are bound without bytecode. --select binds any contract whose
name matches, libraries included.")]
pub struct BindArgs {
    /// Project root, the directory holding foundry.toml.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,

    /// Directory of the generated modules (mod.rs plus one file per contract) [default:
    /// <root>/src/bindings]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Directory of the JSON ABIs, <Name>.json [default: <root>/abi]
    #[arg(long, value_name = "DIR", conflicts_with = "no_abi")]
    pub abi_out: Option<PathBuf>,

    /// Do not write JSON ABIs.
    #[arg(long)]
    pub no_abi: bool,

    /// Bind only contracts whose name matches one of these regexes (instead of the default
    /// filter).
    #[arg(long, value_name = "REGEX", num_args = 1..)]
    pub select: Vec<Regex>,

    /// Generate in memory and fail, listing the files, when the ones on disk are stale.
    #[arg(long)]
    pub check: bool,

    /// solc executable [default: foundry.toml's `solc` path, else <root>/script/solc]
    #[arg(long, value_name = "PATH", env = "SOLC")]
    pub solc: Option<PathBuf>,
}

impl BindArgs {
    pub async fn run(self) -> eyre::Result<()> {
        let report = super::build::compile(self.root.clone(), self.solc.clone()).await?;
        let config = FoundryConfig::load(&self.root)
            .wrap_err_with(|| format!("cannot read {}", self.root.display()))?;
        let mut options = BindOptions::for_root(&config.root);
        if let Some(out) = self.out {
            options.out = out;
        }
        if self.no_abi {
            options.abi_out = None;
        } else if let Some(abi_out) = self.abi_out {
            options.abi_out = Some(abi_out);
        }
        options.select = self.select;
        let bindings = bind::generate(&config, &report.contracts, &options)?;
        let shown = |path: &Path| {
            let path = path.strip_prefix(&config.root).unwrap_or(path);
            path.display().to_string()
        };

        if self.check {
            let stale = bindings.check()?;
            if stale.is_empty() {
                eprintln!("bindings are up to date ({} files)", bindings.files.len());
                return Ok(());
            }
            for (path, why) in &stale {
                eprintln!("stale: {} ({why})", shown(path));
            }
            let list: Vec<String> = stale.iter().map(|(path, _)| shown(path)).collect();
            eyre::bail!(
                "{} generated file{} stale: {}; run `genim bind` and commit the result",
                stale.len(),
                if stale.len() == 1 { " is" } else { "s are" },
                list.join(", ")
            );
        }

        let written = bindings.write()?;
        for path in &written.written {
            eprintln!("wrote {}", shown(path));
        }
        for path in &written.removed {
            eprintln!("removed {}", shown(path));
        }
        let names: Vec<&str> = bindings
            .modules
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        eprintln!(
            "bound {} contract{} ({}): {} written, {} unchanged",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            written.written.len(),
            written.unchanged.len()
        );
        Ok(())
    }
}
