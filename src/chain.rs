//! Chain access shared by the commands and the provider loop: one [`Connection`] per process
//! (a `DynProvider` with the signer, built once), deployment records, address resolution, a
//! send helper that waits for the receipt and explains failures, and token status/following.
//!
//! Errors are [`ChainError`]s whose `Display` is one line a user can act on ("cannot reach the
//! RPC at http://127.0.0.1:1: connection refused", "no contract at 0x.. on chain 31337",
//! "wrong payment: the price is 0.00003 ETH, you sent 0.00002 ETH").

use crate::{
    bindings::gen_im_nft::GenImNFT::{self, GenImNFTInstance},
    config::Config,
    opts::{ContractOpts, RpcOpts, WalletOpts, parse_address},
    revert::{self, NotPendingBecause, Revert},
    units::format_eth,
};
use alloy::{
    network::{EthereumWallet, Network, TransactionBuilder},
    primitives::{Address, B256, Bytes, TxHash, U256},
    providers::{
        DynProvider, PendingTransactionError, Provider, ProviderBuilder, WatchTxError,
        fillers::{CachedNonceManager, NonceManager},
    },
    rpc::{
        client::RpcClient,
        types::{BlockNumberOrTag, TransactionReceipt, TransactionRequest},
    },
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind, TransportResult, http::reqwest},
};
use serde::{Deserialize, Serialize};
use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::{debug, info, warn};

/// How long to wait for a TCP connection to the RPC.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one RPC request may take in total.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Chains genim knows: their public RPC and chain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum ChainPreset {
    /// Local anvil (chain 31337) at http://127.0.0.1:8545.
    Anvil,
    /// OP Mainnet (chain 10).
    Optimism,
    /// Base (chain 8453).
    Base,
    /// OP Sepolia testnet (chain 11155420).
    OptimismSepolia,
    /// Base Sepolia testnet (chain 84532).
    BaseSepolia,
}

impl ChainPreset {
    /// The chain id the RPC must report.
    pub fn chain_id(self) -> u64 {
        match self {
            Self::Anvil => 31337,
            Self::Optimism => 10,
            Self::Base => 8453,
            Self::OptimismSepolia => 11_155_420,
            Self::BaseSepolia => 84532,
        }
    }

    /// A public RPC URL (rate-limited; use your own for real traffic).
    pub fn default_rpc_url(self) -> &'static str {
        match self {
            Self::Anvil => crate::opts::DEFAULT_RPC_URL,
            Self::Optimism => "https://mainnet.optimism.io",
            Self::Base => "https://mainnet.base.org",
            Self::OptimismSepolia => "https://sepolia.optimism.io",
            Self::BaseSepolia => "https://sepolia.base.org",
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Anvil => "anvil",
            Self::Optimism => "optimism",
            Self::Base => "base",
            Self::OptimismSepolia => "optimism-sepolia",
            Self::BaseSepolia => "base-sepolia",
        }
    }

    /// All names, comma-separated, for error messages.
    pub fn names() -> String {
        use clap::ValueEnum;
        Self::value_variants()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Chain failures, each one line naming the URL, address, token or transaction involved.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// No answer from the RPC (refused, timed out, DNS, TLS).
    #[error("cannot reach the RPC at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The RPC answered with an error that is not a revert.
    #[error("the RPC at {url} failed: {message}")]
    Rpc { url: String, message: String },
    /// The RPC's chain id is not the one expected.
    #[error("wrong chain: {0}")]
    WrongChain(String),
    /// An address holds no code.
    #[error("no contract at {address} on chain {chain_id}")]
    NoContract { address: Address, chain_id: u64 },
    /// A transaction was needed but no wallet was given.
    #[error(
        "no wallet to sign with: pass --private-key (or set GENIM_PRIVATE_KEY), --keystore or \
         --mnemonic"
    )]
    NoWallet,
    /// The transaction reverts (at estimation or on chain); the message is the decoded reason.
    #[error("{0}")]
    Reverted(String),
    /// The sender cannot pay value plus gas.
    #[error("insufficient funds: {account} has {balance}, {need}")]
    InsufficientFunds {
        account: Address,
        balance: String,
        need: String,
    },
    /// No receipt within the timeout.
    #[error("transaction {tx} was not mined within {secs} s (it may still be mined)")]
    Timeout { tx: TxHash, secs: u64 },
    /// A deployment record cannot be read or written.
    #[error("deployment record {path}: {reason}")]
    Record { path: PathBuf, reason: String },
}

