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

/// The project settings genim reads from `foundry.toml`; paths are relative to `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundryConfig {
    /// The project root (the directory holding `foundry.toml`), absolute.
    pub root: PathBuf,
    /// Contract sources (`src`, default `src`).
    pub src: PathBuf,
    /// forge tests (`test`, default `test`); never compiled or bound by genim.
    pub test: PathBuf,
    /// forge scripts (`script`, default `script`); never compiled or bound by genim.
    pub script: PathBuf,
    /// forge's artifacts directory (`out`, default `out`); genim writes into `<out>/genim`.
    pub out: PathBuf,
    /// forge's cache directory (`cache_path`, default `cache`); genim's cache is in
    /// `<cache_path>/genim`.
    pub cache_path: PathBuf,
    /// Library directories (`libs`, default `["lib"]`).
    pub libs: Vec<PathBuf>,
    /// Import remappings: `foundry.toml`'s, then `remappings.txt`'s, then (unless
    /// `auto_detect_remappings = false`) those detected in `libs` for names not yet mapped.
    pub remappings: Vec<Remapping>,
    /// The `solc` entry when it names a file (a version number is ignored: genim never
    /// downloads compilers).
    pub solc: Option<PathBuf>,
    /// Target EVM (`evm_version`, default osaka like forge; capped to what solc supports).
    pub evm_version: EvmVersion,
    /// `optimizer` (default false).
    pub optimizer: bool,
    /// `optimizer_runs` (default 200).
    pub optimizer_runs: usize,
    /// `via_ir` (default false).
    pub via_ir: bool,
    /// `bytecode_hash` (default ipfs); `none` makes bytecode independent of paths and comments.
    pub bytecode_hash: BytecodeHash,
    /// `cbor_metadata` (default true).
    pub cbor_metadata: bool,
    /// Warning codes not shown: `ignored_error_codes` (numbers or forge's names), default
    /// [`DEFAULT_IGNORED_ERROR_CODES`].
    pub ignored_error_codes: Vec<u64>,
}

/// One `[profile.X]` table; every key optional so profiles can overlay each other.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
struct Profile {
    src: Option<PathBuf>,
    test: Option<PathBuf>,
    script: Option<PathBuf>,
    out: Option<PathBuf>,
    #[serde(alias = "cache-path")]
    cache_path: Option<PathBuf>,
    libs: Option<Vec<PathBuf>>,
    remappings: Option<Vec<String>>,
    #[serde(alias = "auto-detect-remappings")]
    auto_detect_remappings: Option<bool>,
    solc: Option<String>,
    #[serde(alias = "evm-version")]
    evm_version: Option<String>,
    optimizer: Option<bool>,
    #[serde(alias = "optimizer-runs")]
    optimizer_runs: Option<usize>,
    #[serde(alias = "via-ir")]
    via_ir: Option<bool>,
    #[serde(alias = "bytecode-hash")]
    bytecode_hash: Option<String>,
    #[serde(alias = "cbor-metadata")]
    cbor_metadata: Option<bool>,
    #[serde(alias = "ignored-error-codes")]
    ignored_error_codes: Option<Vec<toml::Value>>,
}

impl Profile {
    /// Takes every key `other` sets.
    fn overlay(&mut self, other: Self) {
        macro_rules! take {
            ($($field:ident),*) => { $( if other.$field.is_some() { self.$field = other.$field; } )* };
        }
        take!(
            src,
            test,
            script,
            out,
            cache_path,
            libs,
            remappings,
            auto_detect_remappings,
            solc,
            evm_version,
            optimizer,
            optimizer_runs,
            via_ir,
            bytecode_hash,
            cbor_metadata,
            ignored_error_codes
        );
    }
}

#[derive(Debug, Default, Deserialize)]
struct FoundryToml {
    #[serde(default)]
    profile: BTreeMap<String, toml::Value>,
}

