//! The optional `genim.toml`: the same keys as the command-line flags, minus secrets.
//!
//! Precedence is defaults < this file < environment (`GENIM_*`, `ETH_RPC_URL`) < flags. clap
//! merges the last two, so a command takes a flag/env value when present, else this file's,
//! else the default. Secrets (private keys, mnemonics, keystore passwords) are refused here:
//! they come only from the environment, a keystore or a prompt.
//!
//! ```toml
//! rpc_url = "http://127.0.0.1:8545"   # or chain = "base-sepolia"
//! nft = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
//! keystore = "~/.foundry/keystores/deployer"
//! ipfs_gateway = "http://127.0.0.1:8080"
//!
//! [provide]                            # sections of other commands are kept in `sections`
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The file looked up in the working directory when `--config` is not given.
pub const DEFAULT_FILE: &str = "genim.toml";

/// Keys refused in the file because they hold secrets.
const SECRET_KEYS: &[&str] = &[
    "private_key",
    "privatekey",
    "mnemonic",
    "password",
    "secret",
    "api_key",
    "apikey",
    "seed",
];

/// Errors reading `genim.toml`; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a file that cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or a key has the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The file holds a secret.
    #[error(
        "config file {path}: `{key}` is not allowed in a file; pass secrets through \
         GENIM_PRIVATE_KEY, --keystore (password from GENIM_KEYSTORE_PASSWORD or a prompt) \
         or --mnemonic"
    )]
    Secret { path: PathBuf, key: String },
}

/// Settings from `genim.toml`. Every field is optional; a missing file is an empty config.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    /// JSON-RPC endpoint (`--rpc-url`).
    pub rpc_url: Option<String>,
    /// Chain preset (`--chain`): anvil, optimism, base, optimism-sepolia, base-sepolia.
    pub chain: Option<String>,
    /// GenImNFT address (`--nft`).
    pub nft: Option<String>,
    /// Encrypted keystore to sign with (`--keystore`); its password is never read from here.
    pub keystore: Option<PathBuf>,
    /// Account index for `--mnemonic` (`--mnemonic-index`).
    pub mnemonic_index: Option<u32>,
    /// IPFS gateway or API URL, or `dir:PATH`, to fetch metadata from (`--ipfs-gateway`).
    pub ipfs_gateway: Option<String>,
    /// Folder of deployment records (`--deployments`), default `deployments`.
    pub deployments: Option<PathBuf>,
    /// Everything else: tables of other commands (for example `[provide]`).
    #[serde(flatten)]
    pub sections: toml::Table,
    /// The file this came from, if any.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

impl Config {
    /// Loads `explicit` (which must exist), or `./genim.toml` when present, or nothing.
    pub fn load(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        match explicit {
            Some(path) => Self::load_file(path),
            None => {
                let path = Path::new(DEFAULT_FILE);
                if path.is_file() {
                    Self::load_file(path)
                } else {
                    Ok(Self::default())
                }
            }
        }
    }

    /// Loads `<dir>/genim.toml` when present, else an empty config.
    pub fn load_from(dir: &Path) -> Result<Self, ConfigError> {
        let path = dir.join(DEFAULT_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        Self::load_file(&path)
    }

    fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a config file; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.into(),
            message: one_line(&err),
        })?;
        // Checked before typing the values, so a secret never appears in a type error.
        if let Some(key) = find_secret(&table) {
            return Err(ConfigError::Secret {
                path: path.into(),
                key,
            });
        }
        let mut config: Self = table.try_into().map_err(|err| ConfigError::Parse {
            path: path.into(),
            message: one_line(&err),
        })?;
        for (key, value) in &config.sections {
            if !value.is_table() {
                tracing::warn!(file = %path.display(), key = %key, "unknown config key ignored");
            }
        }
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// The folder of deployment records.
    pub fn deployments_dir(&self) -> PathBuf {
        self.deployments
            .clone()
            .unwrap_or_else(|| PathBuf::from("deployments"))
    }
}

/// The first key, at any depth, that names a secret: compared without case, `-` as `_`, and
/// as a part of a longer name (`Private_Key`, `provide.openai-api-key`).
fn find_secret(table: &toml::Table) -> Option<String> {
    for (key, value) in table {
        let normalized = key.to_ascii_lowercase().replace('-', "_");
        if SECRET_KEYS.iter().any(|secret| normalized.contains(secret)) {
            return Some(key.clone());
        }
        if let Some(inner) = value.as_table()
            && let Some(found) = find_secret(inner)
        {
            return Some(format!("{key}.{found}"));
        }
    }
    None
}

/// TOML errors span several lines with a source excerpt; keep the first line only.
fn one_line(err: &toml::de::Error) -> String {
    err.message()
        .lines()
        .next()
        .unwrap_or("malformed")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_keys_and_keeps_sections() {
        let config = Config::parse(
            "rpc_url = \"http://x:1\"\nnft = \"0xab\"\n[provide]\nmodel = \"m\"\n",
            Path::new("genim.toml"),
        )
        .unwrap();
        assert_eq!(config.rpc_url.as_deref(), Some("http://x:1"));
        assert_eq!(config.nft.as_deref(), Some("0xab"));
        assert!(config.sections["provide"].is_table());
    }

    #[test]
    fn refuses_secrets_without_echoing_them() {
        let err = Config::parse("private_key = \"0xdeadbeef\"\n", Path::new("genim.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`private_key` is not allowed"), "{err}");
        assert!(!err.contains("deadbeef"), "{err}");
    }

    #[test]
    fn refuses_secrets_in_any_case_and_depth() {
        for text in [
            "Private_Key = \"0xdeadbeef\"\n",
            "PRIVATE-KEY = \"0xdeadbeef\"\n",
            "[provide]\nopenai_api_key = \"sk-deadbeef\"\n",
            "keystore_password = \"deadbeef\"\n",
        ] {
            let err = Config::parse(text, Path::new("genim.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("is not allowed in a file"), "{text}: {err}");
            assert!(!err.contains("deadbeef"), "{err}");
        }
        let ok = Config::parse("keystore = \"k.json\"\n", Path::new("genim.toml")).unwrap();
        assert_eq!(ok.keystore.as_deref(), Some(Path::new("k.json")));
    }

    #[test]
    fn missing_explicit_file_is_an_error_and_no_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(Some(&dir.path().join("nope.toml"))).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read config file"),
            "{err}"
        );
        let config = Config::load_from(dir.path()).unwrap();
        assert!(config.path.is_none() && config.rpc_url.is_none());
    }
}