/// An open connection: the process's one provider (with the signer's wallet, when given), the
/// chain id it reported, and the loaded config. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    /// The provider: recommended fillers (gas, cached nonces, chain id) and the wallet.
    pub provider: DynProvider,
    /// The chain id the RPC reported at connect time.
    pub chain_id: u64,
    /// The signer's address, when a wallet was given.
    pub signer: Option<Address>,
    /// The RPC URL (print it with [`redact_url`]).
    pub url: reqwest::Url,
    /// The loaded `genim.toml` (empty when there is none).
    pub config: Config,
    /// How long [`Connection::send`] waits for a receipt.
    pub tx_timeout: Duration,
    /// The provider's nonce cache, reset when a send fails (see [`ResettableNonceManager`]).
    pub nonces: ResettableNonceManager,
}

/// alloy's [`CachedNonceManager`] (one `eth_getTransactionCount` per account, then counting
/// up, so concurrent sends get distinct nonces), plus [`Self::reset`].
///
/// alloy fills the nonce while it estimates gas, so a transaction that reverts at estimation
/// (or fails to send) has already consumed a cached nonce; every later transaction would then
/// wait forever behind the gap. [`Connection::send`] resets the cache on such failures: the
/// next send asks the node again, which fills the gap.
#[derive(Clone, Debug, Default)]
pub struct ResettableNonceManager(Arc<Mutex<CachedNonceManager>>);

impl ResettableNonceManager {
    /// Forgets the cached nonces; the next send fetches the pending count again.
    pub fn reset(&self) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = CachedNonceManager::default();
    }
}

