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
    "mnemonic",
    "keystore_password",
    "password",
    "secret",
    "api_key",
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
        Self::load_or(explicit, Path::new(DEFAULT_FILE))
    }

    /// [`load`](Self::load) with `default` in place of `./genim.toml`.
    fn load_or(explicit: Option<&Path>, default: &Path) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None if default.is_file() => default.to_path_buf(),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses the text of a config file; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.into(),
            message: one_line(&err),
        })?;
        // Checked before typing the values, so a secret never appears in a type error.
        if let Some(key) = table.keys().find(|key| SECRET_KEYS.contains(&key.as_str())) {
            return Err(ConfigError::Secret {
                path: path.into(),
                key: key.clone(),
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
    fn missing_default_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join(DEFAULT_FILE);
        let config = Config::load_or(None, &default).unwrap();
        assert!(config.path.is_none() && config.rpc_url.is_none() && config.sections.is_empty());
        // Once the file exists it is read.
        std::fs::write(&default, "rpc_url = \"http://x:1\"\n").unwrap();
        let config = Config::load_or(None, &default).unwrap();
        assert_eq!(config.rpc_url.as_deref(), Some("http://x:1"));
        assert_eq!(config.path.as_deref(), Some(default.as_path()));
    }
}
