//! Option groups flattened into the chain-facing commands: [`RpcOpts`] (where), [`WalletOpts`]
//! (who signs) and [`ContractOpts`] (which GenImNFT), as in foundry-core's `wallets/src/opts.rs`.
//!
//! Secrets (`--private-key`, `--mnemonic`, keystore passwords) are held in [`Secret`], whose
//! `Debug` is redacted, and clap never shows their environment values. Parse errors describe
//! what is wrong without repeating the value.

use crate::{chain::ChainPreset, config::Config};
use alloy::{
    primitives::{Address, B256},
    signers::local::{LocalSigner, MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
    transports::http::reqwest::Url,
};
use clap::ValueEnum;
use std::{fmt, io::IsTerminal, path::PathBuf, time::Duration};

/// Where the RPC is when nothing says otherwise (a local anvil).
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";

/// A secret string (private key, mnemonic, password): never printed, never in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Errors building a signer. None of them contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// `--private-key` is not 32 bytes of hex, or not a valid secp256k1 key.
    #[error("invalid private key: {0} (the value is not shown)")]
    PrivateKey(&'static str),
    /// `--mnemonic` is not a valid BIP-39 English phrase (or file holding one).
    #[error("invalid mnemonic: {0} (the phrase is not shown)")]
    Mnemonic(&'static str),
    /// The keystore file cannot be read or decrypted.
    #[error("cannot open keystore {path}: {reason}")]
    Keystore { path: PathBuf, reason: String },
    /// More than one wallet source is set.
    #[error("more than one wallet given ({0}); pass only one")]
    Ambiguous(String),
}

/// Which JSON-RPC endpoint to talk to, and which chain it must be.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "RPC options")]
pub struct RpcOpts {
    /// JSON-RPC URL [default: the --chain preset's public RPC, else http://127.0.0.1:8545]
    #[arg(long, short = 'r', env = "ETH_RPC_URL", value_name = "URL")]
    pub rpc_url: Option<String>,

    /// Chain preset: a default public RPC URL and the chain id the RPC must report.
    #[arg(long, env = "GENIM_CHAIN", value_name = "CHAIN", value_enum)]
    pub chain: Option<ChainPreset>,

    /// Config file [default: ./genim.toml if present]
    #[arg(long, env = "GENIM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Seconds to wait for a transaction to be mined before giving up.
    #[arg(
        long,
        env = "GENIM_TX_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 120
    )]
    pub tx_timeout: u64,
}

/// An RPC endpoint resolved from flags, environment, config and defaults.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The URL to connect to.
    pub url: Url,
    /// The preset that applies, whose chain id the RPC must report.
    pub preset: Option<ChainPreset>,
}

impl RpcOpts {
    /// Options for a given URL (for programmatic use, e.g. tests and `genim demo`).
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            rpc_url: Some(url.into()),
            tx_timeout: 120,
            ..Self::default()
        }
    }

    /// The receipt timeout.
    pub fn tx_timeout(&self) -> Duration {
        Duration::from_secs(self.tx_timeout.max(1))
    }

    /// Resolves the endpoint. The highest level (flag/env, then config file) that names a URL
    /// or a chain decides both: its URL, else its chain's public URL; the default is a local
    /// anvil. A `--chain` flag thus overrides a file's `rpc_url`, and `--rpc-url` alone drops a
    /// file's `chain`.
    pub fn endpoint(&self, config: &Config) -> eyre::Result<Endpoint> {
        let file_chain = config
            .chain
            .as_deref()
            .map(|name| {
                ChainPreset::from_str(name, true).map_err(|_| {
                    eyre::eyre!(
                        "invalid chain '{name}' in {}: expected one of {}",
                        config
                            .path
                            .as_deref()
                            .unwrap_or("genim.toml".as_ref())
                            .display(),
                        ChainPreset::names()
                    )
                })
            })
            .transpose()?;
        let (url, preset) = if self.rpc_url.is_some() || self.chain.is_some() {
            (self.rpc_url.clone(), self.chain)
        } else {
            (config.rpc_url.clone(), file_chain)
        };
        let url = match (url, preset) {
            (Some(url), _) => url,
            (None, Some(preset)) => preset.default_rpc_url().to_owned(),
            (None, None) => DEFAULT_RPC_URL.to_owned(),
        };
        let url = Url::parse(url.trim()).map_err(|err| {
            eyre::eyre!(
                "invalid RPC URL '{}': {err}",
                crate::chain::redact_url_str(&url)
            )
        })?;
        eyre::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "invalid RPC URL '{}': only http:// and https:// are supported",
            crate::chain::redact_url(&url)
        );
        Ok(Endpoint { url, preset })
    }
}

