//! The process's one connection to a chain: a `DynProvider` built once, the chain id it reported,
//! and the signer's [`Sender`] when a wallet is given.

use super::{
    error::{CONNECT_TIMEOUT, ChainError, REQUEST_TIMEOUT, rpc_error},
    revert::Revert,
    send::{NodeHints, Sender},
};
use crate::http::redact_url;
use alloy::{
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::{client::RpcClient, types::BlockNumberOrTag},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind, http::reqwest},
};
use std::{fmt, sync::Arc, time::Duration};
use tracing::debug;

/// How a [`Connection`] behaves.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// How long [`Connection::send`] waits for a receipt before giving up (the transaction may
    /// still be mined). `None`: follow it until it is mined or can never be.
    pub tx_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            tx_timeout: Some(Duration::from_secs(120)),
        }
    }
}

/// An open connection: the process's one provider, the chain id it reported, and the signer's
/// [`Sender`] (nonces, signing, following transactions) when a wallet was given. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    /// The provider, for calls and reads. Transactions go through [`Connection::send`].
    pub provider: DynProvider,
    /// The chain id the RPC reported at connect time.
    pub chain_id: u64,
    /// The RPC URL (print it with [`crate::http::redact_url`]).
    pub url: reqwest::Url,
    /// Poll interval for receipts and new blocks: short on a local node.
    pub poll_interval: Duration,
    pub(crate) options: ConnectOptions,
    pub(crate) sender: Option<Arc<Sender>>,
    /// What [`Connection::send`] learned about the node (shared by every signer on it).
    pub(crate) hints: Arc<NodeHints>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("chain_id", &self.chain_id)
            .field("signer", &self.signer_address())
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `url` with an optional signer and asks for the chain id, failing within
    /// seconds when the RPC is unreachable. HTTP has a connect timeout of [`CONNECT_TIMEOUT`]
    /// and a request timeout of [`REQUEST_TIMEOUT`].
    pub async fn open(
        url: reqwest::Url,
        signer: Option<PrivateKeySigner>,
        options: ConnectOptions,
    ) -> Result<Self, ChainError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| ChainError::Unreachable {
                url: redact_url(&url),
                reason: format!("cannot build the HTTP client: {err}"),
            })?;
        let client = RpcClient::new_http_with_client(http, url.clone());
        // Local nodes answer at once; remote L2s make a block every 2 s.
        let poll_interval = if client.is_local() {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let client = client.with_poll_interval(poll_interval);
        // No fillers: `Sender` estimates, prices, numbers and signs transactions itself, so that
        // a reverting estimate never takes a nonce and a sent transaction can be re-broadcast.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(client)
            .erased();
        let chain_id =
            tokio::time::timeout(CONNECT_TIMEOUT + REQUEST_TIMEOUT, provider.get_chain_id())
                .await
                .map_err(|_| ChainError::Unreachable {
                    url: redact_url(&url),
                    reason: "no answer".into(),
                })?
                .map_err(|err| rpc_error(&url, err))?;
        let sender = signer.map(|signer| Arc::new(Sender::new(signer)));
        debug!(chain_id, url = %redact_url(&url), signer = ?sender.as_ref().map(|s| s.address()), "connected");
        Ok(Self {
            provider,
            chain_id,
            url,
            poll_interval,
            options,
            sender,
            hints: Arc::default(),
        })
    }

    /// The signer's address, when a wallet was given.
    pub fn signer_address(&self) -> Option<Address> {
        self.sender.as_ref().map(|sender| sender.address())
    }

    /// The signer's address, or [`ChainError::NoWallet`].
    pub fn signer(&self) -> Result<Address, ChainError> {
        self.signer_address().ok_or(ChainError::NoWallet)
    }

    /// The same connection (provider, chain) signing as `signer` (a relayer, a second role).
    pub fn with_signer(&self, signer: PrivateKeySigner) -> Self {
        Self {
            sender: Some(Arc::new(Sender::new(signer))),
            ..self.clone()
        }
    }

    /// This connection with a different receipt timeout (`None`: follow until mined).
    pub fn with_tx_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options.tx_timeout = timeout;
        self
    }

    /// Whether the RPC is on this machine (anvil, a local node).
    pub fn is_local(&self) -> bool {
        self.url
            .host_str()
            .is_some_and(|host| matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1"))
    }

    /// Fails with [`ChainError::NoContract`] unless `address` holds code; returns the code.
    pub async fn contract_code(&self, address: Address) -> Result<Bytes, ChainError> {
        let code = self
            .provider
            .get_code_at(address)
            .await
            .map_err(|err| self.rpc_error(err))?;
        if code.is_empty() {
            return Err(ChainError::NoContract {
                address,
                chain_id: self.chain_id,
            });
        }
        Ok(code)
    }

    /// Latest block timestamp (chain time, which anvil can move).
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|err| self.rpc_error(err))?
            .ok_or_else(|| ChainError::Rpc {
                url: redact_url(&self.url),
                message: "no latest block".into(),
            })?;
        Ok(block.header.timestamp)
    }

    /// Turns an error of a contract call (`.call().await`) into a [`ChainError`].
    pub fn call_error(&self, err: alloy::contract::Error) -> ChainError {
        match err {
            alloy::contract::Error::TransportError(err) => {
                match err.as_error_resp().and_then(|resp| resp.as_revert_data()) {
                    Some(data) => ChainError::Reverted(Revert::decode(&data).to_string()),
                    None => self.rpc_error(err),
                }
            }
            alloy::contract::Error::AbiError(_) | alloy::contract::Error::ZeroData(..) => {
                ChainError::Reverted(
                    "the contract answered with data genim cannot read (is it the right \
                     contract?)"
                        .into(),
                )
            }
            other => ChainError::Rpc {
                url: redact_url(&self.url),
                message: crate::http::excerpt(&other.to_string()),
            },
        }
    }

    /// Turns an RPC error into a [`ChainError`] naming this connection's URL.
    pub fn rpc_error(&self, err: RpcError<TransportErrorKind>) -> ChainError {
        rpc_error(&self.url, err)
    }
}