impl FoundryConfig {
    /// Reads `<root>/foundry.toml` (forge's defaults when it is absent).
    pub fn load(root: &Path) -> Result<Self, ToolchainError> {
        let root = std::path::absolute(root).map_err(|source| ToolchainError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ToolchainError::NoRoot { path: root });
        }
        let path = root.join("foundry.toml");
        let profile = match std::fs::read_to_string(&path) {
            Ok(text) => Self::parse_profile(&path, &text)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Profile::default(),
            Err(source) => return Err(ToolchainError::Io { path, source }),
        };
        Self::from_profile(root, &path, profile)
    }

    /// The default profile overlaid with `FOUNDRY_PROFILE`'s, as forge does.
    fn parse_profile(path: &Path, text: &str) -> Result<Profile, ToolchainError> {
        let config_err = |source| ToolchainError::Config {
            path: path.to_path_buf(),
            source: Box::new(source),
        };
        let file: FoundryToml = toml::from_str(text).map_err(config_err)?;
        let mut profiles = file.profile;
        let mut take = |name: &str| -> Result<Profile, ToolchainError> {
            match profiles.remove(name) {
                Some(value) => value.try_into().map_err(config_err),
                None => Ok(Profile::default()),
            }
        };
        let mut profile = take("default")?;
        if let Ok(name) = std::env::var("FOUNDRY_PROFILE")
            && name != "default"
        {
            profile.overlay(take(&name)?);
        }
        Ok(profile)
    }

    fn from_profile(root: PathBuf, path: &Path, p: Profile) -> Result<Self, ToolchainError> {
        let setting = |key, message: String| ToolchainError::Setting {
            path: path.to_path_buf(),
            key,
            message,
        };
        let evm_version = match p.evm_version.as_deref() {
            Some(v) => v.parse().map_err(|e: String| setting("evm_version", e))?,
            None => EvmVersion::Osaka,
        };
        let bytecode_hash = match p.bytecode_hash.as_deref() {
            Some(v) => v.parse().map_err(|e: String| setting("bytecode_hash", e))?,
            None => BytecodeHash::Ipfs,
        };
        let libs = p.libs.unwrap_or_else(|| vec![PathBuf::from("lib")]);
        let mut remappings = Vec::new();
        for text in p.remappings.unwrap_or_default() {
            remappings.push(
                text.parse::<Remapping>()
                    .map_err(|e| setting("remappings", format!("{text:?}: {e}")))?,
            );
        }
        let remappings_txt = root.join("remappings.txt");
        if let Ok(text) = std::fs::read_to_string(&remappings_txt) {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let remapping = line
                    .parse::<Remapping>()
                    .map_err(|e| ToolchainError::Setting {
                        path: remappings_txt.clone(),
                        key: "remappings",
                        message: format!("{line:?}: {e}"),
                    })?;
                push_remapping(&mut remappings, remapping);
            }
        }
        if p.auto_detect_remappings.unwrap_or(true) {
            for lib in &libs {
                for mut remapping in Remapping::find_many(&root.join(lib)) {
                    // Detected remappings point at absolute paths; keep them relative to the root
                    // like the configured ones, so settings (and metadata) are path independent.
                    if let Ok(rel) = Path::new(&remapping.path).strip_prefix(&root) {
                        remapping.path = format!("{}/", rel.display());
                    }
                    push_remapping(&mut remappings, remapping);
                }
            }
        }
        let ignored_error_codes = match p.ignored_error_codes {
            None => DEFAULT_IGNORED_ERROR_CODES.to_vec(),
            Some(values) => {
                let mut codes = Vec::new();
                for value in values {
                    let code = match &value {
                        toml::Value::Integer(n) => u64::try_from(*n).ok(),
                        toml::Value::String(name) => ERROR_CODE_NAMES
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, code)| *code)
                            .or_else(|| name.parse().ok()),
                        _ => None,
                    };
                    match code {
                        Some(code) => codes.push(code),
                        // forge knows more names than genim; an unknown one only shows warnings.
                        None => tracing::debug!(%value, "unknown ignored_error_codes entry"),
                    }
                }
                codes
            }
        };
        // A `solc` that is a version number (or absent) means "whatever is installed", which
        // for genim is the explicit path or the npm shim.
        let solc = p
            .solc
            .filter(|s| s.contains('/') || s.contains('\\'))
            .map(PathBuf::from);
        let dir = |value: Option<PathBuf>, default: &str| {
            normalize(&root, &value.unwrap_or_else(|| default.into()))
        };
        Ok(Self {
            src: dir(p.src, "src"),
            test: dir(p.test, "test"),
            script: dir(p.script, "script"),
            out: dir(p.out, "out"),
            cache_path: dir(p.cache_path, "cache"),
            libs: libs.iter().map(|lib| normalize(&root, lib)).collect(),
            remappings,
            solc,
            evm_version,
            optimizer: p.optimizer.unwrap_or(false),
            optimizer_runs: p.optimizer_runs.unwrap_or(200),
            via_ir: p.via_ir.unwrap_or(false),
            bytecode_hash,
            cbor_metadata: p.cbor_metadata.unwrap_or(true),
            ignored_error_codes,
            root,
        })
    }

    /// Where genim writes its artifacts: `<root>/<out>/genim`.
    pub fn artifacts_dir(&self) -> PathBuf {
        self.root.join(&self.out).join(GENIM_DIR)
    }

    /// genim's cache file: `<root>/<cache_path>/genim/solidity-files-cache.json`.
    pub fn cache_file(&self) -> PathBuf {
        self.root
            .join(&self.cache_path)
            .join(GENIM_DIR)
            .join("solidity-files-cache.json")
    }

    /// Whether a root-relative source path is a forge test or script, which genim neither
    /// compiles nor binds: under `test`/`script`, or named `*.t.sol` / `*.s.sol`.
    pub fn is_test_or_script(&self, rel: &Path) -> bool {
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        rel.starts_with(&self.test)
            || rel.starts_with(&self.script)
            || name.ends_with(".t.sol")
            || name.ends_with(".s.sol")
    }

    /// The Solidity files genim compiles: everything under `src` except tests and scripts,
    /// root-relative and sorted.
    pub fn source_files(&self) -> Result<Vec<PathBuf>, ToolchainError> {
        let mut files = Vec::new();
        let src = self.root.join(&self.src);
        collect_sol_files(&src, &mut files)?;
        let mut files: Vec<PathBuf> = files
            .into_iter()
            .filter_map(|f| f.strip_prefix(&self.root).ok().map(Path::to_path_buf))
            .filter(|rel| !self.is_test_or_script(rel))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ToolchainError::NoSources { path: src });
        }
        Ok(files)
    }
}