/// Who signs: a raw key, an encrypted keystore, or a mnemonic (like cast).
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Wallet options")]
pub struct WalletOpts {
    /// Private key (hex) to sign with. Prefer the environment variable over the flag, which
    /// other users of this machine can see in the process list.
    #[arg(
        long,
        env = "GENIM_PRIVATE_KEY",
        hide_env_values = true,
        value_name = "HEX"
    )]
    pub private_key: Option<Secret>,

    /// Encrypted JSON keystore to sign with; its password comes from GENIM_KEYSTORE_PASSWORD
    /// or a prompt.
    #[arg(long, env = "GENIM_KEYSTORE", value_name = "PATH")]
    pub keystore: Option<PathBuf>,

    /// BIP-39 mnemonic phrase, or a file holding one, to derive the key from.
    #[arg(
        long,
        env = "GENIM_MNEMONIC",
        hide_env_values = true,
        value_name = "PHRASE|PATH"
    )]
    pub mnemonic: Option<Secret>,

    /// Account index for --mnemonic (m/44'/60'/0'/0/INDEX) [default: 0]
    #[arg(long, env = "GENIM_MNEMONIC_INDEX", value_name = "INDEX")]
    pub mnemonic_index: Option<u32>,
}

impl fmt::Debug for WalletOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "None" };
        f.debug_struct("WalletOpts")
            .field("private_key", &redacted(self.private_key.is_some()))
            .field("keystore", &self.keystore)
            .field("mnemonic", &redacted(self.mnemonic.is_some()))
            .field("mnemonic_index", &self.mnemonic_index)
            .finish()
    }
}

impl WalletOpts {
    /// Options for a raw private key (for programmatic use, e.g. tests and `genim demo`).
    pub fn from_private_key(hex: impl Into<String>) -> Self {
        Self {
            private_key: Some(Secret::new(hex)),
            ..Self::default()
        }
    }

    /// Whether any wallet source is set (flags, env or the config's keystore).
    pub fn is_set(&self, config: &Config) -> bool {
        self.private_key.is_some()
            || self.mnemonic.is_some()
            || self.keystore.is_some()
            || config.keystore.is_some()
    }

    /// Builds the signer, or `None` when no wallet is given. A keystore password is read from
    /// `GENIM_KEYSTORE_PASSWORD`, else prompted for on the terminal. Decryption runs off the
    /// async runtime (scrypt takes about a second).
    pub async fn signer(&self, config: &Config) -> eyre::Result<Option<PrivateKeySigner>> {
        let keystore = self.keystore.clone().or_else(|| config.keystore.clone());
        let mut given = Vec::new();
        if self.private_key.is_some() {
            given.push("--private-key/GENIM_PRIVATE_KEY");
        }
        if self.mnemonic.is_some() {
            given.push("--mnemonic/GENIM_MNEMONIC");
        }
        if self.keystore.is_some() {
            given.push("--keystore/GENIM_KEYSTORE");
        }
        if given.len() > 1 {
            return Err(WalletError::Ambiguous(given.join(", ")).into());
        }
        if let Some(key) = &self.private_key {
            return Ok(Some(parse_private_key(key.expose())?));
        }
        if let Some(mnemonic) = &self.mnemonic {
            let index = self.mnemonic_index.or(config.mnemonic_index).unwrap_or(0);
            return Ok(Some(mnemonic_signer(mnemonic, index)?));
        }
        if let Some(path) = keystore {
            return Ok(Some(keystore_signer(path).await?));
        }
        Ok(None)
    }
}

