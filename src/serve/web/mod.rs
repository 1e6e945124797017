//! The web page of `genim serve`: a gallery of the contract's images, a page per token that
//! follows it to its image, and a generate box that pays with a browser wallet (an ETH `mint`
//! transaction, or a gasless USDC authorization that this server relays).
//!
//! ```text
//!  GET /                 gallery (server-rendered, 24 per page) + generate form
//!  GET /token/{id}       one token: image, prompt, metadata, state, deadline, transactions
//!  GET /assets/{file}    CSS, ES modules, icons (embedded in the binary)
//!  GET /api/config       chain, contract, price, token domain: what the page's script needs
//!  GET /api/tokens[/id]  the gallery and one token as JSON (the token page polls it)
//!  POST /api/mint/prepare  {prompt, from} -> the transaction (ETH) or typed data (USDC) to sign
//!  POST /api/mint        a signed USDC authorization -> relayed mintWithAuthorization
//!  GET /api/mints/{tx}   the token an ETH mint transaction created
//! ```
//!
//! Pages are plain HTML with no inline script or style, so the Content-Security-Policy
//! allows only this origin; every user string goes through [`html::escape`].

mod api;
mod assets;
pub mod html;
pub mod index;
mod pages;

use crate::{
    chain::{ChainError, ChainPreset, Connection},
    eip3009,
    http::redact_url,
    nft::{Nft, NftError},
    store::Store,
};
use alloy::primitives::{B256, U256};
use axum::{
    Json, Router,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use index::Index;
use std::{collections::HashMap, sync::Arc};

/// The page's Content-Security-Policy: scripts, styles and connections only from this origin,
/// images from here (the store's `/images/{cid}`) or `data:`, nothing framed or embedded.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' \
                       data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                       form-action 'self'; frame-ancestors 'none'";

/// Tokens per gallery page.
pub const PAGE_SIZE: usize = 24;

/// The chain as the page presents it and asks a wallet to switch to.
#[derive(Debug, Clone)]
pub struct ChainInfo {
    pub id: u64,
    /// `Base`, `anvil (local)`, `chain 123`.
    pub name: String,
    /// Block explorer base URL.
    pub explorer: Option<&'static str>,
    /// An RPC a wallet may add the chain with: the local node's, or the preset's public one
    /// (never the server's own RPC URL, which may carry an API key).
    pub rpc_url: Option<String>,
}

impl ChainInfo {
    fn of(conn: &Connection) -> Self {
        let preset = ChainPreset::from_chain_id(conn.chain_id);
        let local = conn.is_local();
        let name = match preset {
            Some(ChainPreset::Anvil) | None if local => "anvil (local)".to_owned(),
            Some(preset) => preset_title(preset).to_owned(),
            None => format!("chain {}", conn.chain_id),
        };
        let rpc_url = if local {
            Some(redact_url(&conn.url))
        } else {
            preset
                .filter(|p| *p != ChainPreset::Anvil)
                .map(|p| p.default_rpc_url().to_owned())
        };
        Self {
            id: conn.chain_id,
            name,
            explorer: preset.and_then(ChainPreset::explorer),
            rpc_url,
        }
    }

    /// The explorer page of a transaction.
    pub fn tx_url(&self, tx: &impl std::fmt::Display) -> Option<String> {
        self.explorer.map(|base| format!("{base}/tx/{tx}"))
    }

    /// The explorer page of an address.
    pub fn address_url(&self, address: &impl std::fmt::Display) -> Option<String> {
        self.explorer
            .map(|base| format!("{base}/address/{address}"))
    }
}

fn preset_title(preset: ChainPreset) -> &'static str {
    match preset {
        ChainPreset::Anvil => "anvil",
        ChainPreset::Optimism => "OP Mainnet",
        ChainPreset::Base => "Base",
        ChainPreset::OptimismSepolia => "OP Sepolia",
        ChainPreset::BaseSepolia => "Base Sepolia",
    }
}