#[async_trait::async_trait]
impl NonceManager for ResettableNonceManager {
    async fn get_next_nonce<P, N>(&self, provider: &P, address: Address) -> TransportResult<u64>
    where
        P: Provider<N>,
        N: Network,
    {
        let cache = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        cache.get_next_nonce(provider, address).await
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("chain_id", &self.chain_id)
            .field("signer", &self.signer)
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

/// Connects as the command line says: loads the config (`--config` or `./genim.toml`),
/// resolves the RPC endpoint and the wallet (when `wallet` is given and set), asks the RPC for
/// its chain id (failing within seconds when it is unreachable) and checks it against the
/// `--chain` preset.
pub async fn connect(rpc: &RpcOpts, wallet: Option<&WalletOpts>) -> eyre::Result<Connection> {
    let config = Config::load(rpc.config.as_deref())?;
    let endpoint = rpc.endpoint(&config)?;
    let signer = match wallet {
        Some(wallet) => wallet.signer(&config).await?,
        None => None,
    };
    let conn = Connection::open(endpoint.url, signer, rpc.tx_timeout(), config).await?;
    if let Some(preset) = endpoint.preset
        && preset.chain_id() != conn.chain_id
    {
        return Err(ChainError::WrongChain(format!(
            "the RPC at {} is chain {}, but --chain {} is chain {}",
            redact_url(&conn.url),
            conn.chain_id,
            preset.name(),
            preset.chain_id()
        ))
        .into());
    }
    Ok(conn)
}

impl Connection {
    /// Opens a connection to `url` with an optional signer (for programmatic use: tests,
    /// `genim demo`). HTTP has a connect timeout of [`CONNECT_TIMEOUT`] and a request timeout
    /// of [`REQUEST_TIMEOUT`].
    pub async fn open(
        url: reqwest::Url,
        signer: Option<PrivateKeySigner>,
        tx_timeout: Duration,
        config: Config,
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
        let poll = if client.is_local() {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        let client = client.with_poll_interval(poll);
        let address = signer.as_ref().map(|signer| signer.address());
        let nonces = ResettableNonceManager::default();
        // The recommended fillers (gas, nonce, chain id), with the nonce cache resettable.
        let builder = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_nonce_management(nonces.clone())
            .fetch_chain_id();
        let provider = match signer {
            Some(signer) => builder
                .wallet(EthereumWallet::from(signer))
                .connect_client(client)
                .erased(),
            None => builder.connect_client(client).erased(),
        };
        let chain_id =
            tokio::time::timeout(CONNECT_TIMEOUT + REQUEST_TIMEOUT, provider.get_chain_id())
                .await
                .map_err(|_| ChainError::Unreachable {
                    url: redact_url(&url),
                    reason: "no answer".into(),
                })?
                .map_err(|err| rpc_error(&url, err))?;
        debug!(chain_id, url = %redact_url(&url), signer = ?address, "connected");
        Ok(Self {
            provider,
            chain_id,
            signer: address,
            url,
            config,
            tx_timeout,
            nonces,
        })
    }

    /// The signer's address, or [`ChainError::NoWallet`].
    pub fn signer(&self) -> Result<Address, ChainError> {
        self.signer.ok_or(ChainError::NoWallet)
    }

    /// A GenImNFT handle on this connection's provider.
    pub fn nft(&self, address: Address) -> GenImNFTInstance<DynProvider> {
        GenImNFT::new(address, self.provider.clone())
    }

    /// Fails with [`ChainError::NoContract`] unless `address` holds code.
    pub async fn ensure_contract(&self, address: Address) -> Result<(), ChainError> {
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
        Ok(())
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

    /// Sends `tx` from the signer, waits up to `tx_timeout` for its receipt, checks its status,
    /// and explains any failure: reverts (at estimation or on chain, replayed to learn why)
    /// become sentences through [`crate::revert`], a short balance becomes
    /// [`ChainError::InsufficientFunds`]. Concurrent sends get distinct nonces from the
    /// provider's cached nonce filler.
    pub async fn send(&self, tx: TransactionRequest) -> Result<TransactionReceipt, ChainError> {
        let from = self.signer()?;
        let tx = tx.with_from(from);
        let pending = match self.provider.send_transaction(tx.clone()).await {
            Ok(pending) => pending,
            Err(err) => {
                // The failed attempt may have consumed a cached nonce: forget them.
                self.nonces.reset();
                return Err(self.explain_send_error(err, &tx).await);
            }
        };
        let hash = *pending.tx_hash();
        debug!(tx = %hash, "sent, waiting for the receipt");
        let receipt = pending
            .with_timeout(Some(self.tx_timeout))
            .get_receipt()
            .await
            .map_err(|err| match err {
                PendingTransactionError::TxWatcher(WatchTxError::Timeout) => ChainError::Timeout {
                    tx: hash,
                    secs: self.tx_timeout.as_secs(),
                },
                PendingTransactionError::TransportError(err) => self.rpc_error(err),
                other => ChainError::Rpc {
                    url: redact_url(&self.url),
                    message: other.to_string(),
                },
            })?;
        if !receipt.status() {
            let block = receipt.block_number.unwrap_or_default();
            let why = match self.provider.call(tx.clone()).block(block.into()).await {
                Err(err) => match err.as_error_resp().and_then(|resp| resp.as_revert_data()) {
                    Some(data) => {
                        self.explain_revert(tx.to.and_then(|to| to.to().copied()), &data)
                            .await
                    }
                    None => err.to_string(),
                },
                Ok(_) => "the replay succeeded, so the cause is unknown (out of gas?)".into(),
            };
            return Err(ChainError::Reverted(format!(
                "transaction {hash} reverted in block {block}: {why}"
            )));
        }
        info!(tx = %hash, block = ?receipt.block_number, gas = receipt.gas_used, "mined");
        Ok(receipt)
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
            other => ChainError::Rpc {
                url: redact_url(&self.url),
                message: other.to_string(),
            },
        }
    }

    /// Turns an RPC error into a [`ChainError`] naming this connection's URL.
    pub fn rpc_error(&self, err: RpcError<TransportErrorKind>) -> ChainError {
        rpc_error(&self.url, err)
    }

    /// Explains revert data sent to `to`: the decoded sentence, with the token's state for
    /// `TokenNotPending` ("token 7 is not pending (it was delivered)").
    pub async fn explain_revert(&self, to: Option<Address>, data: &[u8]) -> String {
        let decoded = Revert::decode(data);
        if let (Some(token), Some(nft)) = (decoded.not_pending_token(), to)
            && let Ok(state) = self.nft(nft).tokenState(token).call().await
        {
            let because = match TokenState::from_u8(state.state) {
                TokenState::Delivered => NotPendingBecause::Delivered,
                TokenState::Refunded => NotPendingBecause::Refunded,
                _ => NotPendingBecause::NeverMinted,
            };
            return revert::token_not_pending(token, Some(because));
        }
        decoded.to_string()
    }

    async fn explain_send_error(
        &self,
        err: RpcError<TransportErrorKind>,
        tx: &TransactionRequest,
    ) -> ChainError {
        let Some(resp) = err.as_error_resp() else {
            return self.rpc_error(err);
        };
        if let Some(data) = resp.as_revert_data() {
            let to = tx.to.and_then(|to| to.to().copied());
            return ChainError::Reverted(self.explain_revert(to, &data).await);
        }
        let message = resp.message.to_string();
        if message.to_lowercase().contains("insufficient funds") {
            let account = tx.from.unwrap_or_default();
            let balance = match self.provider.get_balance(account).await {
                Ok(balance) => format_eth(balance),
                Err(_) => "too little".into(),
            };
            let value = tx.value.unwrap_or_default();
            let need = if value.is_zero() {
                "not enough for gas".to_owned()
            } else {
                format!("but this transaction sends {} plus gas", format_eth(value))
            };
            return ChainError::InsufficientFunds {
                account,
                balance,
                need,
            };
        }
        if message.contains("revert") {
            return ChainError::Reverted(format!("the transaction would revert: {message}"));
        }
        ChainError::Rpc {
            url: redact_url(&self.url),
            message,
        }
    }
}

/// Classifies an RPC error: transport failures become [`ChainError::Unreachable`] with a short
/// reason ("connection refused", "timed out after 5 s"), JSON-RPC errors [`ChainError::Rpc`].
pub fn rpc_error(url: &reqwest::Url, err: RpcError<TransportErrorKind>) -> ChainError {
    let url_text = redact_url(url);
    let unreachable = |reason: String| ChainError::Unreachable {
        url: url_text.clone(),
        reason,
    };
    match &err {
        RpcError::Transport(TransportErrorKind::Custom(inner)) => {
            unreachable(transport_reason(inner.as_ref()))
        }
        RpcError::Transport(TransportErrorKind::HttpError(http)) => {
            let body: String = http.body.chars().take(120).collect();
            unreachable(
                format!("HTTP {} {}", http.status, body.trim())
                    .trim()
                    .to_owned(),
            )
        }
        RpcError::Transport(kind) => unreachable(kind.to_string()),
        RpcError::ErrorResp(payload) => ChainError::Rpc {
            url: url_text,
            message: payload.message.to_string(),
        },
        RpcError::DeserError { .. } => ChainError::Rpc {
            url: url_text,
            message: "the answer is not JSON-RPC (is it an Ethereum node?)".into(),
        },
        _ => ChainError::Rpc {
            url: url_text,
            message: err.to_string(),
        },
    }
}

/// The root cause of an HTTP transport failure in a few words, without the URL.
fn transport_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let causes: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(Some(err), |cause| cause.source()).collect();
    let text: Vec<String> = causes.iter().map(|cause| cause.to_string()).collect();
    if text
        .iter()
        .any(|t| t.contains("dns error") || t.contains("failed to lookup"))
    {
        return "cannot resolve the host name".into();
    }
    for cause in &causes {
        if let Some(req) = cause.downcast_ref::<reqwest::Error>()
            && req.is_timeout()
        {
            return if req.is_connect() {
                format!("connection timed out after {} s", CONNECT_TIMEOUT.as_secs())
            } else {
                format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
            };
        }
    }
    for cause in &causes {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::ConnectionRefused => "connection refused".into(),
                K::ConnectionReset => "connection reset".into(),
                K::TimedOut => {
                    format!("connection timed out after {} s", CONNECT_TIMEOUT.as_secs())
                }
                _ => io.to_string(),
            };
        }
    }
    text.last().cloned().unwrap_or_default()
}