/// Parses a hex private key (with or without `0x`). Errors never contain the key.
pub fn parse_private_key(text: &str) -> Result<PrivateKeySigner, WalletError> {
    let hex = text.trim();
    let hex = hex
        .strip_prefix("0x")
        .or_else(|| hex.strip_prefix("0X"))
        .unwrap_or(hex);
    if hex.len() != 64 {
        return Err(WalletError::PrivateKey(
            "expected 32 bytes as 64 hex digits",
        ));
    }
    let bytes: B256 = hex
        .parse()
        .map_err(|_| WalletError::PrivateKey("expected 32 bytes as 64 hex digits"))?;
    PrivateKeySigner::from_bytes(&bytes)
        .map_err(|_| WalletError::PrivateKey("not a valid secp256k1 secret key"))
}

fn mnemonic_signer(mnemonic: &Secret, index: u32) -> Result<PrivateKeySigner, WalletError> {
    let value = mnemonic.expose().trim();
    // A value that names a readable file is that file's phrase (never an error that prints it).
    let phrase = match std::fs::read_to_string(value) {
        Ok(contents) if !value.contains(' ') => Secret::new(contents.trim()),
        _ => Secret::new(value),
    };
    MnemonicBuilder::<English>::default()
        .phrase(phrase.expose())
        .index(index)
        .map_err(|_| WalletError::Mnemonic("invalid account index"))?
        .build()
        .map_err(|_| WalletError::Mnemonic("not a valid BIP-39 English phrase"))
}

async fn keystore_signer(path: PathBuf) -> Result<PrivateKeySigner, WalletError> {
    let fail = |reason: String| WalletError::Keystore {
        path: path.clone(),
        reason,
    };
    if !path.is_file() {
        return Err(fail("no such file".into()));
    }
    let password = match std::env::var("GENIM_KEYSTORE_PASSWORD") {
        Ok(password) => Secret::new(password),
        Err(_) if !std::io::stdin().is_terminal() => {
            return Err(fail(
                "no password: set GENIM_KEYSTORE_PASSWORD (no terminal to prompt on)".into(),
            ));
        }
        Err(_) => {
            let prompt = format!("Password for keystore {}: ", path.display());
            let read = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt));
            let password = read
                .await
                .map_err(|err| fail(err.to_string()))?
                .map_err(|_| {
                    fail(
                        "no password: set GENIM_KEYSTORE_PASSWORD (no terminal to prompt on)"
                            .into(),
                    )
                })?;
            Secret::new(password)
        }
    };
    let keypath = path.clone();
    let decrypted = tokio::task::spawn_blocking(move || {
        LocalSigner::decrypt_keystore(&keypath, password.expose())
    })
    .await
    .map_err(|err| fail(err.to_string()))?;
    decrypted.map_err(|err| {
        let reason = match err {
            alloy::signers::local::LocalSignerError::IoError(err) => err.to_string(),
            err if err.to_string() == "Mac Mismatch" => "wrong password".to_owned(),
            _ => "not a valid keystore file".to_owned(),
        };
        fail(reason)
    })
}

/// Which GenImNFT to talk to.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Contract options")]
pub struct ContractOpts {
    /// GenImNFT address [default: from deployments/<chain-id>.json]
    #[arg(long, env = "GENIM_NFT", value_name = "ADDRESS")]
    pub nft: Option<String>,

    /// Folder of deployment records, one <chain-id>.json per chain [default: deployments]
    #[arg(long, env = "GENIM_DEPLOYMENTS", value_name = "DIR")]
    pub deployments: Option<PathBuf>,
}

