//! The Solidity toolchain: finding solc and compiling a foundry-layout project.
//!
//! Settings come from the root's `foundry.toml` (`[profile.default]`, overlaid by
//! `[profile.$FOUNDRY_PROFILE]`), so genim's bytecode equals forge's for the same project.
//! genim keeps its own artifacts and cache, beside forge's rather than in them: contract artifacts
//! in `<out>/genim/` (byte-identical on any checkout path), bookkeeping in `<cache_path>/genim/`
//! (files cache, build infos, solc version). forge build and genim build then never invalidate or
//! overwrite each other's output, and `forge clean` (which removes both) only costs a rebuild.
//!
//! Only the contracts under `src` are compiled (with their imports); tests and scripts, whether in
//! their own directories or beside the sources as `*.t.sol` / `*.s.sol`, are forge's business.

use alloy::{json_abi::JsonAbi, primitives::Bytes};
use foundry_compilers::{
    ConfigurableArtifacts, Project, ProjectCompileOutput, ProjectPathsConfig,
    artifacts::{
        BytecodeHash, BytecodeObject, EvmVersion, Remapping, SettingsMetadata, Severity,
        error::Error as SolcDiagnostic,
    },
    error::SolcError,
    multi::{MultiCompiler, MultiCompilerError, MultiCompilerSettings},
    solc::{Solc, SolcCompiler},
};
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::{Duration, Instant, UNIX_EPOCH},
};

mod compile;
mod config;
mod solc;

pub mod bindgen;

pub use compile::*;
pub use config::*;
pub use solc::*;

/// Name of genim's subdirectory inside the project's `out` and `cache_path` directories.
pub const GENIM_DIR: &str = "genim";

/// Solc warnings forge ignores by default: SPDX license (1878), contract size (5574), init code
/// size (3860), transient storage (2394), natspec memory-safe-assembly deprecated (2424); plus
/// "more than 256 warnings" (4591), which only counts warnings that are ignored anyway.
pub const DEFAULT_IGNORED_ERROR_CODES: [u64; 6] = [1878, 5574, 3860, 2394, 2424, 4591];

/// forge's names for solc warning codes accepted in `ignored_error_codes`.
const ERROR_CODE_NAMES: [(&str, u64); 11] = [
    ("license", 1878),
    ("code-size", 5574),
    ("init-code-size", 3860),
    ("transient-storage", 2394),
    ("natspec-memory-safe-assembly-deprecated", 2424),
    ("too-many-warnings", 4591),
    ("unreachable", 5740),
    ("unused-var", 2072),
    ("unused-param", 5667),
    ("func-mutability", 2018),
    ("unnamed-return", 6321),
];

/// Errors of the toolchain: a missing compiler, a bad `foundry.toml`, a failed compilation.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    /// Neither an explicit solc nor the project's npm shim is available.
    #[error(
        "no Solidity compiler: set SOLC or --solc to a solc binary, or run `npm ci` for the \
         bundled solcjs (looked for {})",
        shim.display()
    )]
    NoSolc { shim: PathBuf },
    /// The solc path given explicitly (or in foundry.toml) does not exist.
    #[error("solc not found at {}", path.display())]
    SolcNotFound { path: PathBuf },
    /// The solc executable did not answer `--version` usefully.
    #[error("{} is not a usable solc", path.display())]
    SolcUnusable {
        path: PathBuf,
        #[source]
        source: Box<SolcError>,
    },
    /// The project root does not exist or is not a directory.
    #[error("project root {} is not a directory", path.display())]
    NoRoot { path: PathBuf },
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `foundry.toml` is not valid TOML or has values of the wrong type.
    #[error("invalid {}", path.display())]
    Config {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A `foundry.toml` value has the right type but an unknown value.
    #[error("invalid `{key}` in {}: {message}", path.display())]
    Setting {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    /// The sources directory holds no Solidity files.
    #[error("no Solidity sources under {}", path.display())]
    NoSources { path: PathBuf },
    /// foundry-compilers failed before or around solc (resolving imports, running solc, writing
    /// artifacts).
    #[error("compiling {} failed", root.display())]
    Compile {
        root: PathBuf,
        #[source]
        source: Box<SolcError>,
    },
    /// solc reported errors; each diagnostic names file and line.
    #[error("{}", CompilerErrors(diagnostics))]
    CompilerErrors { diagnostics: Vec<Diagnostic> },
}

/// Formats the compiler-errors variant: a count line, then each diagnostic.
struct CompilerErrors<'a>(&'a [Diagnostic]);

impl fmt::Display for CompilerErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .0
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        write!(
            f,
            "compilation failed with {n} error{}",
            if n == 1 { "" } else { "s" }
        )?;
        for diagnostic in self.0 {
            write!(f, "\n{diagnostic}")?;
        }
        Ok(())
    }
}