/// The URL without credentials, path or query (which often hold API keys):
/// `https://eth-mainnet.example.com/...`.
pub fn redact_url(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let rest = if url.path().len() > 1 || url.query().is_some() {
        "/..."
    } else {
        ""
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// [`redact_url`] for text that may not parse.
pub fn redact_url_str(text: &str) -> String {
    match reqwest::Url::parse(text.trim()) {
        Ok(url) => redact_url(&url),
        Err(_) if text.len() > 40 => format!("{}...", &text[..text.floor_char_boundary(40)]),
        Err(_) => text.to_owned(),
    }
}

/// Resolves the GenImNFT to use: `--nft`/`GENIM_NFT`, else the config's `nft`, else the
/// deployment record of the RPC's chain id; then checks that it holds code.
pub async fn resolve_nft(conn: &Connection, contract: &ContractOpts) -> eyre::Result<Address> {
    let address = match contract.nft.as_deref().or(conn.config.nft.as_deref()) {
        Some(text) => parse_address(text)?,
        None => {
            let dir = contract.deployments_dir(&conn.config);
            match Deployment::load(&dir, conn.chain_id)? {
                Some(record) => record.nft,
                None => eyre::bail!(
                    "no GenImNFT given: pass --nft ADDRESS, or deploy one with `genim deploy` \
                     (there is no {})",
                    Deployment::path(&dir, conn.chain_id).display()
                ),
            }
        }
    };
    conn.ensure_contract(address).await?;
    Ok(address)
}

/// The arguments GenImNFT was constructed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstructorArgs {
    /// Contract owner (configuration only).
    pub owner: Address,
    /// Wei per mint, as a decimal string.
    #[serde(with = "decimal")]
    pub price: U256,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// Where fees go (an address or a Splitter).
    pub fee_recipient: Address,
    /// Seconds before an undelivered token may be refunded.
    pub delivery_window: u64,
}

/// Transactions of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTxs {
    /// GenImNFT creation.
    pub nft: TxHash,
    /// SplitterFactory creation, when `--split` deployed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splitter_factory: Option<TxHash>,
    /// `createSplitter`, when `--split` created the splitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splitter: Option<TxHash>,
    /// `setProvider` calls, in the order of `providers`.
    #[serde(default)]
    pub providers: Vec<TxHash>,
}