/// A configured directory relative to the root when it lies inside it, without `.` components, so
/// prefix checks on root-relative source paths work (`./contracts/` -> `contracts`).
fn normalize(root: &Path, dir: &Path) -> PathBuf {
    let dir = dir.strip_prefix(root).unwrap_or(dir);
    dir.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Adds `remapping` unless its name (with the same context) is already mapped.
fn push_remapping(remappings: &mut Vec<Remapping>, remapping: Remapping) {
    if !remappings
        .iter()
        .any(|r| r.name == remapping.name && r.context == remapping.context)
    {
        remappings.push(remapping);
    }
}

fn collect_sol_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ToolchainError> {
    let io_err = |source| ToolchainError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_err(err)),
    };
    for entry in entries {
        let path = entry.map_err(io_err)?.path();
        if path.is_dir() {
            collect_sol_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "sol") {
            files.push(path);
        }
    }
    Ok(())
}

/// Where the compiler came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolcOrigin {
    /// `--solc` or `SOLC`.
    Explicit,
    /// foundry.toml's `solc = "<path>"`.
    FoundryToml,
    /// The project's npm shim, `script/solc` around `node_modules/solc`.
    NpmShim,
}

/// A located solc executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolcPath {
    /// The executable, absolute.
    pub path: PathBuf,
    /// How it was found.
    pub origin: SolcOrigin,
}

