//! Option groups flattened into the commands, as in foundry-core's `wallets/src/opts.rs`:
//! [`RpcOpts`] (where), [`WalletOpts`] (who signs), [`ContractOpts`] (which GenImNFT), and the
//! two combinations every contract command uses, [`ReadOpts`] and [`SendOpts`], whose `open`
//! is the one `connect -> signer -> contract` sequence.
//!
//! Secrets (`--private-key`, `--mnemonic`, keystore passwords) are held in [`Secret`]; clap
//! never shows their environment values; parse errors describe what is wrong without them.

use crate::{
    chain::{ChainPreset, ConnectOptions, Connection, DEFAULT_RPC_URL},
    config::Config,
    http::{redact_url, redact_url_str},
    logging,
    nft::{Nft, NftSource},
    wallet::{Secret, WalletError, WalletSource},
};
use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use eyre::WrapErr;
use std::{fmt, io::IsTerminal, path::PathBuf, time::Duration};

/// Which JSON-RPC endpoint to talk to, and which chain it must be.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "RPC options")]
pub struct RpcOpts {
    /// JSON-RPC URL [default: the --chain preset's public RPC, else http://127.0.0.1:8545]
    #[arg(long, short = 'r', env = "ETH_RPC_URL", value_name = "URL")]
    pub rpc_url: Option<String>,

    /// Chain preset: a default public RPC URL and the chain id the RPC must report (anvil,
    /// optimism, base, optimism-sepolia, base-sepolia).
    #[arg(long, env = "GENIM_CHAIN", value_name = "CHAIN")]
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
    /// Options for a given URL (for programmatic use, e.g. tests).
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            rpc_url: Some(url.into()),
            tx_timeout: 120,
            ..Self::default()
        }
    }

    /// Loads `genim.toml` (`--config` or `./genim.toml`).
    pub fn load_config(&self) -> eyre::Result<Config> {
        Ok(Config::load(self.config.as_deref())?)
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
                name.parse::<ChainPreset>().map_err(|err| {
                    eyre::eyre!(
                        "{err} (in {})",
                        config
                            .path
                            .as_deref()
                            .unwrap_or("genim.toml".as_ref())
                            .display()
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
        let url = Url::parse(url.trim())
            .map_err(|err| eyre::eyre!("invalid RPC URL '{}': {err}", redact_url_str(&url)))?;
        eyre::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "invalid RPC URL '{}': only http:// and https:// are supported",
            redact_url(&url)
        );
        logging::register_url_secrets(&url);
        Ok(Endpoint { url, preset })
    }

    /// Connects as the command line says: config, endpoint, wallet (when `wallet` is given and
    /// set), chain id (failing within seconds when the RPC is unreachable) checked against the
    /// `--chain` preset.
    pub async fn connect(&self, wallet: Option<&WalletOpts>) -> eyre::Result<(Connection, Config)> {
        let config = self.load_config()?;
        let endpoint = self.endpoint(&config)?;
        let signer = match wallet {
            Some(wallet) => wallet.signer(&config).await?,
            None => None,
        };
        let options = ConnectOptions {
            tx_timeout: Some(Duration::from_secs(self.tx_timeout.max(1))),
        };
        let conn = Connection::open(endpoint.url, signer, options).await?;
        if let Some(preset) = endpoint.preset
            && preset.chain_id() != conn.chain_id
        {
            eyre::bail!(
                "wrong chain: the RPC at {} is chain {}, but --chain {} is chain {}",
                redact_url(&conn.url),
                conn.chain_id,
                preset.name(),
                preset.chain_id()
            );
        }
        Ok((conn, config))
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
    /// Options for a raw private key (for programmatic use, e.g. tests).
    pub fn from_private_key(hex: impl Into<String>) -> Self {
        Self {
            private_key: Some(Secret::new(hex)),
            ..Self::default()
        }
    }

    /// Where the key comes from, or `None` when no wallet is given. A keystore password is
    /// read from `GENIM_KEYSTORE_PASSWORD`, else prompted for on the terminal.
    pub async fn source(&self, config: &Config) -> eyre::Result<Option<WalletSource>> {
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
            logging::register_secret(key.expose());
            return Ok(Some(WalletSource::PrivateKey(key.clone())));
        }
        if let Some(phrase) = &self.mnemonic {
            logging::register_secret(phrase.expose());
            let index = self.mnemonic_index.or(config.mnemonic_index).unwrap_or(0);
            return Ok(Some(WalletSource::Mnemonic {
                phrase: phrase.clone(),
                index,
            }));
        }
        let Some(path) = self.keystore.clone().or_else(|| config.keystore.clone()) else {
            return Ok(None);
        };
        let password = keystore_password(&path).await?;
        Ok(Some(WalletSource::Keystore { path, password }))
    }

    /// Builds the signer, or `None` when no wallet is given.
    pub async fn signer(&self, config: &Config) -> eyre::Result<Option<PrivateKeySigner>> {
        match self.source(config).await? {
            Some(source) => Ok(Some(source.signer().await?)),
            None => Ok(None),
        }
    }
}

/// `GENIM_KEYSTORE_PASSWORD`, else a prompt on the terminal.
async fn keystore_password(path: &std::path::Path) -> eyre::Result<Secret> {
    let fail = |reason: &str| WalletError::Keystore {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    if !path.is_file() {
        return Err(fail("no such file").into());
    }
    if let Ok(password) = std::env::var("GENIM_KEYSTORE_PASSWORD") {
        logging::register_secret(&password);
        return Ok(Secret::new(password));
    }
    if !std::io::stdin().is_terminal() {
        return Err(
            fail("no password: set GENIM_KEYSTORE_PASSWORD (no terminal to prompt on)").into(),
        );
    }
    let prompt = format!("Password for keystore {}: ", path.display());
    let read = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt));
    let password = read
        .await?
        .map_err(|_| fail("no password: set GENIM_KEYSTORE_PASSWORD (no terminal to prompt on)"))?;
    Ok(Secret::new(password))
}