/// One recipient of a fee split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitShare {
    /// Recipient.
    pub account: Address,
    /// Its share (relative to the sum of all shares).
    pub share: u64,
}

/// `deployments/<chain-id>.json`: what `genim deploy` did, read back by the other commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain the contracts live on.
    pub chain_id: u64,
    /// GenImNFT.
    pub nft: Address,
    /// Fee Splitter clone, when deployed with `--split`.
    #[serde(default)]
    pub splitter: Option<Address>,
    /// SplitterFactory, when deployed with `--split`.
    #[serde(default)]
    pub splitter_factory: Option<Address>,
    /// The split, when deployed with `--split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitShare>>,
    /// Providers authorized at deployment.
    #[serde(default)]
    pub providers: Vec<Address>,
    /// Block of the GenImNFT creation.
    pub block: u64,
    /// Transaction hashes.
    pub tx: DeploymentTxs,
    /// GenImNFT constructor arguments.
    pub constructor_args: ConstructorArgs,
    /// Compiler of the deployed bytecode (from its CBOR metadata), e.g. `solc 0.8.37`.
    pub compiler: String,
    /// genim version that deployed.
    pub genim_version: String,
}

impl Deployment {
    /// `<dir>/<chain_id>.json`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Reads the record of `chain_id`, if any; refuses a record made for another chain.
    pub fn load(dir: &Path, chain_id: u64) -> Result<Option<Self>, ChainError> {
        let path = Self::path(dir, chain_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(ChainError::Record {
                    path,
                    reason: err.to_string(),
                });
            }
        };
        let record: Self = serde_json::from_str(&text).map_err(|err| ChainError::Record {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        if record.chain_id != chain_id {
            return Err(ChainError::WrongChain(format!(
                "the RPC is chain {chain_id}, but {} is a deployment on chain {}",
                path.display(),
                record.chain_id
            )));
        }
        Ok(Some(record))
    }

    /// Writes the record to `<dir>/<chain_id>.json` (atomically: a temporary file, then a
    /// rename) and returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ChainError> {
        let path = Self::path(dir, self.chain_id);
        let fail = |err: std::io::Error| ChainError::Record {
            path: path.clone(),
            reason: err.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut json = serde_json::to_string_pretty(self).expect("a deployment serializes");
        json.push('\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        Ok(path)
    }
}

/// The compiler named in deployed bytecode's CBOR metadata (`solc 0.8.37`), if any.
pub fn compiler_version(bytecode: &[u8]) -> Option<String> {
    let n = bytecode.len();
    let cbor_len = usize::from(u16::from_be_bytes([
        *bytecode.get(n.checked_sub(2)?)?,
        bytecode[n - 1],
    ]));
    let cbor = bytecode.get(n.checked_sub(2 + cbor_len)?..n - 2)?;
    // Key "solc" (text, 4 bytes) followed by a 3-byte byte string: major, minor, patch.
    let key = [0x64, b's', b'o', b'l', b'c', 0x43];
    let at = cbor.windows(key.len()).position(|window| window == key)? + key.len();
    let version = cbor.get(at..at + 3)?;
    Some(format!("solc {}.{}.{}", version[0], version[1], version[2]))
}

/// Where a token is in its lifecycle (`tokenState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// Never minted.
    None,
    /// Paid for, waiting for a provider.
    Pending,
    /// Delivered: the token URI is `ipfs://<CIDv1>`.
    Delivered,
    /// Burned by its owner for the escrow.
    Refunded,
}

impl TokenState {
    /// From the contract's state code (0 none, 1 pending, 2 delivered, 3 refunded).
    pub fn from_u8(code: u8) -> Self {
        match code {
            1 => Self::Pending,
            2 => Self::Delivered,
            3 => Self::Refunded,
            _ => Self::None,
        }
    }

    /// `pending`, `delivered`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Refunded => "refunded",
        }
    }
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as `genim status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    /// The token.
    pub token_id: U256,
    /// Its state.
    pub state: TokenState,
    /// Its holder (none once refunded or never minted).
    pub owner: Option<Address>,
    /// What the minter paid.
    pub escrow: U256,
    /// Unix seconds after which an undelivered token may be refunded.
    pub deadline: u64,
    /// The delivered metadata digest (zero unless delivered).
    pub digest: B256,
    /// `ipfs://...` when delivered, a `data:` URI while pending, none otherwise.
    pub token_uri: Option<String>,
}

