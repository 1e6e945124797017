//! `foundry.toml`: the project settings genim compiles with, the same as forge's.

use super::*;

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
pub(crate) struct Profile {
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
pub(crate) struct FoundryToml {
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
pub(crate) fn normalize(root: &Path, dir: &Path) -> PathBuf {
    let dir = dir.strip_prefix(root).unwrap_or(dir);
    dir.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Adds `remapping` unless its name (with the same context) is already mapped.
pub(crate) fn push_remapping(remappings: &mut Vec<Remapping>, remapping: Remapping) {
    if !remappings
        .iter()
        .any(|r| r.name == remapping.name && r.context == remapping.context)
    {
        remappings.push(remapping);
    }
}

pub(crate) fn collect_sol_files(
    dir: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<(), ToolchainError> {
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
