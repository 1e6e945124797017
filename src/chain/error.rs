//! Chain failures as one-line sentences, and the classification of RPC errors behind them.

use crate::http::{excerpt, redact_url};
use alloy::{
    primitives::{Address, TxHash},
    transports::{RpcError, TransportErrorKind, http::reqwest},
};

/// How long to wait for a TCP connection to the RPC.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long one RPC request may take in total.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Chain failures, each one line naming the URL, address, token or transaction involved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// No answer from the RPC (refused, timed out, DNS, TLS, reset).
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
    /// No receipt within the timeout; the transaction is still known to the node.
    #[error("transaction {tx} was not mined within {secs} s (it may still be mined)")]
    Timeout { tx: TxHash, secs: u64 },
    /// Another transaction of the same account took the nonce, so this one can never be mined.
    #[error(
        "transaction {tx} was replaced: another transaction from {account} used its nonce \
         {nonce}; it was never executed, so nothing was charged"
    )]
    Replaced {
        tx: TxHash,
        account: Address,
        nonce: u64,
    },
    /// The signer could not sign (a keystore or hardware problem).
    #[error("cannot sign the transaction: {0}")]
    Signing(String),
}

impl ChainError {
    /// Whether the same call may succeed later (the RPC was unreachable or failed).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Rpc { .. })
    }
}

/// Classifies an RPC error: transport failures become [`ChainError::Unreachable`] with a short
/// reason ("connection refused", "no answer within 30 s"), JSON-RPC errors [`ChainError::Rpc`].
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
            let body = excerpt(&http.body);
            unreachable(format!("HTTP {} {body}", http.status).trim().to_owned())
        }
        RpcError::Transport(kind) => unreachable(kind.to_string()),
        RpcError::ErrorResp(payload) => ChainError::Rpc {
            url: url_text,
            message: excerpt(&payload.message),
        },
        RpcError::DeserError { text, .. } => ChainError::Rpc {
            url: url_text,
            message: if text.trim_start().starts_with('<') {
                "the answer is an HTML page, not JSON-RPC (is it an Ethereum node?)".into()
            } else {
                "the answer is not JSON-RPC (is it an Ethereum node?)".into()
            },
        },
        _ => ChainError::Rpc {
            url: url_text,
            message: excerpt(&err.to_string()),
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
    if text.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("invalid http version")
            || t.contains("wrong version number")
            || t.contains("corrupt message")
            || t.contains("invalid content type")
            || t.contains("tls handshake")
    }) {
        return "TLS failed (is it an http:// endpoint given as https://?)".into();
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
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                    "the connection was closed by the other side".into()
                }
                K::UnexpectedEof => "the connection was closed before an answer".into(),
                K::TimedOut => {
                    format!("connection timed out after {} s", CONNECT_TIMEOUT.as_secs())
                }
                _ => excerpt(&io.to_string()),
            };
        }
    }
    for cause in &causes {
        if let Some(req) = cause.downcast_ref::<reqwest::Error>()
            && req.is_connect()
        {
            return "connection failed".into();
        }
    }
    excerpt(text.last().map(String::as_str).unwrap_or_default())
}