/// Reads a token's state, owner and URI.
pub async fn token_status(
    conn: &Connection,
    nft: Address,
    token_id: U256,
) -> Result<TokenStatus, ChainError> {
    let contract = conn.nft(nft);
    let raw = contract
        .tokenState(token_id)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let state = TokenState::from_u8(raw.state);
    let (owner, token_uri) = if matches!(state, TokenState::Pending | TokenState::Delivered) {
        let owner = contract
            .ownerOf(token_id)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        let uri = contract
            .tokenURI(token_id)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?;
        (Some(owner), Some(uri))
    } else {
        (None, None)
    };
    Ok(TokenStatus {
        token_id,
        state,
        owner,
        escrow: raw.escrow,
        deadline: raw.deadline,
        digest: raw.digest,
        token_uri,
    })
}

/// How [`follow_token`] waits.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Time between polls.
    pub poll_interval: Duration,
    /// Give up after this long (none: until delivered, refunded or past the deadline).
    pub timeout: Option<Duration>,
    /// Stop once chain time passes the token's deadline while it is still pending.
    pub stop_at_deadline: bool,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            timeout: None,
            stop_at_deadline: true,
        }
    }
}

/// How following a token ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowOutcome {
    /// A provider delivered it.
    Delivered(TokenStatus),
    /// Its owner refunded it.
    Refunded(TokenStatus),
    /// Still pending after its deadline: the owner may refund it now.
    DeadlinePassed(TokenStatus),
    /// Still pending when `timeout` ran out.
    TimedOut(TokenStatus),
}

