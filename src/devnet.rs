//! A local chain for `genim demo`, `genim serve`'s local defaults and the benchmarks: anvil
//! (from `node_modules/.bin`, env `ANVIL` or `PATH`), its public dev accounts, and connections
//! for them. Dropping the [`Devnet`] stops anvil, also when a step fails or Ctrl-C arrives.

use crate::chain::{ChainError, ConnectOptions, Connection};
use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::Address,
    signers::local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English},
    transports::http::reqwest::Url,
};
use std::path::{Path, PathBuf};

/// anvil's public test mnemonic: its dev accounts derive from it (never use it for real money).
pub const ANVIL_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The first `n` anvil dev accounts.
pub fn dev_addresses(n: u32) -> Vec<Address> {
    (0..n)
        .map(|i| {
            MnemonicBuilder::<English>::default()
                .phrase(ANVIL_MNEMONIC)
                .index(i)
                .and_then(|builder| builder.build())
                .expect("anvil's mnemonic derives")
                .address()
        })
        .collect()
}

/// anvil could not be found or started.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// No anvil binary anywhere genim looks.
    #[error(
        "no anvil found: run `npm ci` in the genim checkout (it installs node_modules/.bin/anvil), \
         set ANVIL, or pass --anvil PATH"
    )]
    NotFound,
    /// anvil did not start.
    #[error("cannot start anvil ({path}): {reason}")]
    Start { path: PathBuf, reason: String },
}

/// A running anvil.
pub struct Devnet {
    anvil: AnvilInstance,
}

impl Devnet {
    /// Starts anvil (see [`find_anvil`]) on a free port, with `chain_id` when given.
    pub fn start(anvil: Option<&Path>, chain_id: Option<u64>) -> Result<Self, DevnetError> {
        Self::spawn(&find_anvil(anvil)?, chain_id, None)
    }

    /// Starts anvil on `port` when it is free, else on a free port: on the default port
    /// (8545) every other genim command reaches the chain without `--rpc-url`.
    pub fn start_preferring(anvil: Option<&Path>, port: u16) -> Result<Self, DevnetError> {
        let path = find_anvil(anvil)?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            // Someone may take the port between the check and anvil's bind: then any port.
            if let Ok(devnet) = Self::spawn(&path, None, Some(port)) {
                return Ok(devnet);
            }
        }
        Self::spawn(&path, None, None)
    }

    fn spawn(path: &Path, chain_id: Option<u64>, port: Option<u16>) -> Result<Self, DevnetError> {
        let mut builder = Anvil::new().path(path);
        if let Some(chain_id) = chain_id {
            builder = builder.args(["--chain-id", &chain_id.to_string()]);
        }
        if let Some(port) = port {
            builder = builder.port(port);
        }
        let anvil = builder.try_spawn().map_err(|err| DevnetError::Start {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        Ok(Self { anvil })
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> Url {
        self.anvil.endpoint_url()
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.anvil.chain_id()
    }

    /// Dev account `i`'s signer (anvil's public test keys).
    pub fn signer(&self, i: usize) -> PrivateKeySigner {
        PrivateKeySigner::from_signing_key(self.anvil.keys()[i].clone().into())
    }

    /// Dev account `i`'s address.
    pub fn address(&self, i: usize) -> Address {
        self.anvil.addresses()[i]
    }

    /// Number of dev accounts.
    pub fn accounts(&self) -> usize {
        self.anvil.addresses().len()
    }

    /// A connection signing as dev account `i`.
    pub async fn connect(&self, i: usize) -> Result<Connection, ChainError> {
        Connection::open(self.url(), Some(self.signer(i)), ConnectOptions::default()).await
    }
}

/// anvil: `explicit`, env `ANVIL`, `./node_modules/.bin/anvil`, or `anvil` on `PATH`.
pub fn find_anvil(explicit: Option<&Path>) -> Result<PathBuf, DevnetError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("ANVIL") {
        return Ok(path.into());
    }
    let local = Path::new("node_modules/.bin/anvil");
    if local.exists() {
        return Ok(local.to_path_buf());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("anvil"))
        .find(|candidate| candidate.is_file())
        .ok_or(DevnetError::NotFound)
}