/// What the page needs: the chain, the contract, its token's EIP-712 domain, and the index.
#[derive(Debug)]
pub struct WebState {
    /// The server's connection; its signer relays gasless mints.
    conn: Connection,
    nft: Nft,
    store: Arc<dyn Store>,
    index: Index,
    chain: ChainInfo,
    /// The payment token's EIP-712 `name` and `version` (token-priced contracts).
    token_domain: Option<(String, String)>,
    /// Authorizations being relayed.
    relaying: Relaying,
}

/// One lock per authorization nonce: a double click or a retry waits for the relay in flight
/// and then finds its token, instead of sending a second transaction that would revert.
#[derive(Debug, Default)]
struct Relaying(std::sync::Mutex<HashMap<B256, Arc<tokio::sync::Mutex<()>>>>);

struct RelayGuard<'a> {
    relaying: &'a Relaying,
    key: B256,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Relaying {
    async fn lock(&self, key: B256) -> RelayGuard<'_> {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        RelayGuard {
            relaying: self,
            key,
            _held: lock.lock_owned().await,
        }
    }
}

impl Drop for RelayGuard<'_> {
    fn drop(&mut self) {
        let mut map = self
            .relaying
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only the map and this guard hold it: nobody waits, forget the key.
        if map
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) <= 2)
        {
            map.remove(&self.key);
        }
    }
}

impl WebState {
    /// Builds the page's state: reads the token's EIP-712 domain and, without `from_block`,
    /// finds the contract's deployment block to index its events from.
    pub async fn new(
        conn: Connection,
        nft: Nft,
        store: Arc<dyn Store>,
        from_block: Option<u64>,
    ) -> eyre::Result<Self> {
        let token_domain = match nft.asset.token() {
            Some(token) => {
                let domain = eip3009::domain(&conn, token).await?;
                Some((
                    domain.name.map(|n| n.into_owned()).unwrap_or_default(),
                    domain.version.map(|v| v.into_owned()).unwrap_or_default(),
                ))
            }
            None => None,
        };
        let start = match from_block {
            Some(block) => block,
            None => index::deployment_block(&conn, nft.address).await,
        };
        Ok(Self {
            index: Index::new(&nft, start),
            chain: ChainInfo::of(&conn),
            conn,
            nft,
            store,
            token_domain,
            relaying: Relaying::default(),
        })
    }
}

/// The page's routes, each answer with the security headers.
pub fn router(state: Arc<WebState>) -> Router {
    Router::new()
        .route("/", get(pages::gallery))
        .route("/token/{id}", get(pages::token))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/config", get(api::config))
        .route("/api/tokens", get(api::tokens))
        .route("/api/tokens/{id}", get(api::token))
        .route("/api/mint/prepare", post(api::prepare))
        .route("/api/mint", post(api::mint))
        .route("/api/mints/{tx}", get(api::mint_tx))
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

/// CSP and friends on every answer of the page's routes.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Why a page or API request failed; one sentence for the person at the page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such token or transaction.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or refused before anything is paid (prompt, funds, nonce).
    #[error("{0}")]
    Refused(String),
    /// This server cannot do it (no wallet to relay with).
    #[error("{0}")]
    Unavailable(String),
    /// The chain refused or failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<NftError> for WebError {
    fn from(err: NftError) -> Self {
        match err {
            NftError::Chain(err) => Self::Chain(err),
            NftError::Refused(message) => Self::Refused(message),
            other => Self::Refused(other.to_string()),
        }
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Refused(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // The transaction the client asked for would revert: the client's mistake.
            Self::Chain(ChainError::Reverted(_) | ChainError::InsufficientFunds { .. }) => {
                StatusCode::BAD_REQUEST
            }
            Self::Chain(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

/// JSON errors (`{"error": "..."}`) for the API.
impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "web request failed");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// A token id from a path segment (decimal).
fn parse_token_id(text: &str) -> Result<U256, WebError> {
    text.parse::<U256>()
        .ok()
        .filter(|id| !id.is_zero() && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| WebError::NotFound(format!("no token '{text}': token ids are 1, 2, 3...")))
}