/// Polls a token until it is delivered or refunded, its deadline passes, or `timeout` runs
/// out; calls `on_poll` with each status read (for a spinner or a log line). Up to five
/// consecutive RPC failures are retried.
pub async fn follow_token(
    conn: &Connection,
    nft: Address,
    token_id: U256,
    options: &FollowOptions,
    mut on_poll: impl FnMut(&TokenStatus),
) -> Result<FollowOutcome, ChainError> {
    let started = tokio::time::Instant::now();
    let mut failures = 0;
    loop {
        let status = match token_status(conn, nft, token_id).await {
            Ok(status) => {
                failures = 0;
                status
            }
            Err(err @ (ChainError::Unreachable { .. } | ChainError::Rpc { .. }))
                if failures < 5 =>
            {
                failures += 1;
                warn!(token_id = %token_id, error = %err, "polling failed, retrying");
                tokio::time::sleep(options.poll_interval).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        on_poll(&status);
        match status.state {
            TokenState::Delivered => return Ok(FollowOutcome::Delivered(status)),
            TokenState::Refunded => return Ok(FollowOutcome::Refunded(status)),
            TokenState::None => {
                return Err(ChainError::Reverted(format!(
                    "token {token_id} does not exist on {nft} (never minted)"
                )));
            }
            TokenState::Pending => {}
        }
        if options.stop_at_deadline && conn.chain_time().await? > status.deadline {
            return Ok(FollowOutcome::DeadlinePassed(status));
        }
        if options
            .timeout
            .is_some_and(|timeout| started.elapsed() >= timeout)
        {
            return Ok(FollowOutcome::TimedOut(status));
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// Where GenImNFT's fees go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeeRecipient {
    /// A plain address.
    Address(Address),
    /// A Splitter clone over these shares, created through a SplitterFactory (`factory`, else
    /// a fresh one) with `salt`; reused when that split already exists.
    Split {
        shares: Vec<SplitShare>,
        salt: B256,
        factory: Option<Address>,
    },
}

/// What `genim deploy` deploys.
#[derive(Debug, Clone)]
pub struct DeployParams {
    /// Contract owner [default: the deployer].
    pub owner: Option<Address>,
    /// Wei per mint.
    pub price: U256,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// Fee recipient [default (`None`): the deployer].
    pub fee_recipient: Option<FeeRecipient>,
    /// Seconds before an undelivered token may be refunded.
    pub delivery_window: u64,
    /// Providers to authorize.
    pub providers: Vec<Address>,
}

/// Deploys GenImNFT (and, for a split, a SplitterFactory and a Splitter clone as fee
/// recipient), authorizes the providers, and returns the record to save. Each step waits for
/// its receipt; a failure names the step.
pub async fn deploy(conn: &Connection, params: &DeployParams) -> eyre::Result<Deployment> {
    use crate::bindings::splitter_factory::SplitterFactory;
    use eyre::WrapErr;

    let deployer = conn.signer()?;
    let owner = params.owner.unwrap_or(deployer);
    let mut txs = DeploymentTxs::default();
    let (mut splitter, mut splitter_factory, mut split) = (None, None, None);
    let fee_recipient = match &params.fee_recipient {
        None => deployer,
        Some(FeeRecipient::Address(address)) => *address,
        Some(FeeRecipient::Split {
            shares,
            salt,
            factory,
        }) => {
            let factory = match factory {
                Some(factory) => {
                    conn.ensure_contract(*factory).await?;
                    *factory
                }
                None => {
                    let tx = SplitterFactory::deploy_builder(conn.provider.clone())
                        .into_transaction_request();
                    let receipt = conn.send(tx).await.wrap_err("deploying SplitterFactory")?;
                    txs.splitter_factory = Some(receipt.transaction_hash);
                    receipt.contract_address.ok_or(ChainError::Reverted(
                        "SplitterFactory deployment has no contract address".into(),
                    ))?
                }
            };
            let (address, tx) = create_splitter(conn, factory, shares, *salt).await?;
            txs.splitter = tx;
            splitter = Some(address);
            splitter_factory = Some(factory);
            split = Some(shares.clone());
            address
        }
    };
    let args = ConstructorArgs {
        owner,
        price: params.price,
        fee_bps: params.fee_bps,
        fee_recipient,
        delivery_window: params.delivery_window,
    };
    let tx = GenImNFT::deploy_builder(
        conn.provider.clone(),
        args.owner,
        args.price,
        args.fee_bps,
        args.fee_recipient,
        args.delivery_window,
    )
    .into_transaction_request();
    let receipt = conn.send(tx).await.wrap_err("deploying GenImNFT")?;
    let nft = receipt.contract_address.ok_or(ChainError::Reverted(
        "GenImNFT deployment has no contract address".into(),
    ))?;
    txs.nft = receipt.transaction_hash;
    let block = receipt.block_number.unwrap_or_default();
    info!(nft = %nft, block, "GenImNFT deployed");
    let contract = conn.nft(nft);
    for provider in &params.providers {
        let tx = contract
            .setProvider(*provider, true)
            .into_transaction_request();
        let receipt = conn
            .send(tx)
            .await
            .wrap_err_with(|| format!("authorizing provider {provider}"))?;
        txs.providers.push(receipt.transaction_hash);
    }
    Ok(Deployment {
        chain_id: conn.chain_id,
        nft,
        splitter,
        splitter_factory,
        split,
        providers: params.providers.clone(),
        block,
        tx: txs,
        constructor_args: args,
        compiler: compiler_version(&GenImNFT::BYTECODE).unwrap_or_else(|| "unknown".into()),
        genim_version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Creates the Splitter clone for `shares` and `salt` through `factory`, or finds it when it
/// already exists. Returns its address and the creating transaction (none when reused).
pub async fn create_splitter(
    conn: &Connection,
    factory: Address,
    shares: &[SplitShare],
    salt: B256,
) -> eyre::Result<(Address, Option<TxHash>)> {
    use crate::bindings::splitter_factory::SplitterFactory;
    use eyre::WrapErr;

    let factory = SplitterFactory::new(factory, conn.provider.clone());
    let recipients: Vec<Address> = shares.iter().map(|share| share.account).collect();
    let amounts: Vec<U256> = shares.iter().map(|share| U256::from(share.share)).collect();
    let predicted = factory
        .predictSplitter(recipients.clone(), amounts.clone(), salt)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    if !conn
        .provider
        .get_code_at(predicted)
        .await
        .map_err(|err| conn.rpc_error(err))?
        .is_empty()
    {
        info!(splitter = %predicted, "splitter exists, reusing it");
        return Ok((predicted, None));
    }
    let tx = factory
        .createSplitter(recipients, amounts, salt)
        .into_transaction_request();
    let receipt = conn.send(tx).await.wrap_err("creating the fee Splitter")?;
    let created = receipt_event::<SplitterFactory::SplitterCreated>(&receipt, *factory.address())
        .map(|event| event.splitter)
        .unwrap_or(predicted);
    Ok((created, Some(receipt.transaction_hash)))
}

/// Parses `0xA..:85,0xB..:15` into shares (each recipient once, each share above zero).
pub fn parse_split(text: &str) -> eyre::Result<Vec<SplitShare>> {
    let mut shares: Vec<SplitShare> = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let Some((account, share)) = part.rsplit_once(':') else {
            eyre::bail!("invalid split entry '{part}': expected ADDRESS:SHARE");
        };
        let account = parse_address(account)?;
        let share: u64 = share.trim().parse().map_err(|_| {
            eyre::eyre!("invalid split entry '{part}': the share must be a whole number")
        })?;
        eyre::ensure!(
            share > 0,
            "invalid split entry '{part}': the share must be above zero"
        );
        eyre::ensure!(
            shares.iter().all(|existing| existing.account != account),
            "invalid split: {account} is listed twice"
        );
        shares.push(SplitShare { account, share });
    }
    eyre::ensure!(
        (1..=32).contains(&shares.len()),
        "invalid split '{text}': give 1 to 32 ADDRESS:SHARE entries"
    );
    Ok(shares)
}

/// A mint that went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    /// The new token.
    pub token_id: U256,
    /// The mint transaction.
    pub tx: TxHash,
    /// Wei paid (held in escrow).
    pub paid: U256,
    /// Block of the mint.
    pub block: u64,
}

/// Mints a token for `prompt`, paying `value` (default: the current `price()`), and decodes
/// its id from the receipt's `ImageRequested` log.
pub async fn mint(
    conn: &Connection,
    nft: Address,
    prompt: &str,
    value: Option<U256>,
) -> Result<Minted, ChainError> {
    let contract = conn.nft(nft);
    let value = match value {
        Some(value) => value,
        None => contract
            .price()
            .call()
            .await
            .map_err(|err| conn.call_error(err))?,
    };
    let tx = contract
        .mint(prompt.to_owned())
        .value(value)
        .into_transaction_request();
    let receipt = conn.send(tx).await?;
    let event = receipt_event::<GenImNFT::ImageRequested>(&receipt, nft).ok_or_else(|| {
        ChainError::Reverted(format!(
            "mint transaction {} has no ImageRequested event",
            receipt.transaction_hash
        ))
    })?;
    Ok(Minted {
        token_id: event.tokenId,
        tx: receipt.transaction_hash,
        paid: event.escrow,
        block: receipt.block_number.unwrap_or_default(),
    })
}

/// Decodes the first event `E` emitted by `address` in a receipt.
pub fn receipt_event<E: alloy::sol_types::SolEvent>(
    receipt: &TransactionReceipt,
    address: Address,
) -> Option<E> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == address)
        .find_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
}

/// A transaction request calling `to` with `input` and `value`.
pub fn call_tx(to: Address, input: Bytes, value: U256) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_input(input)
        .with_value(value)
}

/// U256 as a decimal string in JSON (wei amounts exceed JavaScript's safe integers).
pub mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serializes as `"30000000000000"`.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    /// Accepts a decimal or `0x` hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_compiler_from_bytecode() {
        let version = compiler_version(&crate::bindings::gen_im_nft::GenImNFT::BYTECODE);
        assert!(
            version
                .as_deref()
                .is_some_and(|v| v.starts_with("solc 0.8.")),
            "{version:?}"
        );
        assert_eq!(compiler_version(&[0x00]), None);
    }

    #[test]
    fn redacts_urls() {
        let url = reqwest::Url::parse("https://user:pw@rpc.example.com/v2/SECRETKEY?x=1").unwrap();
        assert_eq!(redact_url(&url), "https://rpc.example.com/...");
        let url = reqwest::Url::parse("http://127.0.0.1:8545").unwrap();
        assert_eq!(redact_url(&url), "http://127.0.0.1:8545");
    }

    #[test]
    fn deployment_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let record = Deployment {
            chain_id: 31337,
            nft: Address::repeat_byte(1),
            splitter: None,
            splitter_factory: None,
            split: None,
            providers: vec![Address::repeat_byte(2)],
            block: 1,
            tx: DeploymentTxs::default(),
            constructor_args: ConstructorArgs {
                owner: Address::repeat_byte(3),
                price: U256::from(30_000_000_000_000u64),
                fee_bps: 500,
                fee_recipient: Address::repeat_byte(3),
                delivery_window: 86_400,
            },
            compiler: "solc 0.8.37".into(),
            genim_version: "0.1.0".into(),
        };
        let path = record.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"chainId\": 31337") && text.contains("\"price\": \"30000000000000\"")
        );
        assert_eq!(Deployment::load(dir.path(), 31337).unwrap(), Some(record));
        assert_eq!(Deployment::load(dir.path(), 1).unwrap(), None);
        std::fs::copy(&path, Deployment::path(dir.path(), 10)).unwrap();
        let err = Deployment::load(dir.path(), 10).unwrap_err().to_string();
        assert!(err.starts_with("wrong chain:"), "{err}");
    }
}