/// Which GenImNFT to talk to.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Contract options")]
pub struct ContractOpts {
    /// GenImNFT address [default: from deployments/<chain-id>.json]
    #[arg(long, env = "GENIM_NFT", value_name = "ADDRESS", value_parser = parse_address)]
    pub nft: Option<Address>,

    /// Folder of deployment records, one <chain-id>.json per chain [default: deployments]
    #[arg(long, env = "GENIM_DEPLOYMENTS", value_name = "DIR")]
    pub deployments: Option<PathBuf>,
}

impl ContractOpts {
    /// The deployment-record folder: flag/env, else config, else `deployments`.
    pub fn deployments_dir(&self, config: &Config) -> PathBuf {
        self.deployments
            .clone()
            .unwrap_or_else(|| config.deployments_dir())
    }

    /// Where the contract address comes from.
    pub fn source(&self, config: &Config) -> eyre::Result<NftSource> {
        let from_file = config
            .nft
            .as_deref()
            .map(|text| {
                crate::parse::address(text).wrap_err_with(|| {
                    format!(
                        "`nft` in {}",
                        config
                            .path
                            .as_deref()
                            .unwrap_or("genim.toml".as_ref())
                            .display()
                    )
                })
            })
            .transpose()?;
        Ok(NftSource {
            address: self.nft,
            config: from_file,
            config_path: config.path.clone(),
            deployments: self.deployments_dir(config),
        })
    }
}

/// What a contract command works with: the connection, the recognized contract and the config.
#[derive(Debug)]
pub struct Session {
    pub conn: Connection,
    pub nft: Nft,
    pub config: Config,
}

/// Options of the commands that only read a contract.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReadOpts {
    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,
}

impl ReadOpts {
    /// Connects and recognizes the contract.
    pub async fn open(&self) -> eyre::Result<Session> {
        let (conn, config) = self.rpc.connect(None).await?;
        let nft = Nft::resolve(&conn, &self.contract.source(&config)?).await?;
        Ok(Session { conn, nft, config })
    }
}

/// Options of the commands that send transactions to a contract.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SendOpts {
    #[command(flatten)]
    pub contract: ContractOpts,

    #[command(flatten)]
    pub rpc: RpcOpts,

    #[command(flatten)]
    pub wallet: WalletOpts,
}

impl SendOpts {
    /// Connects with the signer (required) and recognizes the contract.
    pub async fn open(&self) -> eyre::Result<Session> {
        let (conn, config) = self.rpc.connect(Some(&self.wallet)).await?;
        conn.signer()?;
        let nft = Nft::resolve(&conn, &self.contract.source(&config)?).await?;
        Ok(Session { conn, nft, config })
    }
}

/// clap value parser for addresses. `main` prints a failing parser's own message as the one
/// error line (`invalid address '0x12': ...`).
pub fn parse_address(text: &str) -> Result<Address, crate::parse::ParseError> {
    crate::parse::address(text)
}

/// clap value parser for token ids.
pub fn parse_token_id(text: &str) -> Result<U256, crate::parse::ParseError> {
    crate::parse::token_id(text)
}

/// clap value parser for ETH amounts (`0.00003ether`, `30000gwei`, wei).
pub fn parse_eth(text: &str) -> Result<U256, crate::amount::AmountError> {
    crate::amount::parse_eth(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

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
