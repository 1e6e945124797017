//! What the loop tells its observers (`genim demo`, the benchmark, the progress display) and
//! the totals of a run.

use alloy::primitives::{Address, B256, TxHash, U256};
use std::time::{Duration, Instant};

/// One delivered token, as reported to observers (`genim demo`, the benchmark).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub nft: Address,
    pub token_id: u64,
    pub prompt: String,
    pub image_cid: String,
    pub metadata_cid: String,
    pub digest: B256,
    /// What the contract paid this provider for the token.
    pub payout: U256,
    /// The transaction's gas divided by the tokens it delivered.
    pub gas_used: u64,
    pub tx: TxHash,
    /// Tokens in the same transaction.
    pub batch_size: usize,
    /// When the provider saw the mint event.
    pub discovered_at: Instant,
    /// When the delivering transaction was sent.
    pub sent_at: Instant,
    /// Time spent generating and storing (zero when reused from a token record).
    pub work: Duration,
}

/// What happened to a token, for observers and the progress display.
#[derive(Debug, Clone)]
pub enum Report {
    /// A mint was seen and queued.
    Queued { nft: Address, token_id: u64 },
    /// Generation started.
    Generating { nft: Address, token_id: u64 },
    /// Delivered and paid.
    Delivered(Box<Delivery>),
    /// No longer pending (delivered by another provider, refunded, or reorged away).
    Skipped {
        nft: Address,
        token_id: u64,
        reason: String,
    },
    /// Given up on; the owner can refund it after the deadline.
    Failed {
        nft: Address,
        token_id: u64,
        error: String,
    },
}

/// Totals of a run, printed at exit.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub delivered: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Wei earned from deliveries in this run.
    #[serde(with = "crate::amount::decimal")]
    pub earned: U256,
    /// Gas spent on delivery transactions in this run, those whose tokens were all skipped
    /// included.
    pub gas_used: u64,
    /// Earnings withdrawn from the contracts during and at the end of the run.
    #[serde(with = "crate::amount::decimal")]
    pub withdrawn: U256,
}
