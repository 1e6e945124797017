//! A token's lifecycle: reading its state and following it until it is delivered or refunded.

use super::{Nft, NftError, token_id_json};
use crate::{
    amount::decimal,
    chain::{ChainError, Connection},
};
use alloy::primitives::{Address, B256, U256};
use serde::Serialize;
use std::{fmt, time::Duration};
use tracing::warn;

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

/// A token as `genim status` shows it (`--json`: `tokenId`, `state`, `owner`, `escrow`,
/// `deadline`, `tokenUri`, `digest`, `deliverers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStatus {
    /// The token.
    #[serde(with = "token_id_json")]
    pub token_id: U256,
    /// Its state.
    pub state: TokenState,
    /// Its holder (none once refunded or never minted).
    pub owner: Option<Address>,
    /// What the minter paid, in the contract's asset.
    #[serde(with = "decimal")]
    pub escrow: U256,
    /// Unix seconds after which an undelivered token may be refunded.
    pub deadline: u64,
    /// `ipfs://...` when delivered, a `data:` URI while pending, none otherwise.
    pub token_uri: Option<String>,
    /// The delivered metadata digest (zero unless delivered).
    pub digest: B256,
    /// Who may deliver it (the providers authorized when it was minted, still authorized);
    /// empty unless pending.
    pub deliverers: Vec<Address>,
}

/// Reads a token's state, owner and URI.
pub async fn status(conn: &Connection, nft: &Nft, token_id: U256) -> Result<TokenStatus, NftError> {
    Ok(read(conn, nft, token_id).await?)
}

async fn read(conn: &Connection, nft: &Nft, token_id: U256) -> Result<TokenStatus, ChainError> {
    let contract = nft.contract(conn);
    let raw = contract
        .tokenState(token_id)
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let state = TokenState::from_u8(raw.state);
    let deliverers = if state == TokenState::Pending {
        contract
            .deliverersOf(token_id)
            .call()
            .await
            .map_err(|err| conn.call_error(err))?
    } else {
        Vec::new()
    };
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
        token_uri,
        digest: raw.digest,
        deliverers,
    })
}

/// How [`follow`] waits.
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
/// out; calls `on_poll` with each status read (for a spinner or a log line). RPC failures are
/// retried (the token is not lost while the RPC is away), with a warning now and then.
pub async fn follow(
    conn: &Connection,
    nft: &Nft,
    token_id: U256,
    options: &FollowOptions,
    mut on_poll: impl FnMut(&TokenStatus),
) -> Result<FollowOutcome, NftError> {
    let started = tokio::time::Instant::now();
    let mut failures = 0u32;
    loop {
        let status = match read(conn, nft, token_id).await {
            Ok(status) => {
                failures = 0;
                status
            }
            Err(err) if err.is_transient() => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(10) {
                    warn!(token_id = %token_id, error = %err, "cannot read the token; retrying");
                }
                tokio::time::sleep(options.poll_interval).await;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        on_poll(&status);
        match status.state {
            TokenState::Delivered => return Ok(FollowOutcome::Delivered(status)),
            TokenState::Refunded => return Ok(FollowOutcome::Refunded(status)),
            TokenState::None => {
                return Err(NftError::Refused(format!(
                    "token {token_id} does not exist on {} (never minted)",
                    nft.address
                )));
            }
            TokenState::Pending => {}
        }
        if options.stop_at_deadline
            && let Ok(now) = conn.chain_time().await
            && now > status.deadline
        {
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