/// Finds solc: `explicit` (the CLI passes `--solc` or `SOLC`), then a path in foundry.toml's
/// `solc`, then the project's npm shim `<root>/script/solc`, which needs `<root>/node_modules/solc`.
pub fn find_solc(
    config: &FoundryConfig,
    explicit: Option<&Path>,
) -> Result<SolcPath, ToolchainError> {
    let shim = config.root.join("script").join("solc");
    let candidate = match (explicit, &config.solc) {
        (Some(path), _) => Some((path.to_path_buf(), SolcOrigin::Explicit)),
        (None, Some(path)) => {
            let path = config.root.join(path);
            // forge.toml pointing at the shim is the shim: it gets the npm ci hint below.
            (path != shim).then_some((path, SolcOrigin::FoundryToml))
        }
        (None, None) => None,
    };
    if let Some((path, origin)) = candidate {
        let path = std::path::absolute(&path).map_err(|source| ToolchainError::Io {
            path: path.clone(),
            source,
        })?;
        if !path.is_file() {
            return Err(ToolchainError::SolcNotFound { path });
        }
        return Ok(SolcPath { path, origin });
    }
    if shim.is_file() && config.root.join("node_modules").join("solc").is_dir() {
        return Ok(SolcPath {
            path: shim,
            origin: SolcOrigin::NpmShim,
        });
    }
    Err(ToolchainError::NoSolc { shim })
}

/// A solc error or warning, located in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error, warning or info.
    pub severity: Severity,
    /// solc's type, such as `ParserError`, `TypeError` or `Warning`.
    pub kind: String,
    /// solc's error code, if any.
    pub code: Option<u64>,
    /// The root-relative file, if solc located it.
    pub file: Option<PathBuf>,
    /// 1-based line and column, if solc located it.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// The message, one line.
    pub message: String,
    /// solc's source excerpt (the `|` lines under the location), if it gave one.
    pub excerpt: Option<String>,
}

