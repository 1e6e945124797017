//! `genim build`: compile the project's contracts with foundry-compilers, cached.

use crate::toolchain::{self, ToolchainError};
use eyre::WrapErr;
use std::path::PathBuf;

/// Arguments of `genim build`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "Examples:
  # Compile genim's contracts (solcjs from node_modules; run `npm ci` once):
  genim build

  # Another foundry project, with a native solc:
  genim build --root ../my-project --solc /usr/local/bin/solc-0.8.30

Settings (src, libs, remappings, evm_version, optimizer, via_ir, bytecode_hash...) come from
<root>/foundry.toml, so the bytecode equals forge's. Artifacts go to <out>/genim and the cache to
<cache_path>/genim, beside forge's own, so forge build and genim build do not disturb each other.")]
pub struct BuildArgs {
    /// Project root, the directory holding foundry.toml.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,

    /// solc executable [default: foundry.toml's `solc` path, else <root>/script/solc, the
    /// solcjs shim from `npm ci`]
    #[arg(long, value_name = "PATH", env = "SOLC")]
    pub solc: Option<PathBuf>,
}

impl BuildArgs {
    pub async fn run(self) -> eyre::Result<()> {
        let Self { root, solc } = self;
        compile(root, solc).await?;
        Ok(())
    }
}

/// Builds on a blocking thread, shows warnings and the summary on stderr, and turns compiler
/// errors into a readable listing plus a one-line error. Shared with `genim bind`.
pub(crate) async fn compile(
    root: PathBuf,
    solc: Option<PathBuf>,
) -> eyre::Result<toolchain::BuildReport> {
    let shown = root.display().to_string();
    let result =
        tokio::task::spawn_blocking(move || toolchain::build(&root, solc.as_deref())).await?;
    match result {
        Ok(report) => {
            // Each reads like solc's: "src/A.sol:12:5: Warning: Unused local variable.".
            for warning in &report.warnings {
                eprintln!("{warning}");
            }
            eprintln!("{}", report.summary());
            Ok(report)
        }
        Err(ToolchainError::CompilerErrors { diagnostics }) => {
            // main prints the error on one line, so the multi-line listing goes here.
            let mut errors = 0;
            for diagnostic in &diagnostics {
                let is_error = diagnostic.severity.is_error();
                errors += usize::from(is_error);
                eprintln!("{}{diagnostic}", if is_error { "error: " } else { "" });
            }
            eyre::bail!(
                "compilation failed with {errors} error{}",
                if errors == 1 { "" } else { "s" }
            )
        }
        Err(err) => Err(err).wrap_err_with(|| format!("cannot build {shown}")),
    }
}
