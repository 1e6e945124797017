//! Finding solc and knowing its version without asking it twice.

use super::*;

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

/// The solc at `solc`, its version taken from genim's cache when the executable (and, for the npm
/// shim, `node_modules/solc`) is unchanged: asking solcjs `--version` costs a second of node start.
pub(crate) fn solc_cached(config: &FoundryConfig, solc: &SolcPath) -> Result<Solc, ToolchainError> {
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
pub(crate) fn solc_with_version(path: &Path, version: semver::Version) -> Solc {
    Solc {
        solc: path.to_path_buf(),
        version,
        base_path: None,
        allow_paths: Default::default(),
        include_paths: Default::default(),
        extra_args: Vec::new(),
    }
}