impl Diagnostic {
    fn from_solc(root: &Path, err: &SolcDiagnostic) -> Self {
        let (mut file, mut line, mut column) = (None, None, None);
        if let Some(loc) = &err.source_location {
            let rel = Path::new(&loc.file);
            let rel = rel.strip_prefix(root).unwrap_or(rel).to_path_buf();
            if let Ok(text) = std::fs::read(root.join(&rel))
                && let Ok(start) = usize::try_from(loc.start)
                && start <= text.len()
            {
                let before = &text[..start];
                line = Some(before.iter().filter(|&&b| b == b'\n').count() + 1);
                let line_start = before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1);
                column = Some(
                    String::from_utf8_lossy(&before[line_start..])
                        .chars()
                        .count()
                        + 1,
                );
            }
            file = Some(rel);
        }
        // solc's formatted message: "Kind: message\n --> file:l:c:\n  |\n5 | code\n  | ^^^\n".
        // Keep the excerpt (the lines after the location line).
        let excerpt = err.formatted_message.as_deref().and_then(|formatted| {
            let lines: Vec<&str> = formatted.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.trim_start().starts_with("-->"))?;
            let rest: Vec<&str> = lines[at + 1..]
                .iter()
                .copied()
                .filter(|l| !l.trim().is_empty())
                .collect();
            (!rest.is_empty()).then(|| rest.join("\n"))
        });
        Self {
            severity: err.severity,
            kind: err.r#type.clone(),
            code: err.error_code,
            file,
            line,
            column,
            message: err.message.trim().to_string(),
            excerpt,
        }
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: Kind: message`, then solc's excerpt, like solc's own output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
            f.write_str(": ")?;
        }
        write!(f, "{}: {}", self.kind, self.message)?;
        if let Some(excerpt) = &self.excerpt {
            write!(f, "\n{excerpt}")?;
        }
        Ok(())
    }
}

/// A compiled contract, as read from genim's artifacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledContract {
    /// The contract name.
    pub name: String,
    /// Its source file, root-relative (`contracts/GenImNFT.sol`).
    pub source: PathBuf,
    /// Its artifact file, absolute.
    pub artifact: PathBuf,
    /// The ABI (empty for contracts without external interface).
    pub abi: JsonAbi,
    /// Creation bytecode; `None` for interfaces and abstract contracts.
    pub bytecode: Option<Bytes>,
    /// Whether the bytecode has unlinked library placeholders (then `bytecode` is `None`).
    pub unlinked: bool,
    /// Runtime bytecode (what a deployment holds), `None` when `bytecode` is.
    pub deployed_bytecode: Option<Bytes>,
    /// `(start, length)` ranges of the runtime bytecode that the constructor fills with
    /// immutables, sorted: everything else is the same in every deployment.
    pub immutables: Vec<(usize, usize)>,
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The compiler used.
    pub solc: SolcPath,
    /// Its version, `major.minor.patch`.
    pub solc_version: String,
    /// Files solc compiled in this run (root-relative, sorted); empty on a cache hit.
    pub compiled: Vec<PathBuf>,
    /// Wall time of the build.
    pub elapsed: Duration,
    /// Warnings (not ignored ones), file and line included.
    pub warnings: Vec<Diagnostic>,
    /// genim's artifacts directory.
    pub artifacts_dir: PathBuf,
    /// Every contract of the build, fresh or cached, sorted by source then name.
    pub contracts: Vec<CompiledContract>,
}

impl BuildReport {
    /// True when nothing needed compiling.
    pub fn is_cache_hit(&self) -> bool {
        self.compiled.is_empty()
    }

    /// One status line: "compiled 3 files with solc 0.8.37 in 2.1s" or "no changes, nothing
    /// compiled".
    pub fn summary(&self) -> String {
        if self.is_cache_hit() {
            return "no changes, nothing compiled".to_string();
        }
        let n = self.compiled.len();
        format!(
            "compiled {n} file{} with solc {} in {:.1}s",
            if n == 1 { "" } else { "s" },
            self.solc_version,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Compiles the foundry-layout project at `root` with genim's cache, blocking (solc runs as a
/// child process; call from `spawn_blocking` in async code).
///
/// `solc` is the explicit compiler (`--solc` / `SOLC`); see [`find_solc`] for the fallbacks.
/// Compiler errors come back as [`ToolchainError::CompilerErrors`]; warnings in the report.
pub fn build(root: &Path, solc: Option<&Path>) -> Result<BuildReport, ToolchainError> {
    let config = FoundryConfig::load(root)?;
    build_with(&config, solc)
}

/// [`build`] with an already loaded configuration.
pub fn build_with(
    config: &FoundryConfig,
    solc: Option<&Path>,
) -> Result<BuildReport, ToolchainError> {
    let started = Instant::now();
    let solc_path = find_solc(config, solc)?;
    let files = config.source_files()?;
    let root = &config.root;
    let compile_err = |source| ToolchainError::Compile {
        root: root.clone(),
        source: Box::new(source),
    };

    let compiler = solc_cached(config, &solc_path)?;
    let version = &compiler.version;
    let solc_version = format!("{}.{}.{}", version.major, version.minor, version.patch);
    tracing::debug!(solc = %solc_path.path.display(), version = %version, "using solc");

    let project = project(config, compiler).map_err(compile_err)?;
    let output = project
        .compile_files(files.iter().map(|f| root.join(f)))
        .map_err(compile_err)?;

    let diagnostics = diagnostics(root, &project, &output);
    if output.has_compiler_errors() {
        let mut diagnostics = diagnostics;
        // Errors first, then the warnings that came with them.
        diagnostics.sort_by_key(|d| d.severity != Severity::Error);
        return Err(ToolchainError::CompilerErrors { diagnostics });
    }
    let warnings = diagnostics;

    let mut compiled: Vec<PathBuf> = output
        .output()
        .sources
        .files()
        .map(|path| relative(root, path))
        .collect();
    compiled.sort();
    compiled.dedup();

    let mut contracts: Vec<CompiledContract> = output
        .artifact_ids()
        .map(|(id, artifact)| {
            let (bytecode, unlinked) = match artifact.bytecode.as_ref().map(|b| &b.object) {
                Some(BytecodeObject::Bytecode(code)) if !code.is_empty() => {
                    (Some(code.clone()), false)
                }
                Some(BytecodeObject::Unlinked(_)) => (None, true),
                _ => (None, false),
            };
            let deployed = artifact.deployed_bytecode.as_ref();
            let deployed_bytecode = match deployed
                .and_then(|d| d.bytecode.as_ref())
                .map(|b| &b.object)
            {
                Some(BytecodeObject::Bytecode(code)) if bytecode.is_some() => Some(code.clone()),
                _ => None,
            };
            let mut immutables: Vec<(usize, usize)> = deployed
                .iter()
                .flat_map(|d| d.immutable_references.values().flatten())
                .map(|o| (o.start as usize, o.length as usize))
                .collect();
            immutables.sort_unstable();
            CompiledContract {
                name: id.name.clone(),
                source: relative(root, &id.source),
                artifact: id.path.clone(),
                abi: artifact.abi.clone().unwrap_or_default(),
                bytecode,
                unlinked,
                deployed_bytecode,
                immutables,
            }
        })
        .collect();
    contracts.sort_by(|a, b| (&a.source, &a.name).cmp(&(&b.source, &b.name)));
    contracts.dedup_by(|a, b| a.source == b.source && a.name == b.name);

    Ok(BuildReport {
        solc: solc_path,
        solc_version,
        compiled,
        elapsed: started.elapsed(),
        warnings,
        artifacts_dir: config.artifacts_dir(),
        contracts,
    })
}

/// The solc at `solc`, its version taken from genim's cache when the executable (and, for the npm
/// shim, `node_modules/solc`) is unchanged: asking solcjs `--version` costs a second of node start.
fn solc_cached(config: &FoundryConfig, solc: &SolcPath) -> Result<Solc, ToolchainError> {
    let cache = config
        .root
        .join(&config.cache_path)
        .join(GENIM_DIR)
        .join("solc-version");
    let mut fingerprint = String::new();
    let mut stamp = |path: &Path| {
        if let Ok(meta) = std::fs::metadata(path) {
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(UNIX_EPOCH).ok());
            let nanos = modified.map_or(0, |d| d.as_nanos());
            fingerprint.push_str(&format!("{} {} {nanos}\n", path.display(), meta.len()));
        }
    };
    stamp(&solc.path);
    if solc.origin == SolcOrigin::NpmShim {
        stamp(&config.root.join("node_modules/solc/package.json"));
    }
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some(version) = text.strip_prefix(&fingerprint)
        && let Ok(version) = semver::Version::parse(version.trim())
    {
        return Ok(solc_with_version(&solc.path, version));
    }
    let version = Solc::version(&solc.path).map_err(|source| ToolchainError::SolcUnusable {
        path: solc.path.clone(),
        source: Box::new(source),
    })?;
    let compiler = solc_with_version(&solc.path, version);
    // Only a speed-up: a cache that cannot be written is asked again next time.
    if let Some(dir) = cache.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = std::fs::write(&cache, format!("{fingerprint}{}\n", compiler.version));
    }
    Ok(compiler)
}

/// A `Solc` of a known version. Built field by field: `Solc::new_with_version` asks the binary for
/// its version again in debug builds, which is what the cache avoids.
fn solc_with_version(path: &Path, version: semver::Version) -> Solc {
    Solc {
        solc: path.to_path_buf(),
        version,
        base_path: None,
        allow_paths: Default::default(),
        include_paths: Default::default(),
        extra_args: Vec::new(),
    }
}

/// The foundry-compilers project for `config`: genim's own artifact and cache locations,
/// forge's settings.
fn project(config: &FoundryConfig, solc: Solc) -> Result<Project, SolcError> {
    let root = &config.root;
    let paths = ProjectPathsConfig::builder()
        .root(root)
        .sources(root.join(&config.src))
        .tests(root.join(&config.test))
        .scripts(root.join(&config.script))
        .artifacts(config.artifacts_dir())
        // foundry-compilers' minimal build infos hash the solc input including the absolute
        // base path; they are cache bookkeeping, so they live in the cache, keeping `<out>/genim`
        // byte-identical on any checkout path.
        .build_infos(
            config
                .root
                .join(&config.cache_path)
                .join(GENIM_DIR)
                .join("build-info"),
        )
        .cache(config.cache_file())
        .libs(config.libs.iter().map(|lib| root.join(lib)))
        .remappings(config.remappings.iter().cloned().map(|mut r| {
            // foundry-compilers resolves imports with absolute remapping targets and strips the
            // root again before calling solc, as forge does.
            if Path::new(&r.path).is_relative() {
                r.path = format!(
                    "{}/",
                    root.join(&r.path)
                        .display()
                        .to_string()
                        .trim_end_matches('/')
                );
            }
            r
        }))
        .build()?;

    let artifacts = ConfigurableArtifacts::default();
    let mut settings = artifacts.solc_settings();
    settings.optimizer.enabled = Some(config.optimizer);
    settings.optimizer.runs = Some(config.optimizer_runs);
    settings.evm_version = Some(config.evm_version);
    settings.via_ir = Some(config.via_ir);
    settings.metadata = Some(SettingsMetadata {
        use_literal_content: Some(false),
        bytecode_hash: Some(config.bytecode_hash),
        cbor_metadata: Some(config.cbor_metadata),
    });

    let mut multi = MultiCompilerSettings::default();
    multi.solc.settings = settings;

    Project::builder()
        .paths(paths)
        .settings(multi)
        .artifacts(artifacts)
        .ignore_error_codes(config.ignored_error_codes.iter().copied())
        // Library warnings are not the project's to fix (solc reports root-relative paths).
        .ignore_paths(
            config
                .libs
                .iter()
                .flat_map(|lib| [lib.clone(), root.join(lib)])
                .collect(),
        )
        .set_build_info(false)
        .offline()
        .build(MultiCompiler {
            solc: Some(SolcCompiler::Specific(solc)),
            vyper: None,
        })
}

/// The solc diagnostics worth showing: errors always, warnings unless ignored (by code or because
/// they come from a library).
fn diagnostics(root: &Path, project: &Project, output: &ProjectCompileOutput) -> Vec<Diagnostic> {
    let compiler_output = output.output();
    compiler_output
        .errors
        .iter()
        .filter(|err| {
            !compiler_output.should_ignore(
                &project.ignored_error_codes,
                &project.ignored_error_codes_from,
                &project.ignored_file_paths,
                err,
            )
        })
        .filter_map(|err| match err {
            MultiCompilerError::Solc(err) if !err.is_info() => {
                Some(Diagnostic::from_solc(root, err))
            }
            _ => None,
        })
        .collect()
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_from(text: &str) -> FoundryConfig {
        let path = Path::new("/p/foundry.toml");
        let profile = FoundryConfig::parse_profile(path, text).unwrap();
        FoundryConfig::from_profile(PathBuf::from("/p"), path, profile).unwrap()
    }

    #[test]
    fn defaults_match_forge() {
        let c = config_from("");
        assert_eq!(c.src, Path::new("src"));
        assert_eq!(c.out, Path::new("out"));
        let c = config_from("[profile.default]\nsrc = \"./contracts/\"\nout = \"/p/build\"");
        assert_eq!(
            (c.src.as_path(), c.out.as_path()),
            (Path::new("contracts"), Path::new("build"))
        );
        assert_eq!(c.libs, vec![PathBuf::from("lib")]);
        assert_eq!(c.evm_version, EvmVersion::Osaka);
        assert!(!c.optimizer);
        assert_eq!(c.optimizer_runs, 200);
        assert_eq!(c.bytecode_hash, BytecodeHash::Ipfs);
        assert!(c.cbor_metadata);
        assert_eq!(c.solc, None);
    }

    #[test]
    fn reads_genim_style_foundry_toml() {
        let c = config_from(
            r#"
            [profile.default]
            src = "contracts"
            test = "contracts/test"
            libs = ["node_modules"]
            remappings = ["solady/=node_modules/solady/src/"]
            solc = "script/solc"
            evm_version = "prague"
            optimizer = true
            optimizer-runs = 1000000
            bytecode_hash = "none"
            gas_reports = ["GenImNFT"]
            [fuzz]
            runs = 256
            "#,
        );
        assert_eq!(c.src, Path::new("contracts"));
        assert_eq!(c.evm_version, EvmVersion::Prague);
        assert!(c.optimizer);
        assert_eq!(c.optimizer_runs, 1_000_000);
        assert_eq!(c.bytecode_hash, BytecodeHash::None);
        assert_eq!(c.solc, Some(PathBuf::from("script/solc")));
        assert_eq!(
            c.remappings[0].to_string(),
            "solady/=node_modules/solady/src/"
        );
        assert_eq!(c.artifacts_dir(), Path::new("/p/out/genim"));
        assert_eq!(
            c.cache_file(),
            Path::new("/p/cache/genim/solidity-files-cache.json")
        );
    }

    #[test]
    fn ignored_error_codes_take_numbers_and_forge_names() {
        assert_eq!(
            config_from("").ignored_error_codes,
            DEFAULT_IGNORED_ERROR_CODES
        );
        let c = config_from(
            "[profile.default]\nignored_error_codes = [\"license\", 2072, \"5667\", \"what\"]",
        );
        assert_eq!(c.ignored_error_codes, [1878, 2072, 5667]);
    }

    #[test]
    fn solc_version_number_is_not_a_path() {
        assert_eq!(
            config_from("[profile.default]\nsolc = \"0.8.30\"").solc,
            None
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let path = Path::new("/p/foundry.toml");
        let profile =
            FoundryConfig::parse_profile(path, "[profile.default]\nevm_version = \"mars\"")
                .unwrap();
        let err = FoundryConfig::from_profile(PathBuf::from("/p"), path, profile).unwrap_err();
        assert!(
            err.to_string().contains("`evm_version` in /p/foundry.toml"),
            "{err}"
        );
        let err =
            FoundryConfig::parse_profile(path, "[profile.default]\noptimizer = 3").unwrap_err();
        assert!(err.to_string().contains("/p/foundry.toml"), "{err}");
    }

    #[test]
    fn tests_and_scripts_are_recognised() {
        let c = config_from("[profile.default]\nsrc = \"contracts\"\ntest = \"contracts/test\"");
        assert!(c.is_test_or_script(Path::new("contracts/test/A.sol")));
        assert!(c.is_test_or_script(Path::new("contracts/A.t.sol")));
        assert!(c.is_test_or_script(Path::new("script/Deploy.s.sol")));
        assert!(!c.is_test_or_script(Path::new("contracts/GenImNFT.sol")));
    }

    #[test]
    fn no_solc_error_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let config = FoundryConfig::load(dir.path()).unwrap();
        let err = find_solc(&config, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no Solidity compiler: set SOLC or --solc"),
            "{text}"
        );
        assert!(text.contains("npm ci"), "{text}");
        let err = find_solc(&config, Some(&dir.path().join("nope"))).unwrap_err();
        assert!(matches!(err, ToolchainError::SolcNotFound { .. }), "{err}");
    }

    #[test]
    fn diagnostic_reads_like_solc() {
        let d = Diagnostic {
            severity: Severity::Error,
            kind: "ParserError".into(),
            code: Some(2314),
            file: Some("src/A.sol".into()),
            line: Some(5),
            column: Some(1),
            message: "Expected ';' but got '}'".into(),
            excerpt: Some("  |\n5 | }\n  | ^".into()),
        };
        assert_eq!(
            d.to_string(),
            "src/A.sol:5:1: ParserError: Expected ';' but got '}'\n  |\n5 | }\n  | ^"
        );
    }
}