impl ContractOpts {
    /// Checks `--nft` before anything touches the network.
    pub fn validate(&self) -> eyre::Result<()> {
        self.nft.as_deref().map(parse_address).transpose().map(drop)
    }

    /// The deployment-record folder: flag/env, else config, else `deployments`.
    pub fn deployments_dir(&self, config: &Config) -> PathBuf {
        self.deployments
            .clone()
            .unwrap_or_else(|| config.deployments_dir())
    }
}

/// Parses an address, hex with `0x`; mixed case must carry a valid EIP-55 checksum.
/// The error quotes the input: `invalid address '0x12': ...`.
pub fn parse_address(text: &str) -> eyre::Result<Address> {
    let trimmed = text.trim();
    let reason = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        None => "expected 0x followed by 40 hex digits".to_owned(),
        Some(hex) if hex.len() != 40 => {
            format!("expected 40 hex digits after 0x, got {}", hex.len())
        }
        Some(hex) if !hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            "contains characters that are not hex digits".to_owned()
        }
        Some(hex) => {
            let lower = hex.chars().all(|c| !c.is_ascii_uppercase());
            let upper = hex.chars().all(|c| !c.is_ascii_lowercase());
            if lower || upper {
                return Ok(hex.parse()?);
            }
            match Address::parse_checksummed(trimmed, None) {
                Ok(address) => return Ok(address),
                Err(_) => "bad EIP-55 checksum (mixed case that does not match)".to_owned(),
            }
        }
    };
    eyre::bail!("invalid address '{trimmed}': {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn private_key_errors_never_echo() {
        assert!(parse_private_key(KEY).is_ok());
        assert!(parse_private_key(&format!("0x{KEY}")).is_ok());
        let bad = format!("0x{}zz", &KEY[..62]);
        let err = parse_private_key(&bad).unwrap_err().to_string();
        assert!(!err.contains(&KEY[..10]), "{err}");
        let err = parse_private_key(&KEY[..20]).unwrap_err().to_string();
        assert!(!err.contains(&KEY[..10]), "{err}");
        let zero = parse_private_key(&"0".repeat(64)).unwrap_err().to_string();
        assert!(zero.contains("not a valid secp256k1"), "{zero}");
    }

    #[test]
    fn debug_is_redacted() {
        let opts = WalletOpts {
            mnemonic: Some(Secret::new("test test")),
            ..WalletOpts::from_private_key(KEY)
        };
        let debug = format!("{opts:?}");
        assert!(
            !debug.contains(KEY) && !debug.contains("test test"),
            "{debug}"
        );
    }

    #[test]
    fn mnemonic_derives_anvil_accounts() {
        let phrase = Secret::new("test test test test test test test test test test test junk");
        let signer = mnemonic_signer(&phrase, 1).unwrap();
        assert_eq!(
            signer.address(),
            parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").unwrap()
        );
    }

    #[test]
    fn addresses() {
        assert!(parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").is_ok());
        assert!(parse_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").is_ok());
        let err = parse_address("0x12").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid address '0x12': expected 40 hex digits after 0x, got 2"
        );
        let err = parse_address("0x70997970C51812dc3A010C7d01b50e0d17dc79c8").unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn endpoint_precedence() {
        let file = Config {
            rpc_url: Some("http://file:1".into()),
            ..Config::default()
        };
        let flags = RpcOpts::default();
        assert_eq!(
            flags.endpoint(&file).unwrap().url.as_str(),
            "http://file:1/"
        );
        let flags = RpcOpts {
            chain: Some(ChainPreset::Base),
            ..RpcOpts::default()
        };
        let endpoint = flags.endpoint(&file).unwrap();
        assert_eq!(endpoint.url.as_str(), "https://mainnet.base.org/");
        assert_eq!(endpoint.preset, Some(ChainPreset::Base));
        let endpoint = RpcOpts::default().endpoint(&Config::default()).unwrap();
        assert_eq!(endpoint.url.as_str(), "http://127.0.0.1:8545/");
    }
}
