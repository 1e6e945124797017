//! Sending transactions and following each one to its end.
//!
//! [`Sender`] owns the signer's nonces. A transaction is estimated before it takes a nonce (so a
//! revert at estimation never leaves a gap), signed here (so the exact bytes can be broadcast
//! again), and followed until it is mined or can never be:
//! - still in the node's pool: keep waiting (up to the connection's `tx_timeout`, if any);
//! - gone from the pool while its nonce is free: broadcast the same bytes again;
//! - gone while another transaction took its nonce: it can never execute, so nothing was
//!   charged; send it again with a new nonce (at most [`MAX_REPLACEMENTS`] times);
//! - waiting behind a nonce gap that nobody will fill (a reorg dropped an earlier transaction
//!   of ours): fill the gap with a zero-value transfer to ourselves.
//!
//! A nonce is never handed out twice while a transaction holding it is followed; the book is
//! re-read from the node only when nothing is in flight.

use super::{
    connection::Connection,
    error::ChainError,
    revert::{self, NotPendingBecause, Revert},
};
use crate::{amount::format_eth, bindings::gen_im_nft::GenImNFT, http::redact_url};
use alloy::{
    eips::{eip1559::Eip1559Estimation, eip2718::Encodable2718},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, Bytes, TxHash, U256},
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};
use std::{
    collections::BTreeSet,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

/// The first wait for a receipt after sending; it doubles up to the poll interval.
const FIRST_RECEIPT_POLL: Duration = Duration::from_millis(1);
/// How long a synchronous send may wait for its receipt on a local node (automine answers in
/// milliseconds) and on a remote one (a few blocks).
const SYNC_WAIT_LOCAL: Duration = Duration::from_secs(1);
const SYNC_WAIT: Duration = Duration::from_secs(10);
/// How long a fee estimate is reused, so that a relayer settling many payments a second asks
/// once. The estimate's max fee is twice the base fee, ahead of six blocks of the steepest
/// rise (12.5% each).
const FEE_TTL: Duration = Duration::from_secs(1);

/// How often a transaction that can never execute (its nonce taken by another one) is sent
/// again with a new nonce before giving up.
pub const MAX_REPLACEMENTS: usize = 3;
/// How often a send that failed on a nonce conflict (another process using the same key) is
/// tried again with a fresh nonce.
const MAX_NONCE_CONFLICTS: usize = 5;

/// The signer of a [`Connection`]: its wallet and its nonce book.
pub struct Sender {
    address: Address,
    wallet: EthereumWallet,
    nonces: Mutex<NonceBook>,
}

#[derive(Default)]
struct NonceBook {
    /// The next nonce to hand out; `None` until read from the node.
    next: Option<u64>,
    /// Nonces of transactions sent and still followed.
    in_flight: BTreeSet<u64>,
    /// Nonces handed out so far: a pending count read when this was the same is current.
    handed_out: u64,
}

/// The node's pending count, read while nothing was in flight.
#[derive(Clone, Copy)]
struct IdleCount {
    pending: u64,
    handed_out: u64,
}

impl Sender {
    pub(crate) fn new(signer: PrivateKeySigner) -> Self {
        Self {
            address: signer.address(),
            wallet: EthereumWallet::from(signer),
            nonces: Mutex::new(NonceBook::default()),
        }
    }

    /// The signing account.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Hands out the next nonce; re-reads the node's pending count when nothing is in flight
    /// (or takes `count`, read with the estimate, if no nonce was handed out since), which
    /// also closes gaps left by dropped or reorged transactions.
    async fn allocate(
        &self,
        conn: &Connection,
        count: Option<IdleCount>,
    ) -> Result<u64, ChainError> {
        let mut book = self.nonces.lock().await;
        let next = match book.next {
            Some(next) if !book.in_flight.is_empty() => next,
            _ => match count {
                Some(count) if count.handed_out == book.handed_out => count.pending,
                _ => self.pending_count(conn).await?,
            },
        };
        book.handed_out += 1;
        book.next = Some(next + 1);
        book.in_flight.insert(next);
        Ok(next)
    }

    /// The node's pending count when nothing is in flight (the next [`Sender::allocate`]
    /// needs it), else `None`; a failed read is left to `allocate`.
    async fn idle_count(&self, conn: &Connection) -> Option<IdleCount> {
        let handed_out = {
            let book = self.nonces.lock().await;
            if !book.in_flight.is_empty() {
                return None;
            }
            book.handed_out
        };
        let pending = self.pending_count(conn).await.ok()?;
        Some(IdleCount {
            pending,
            handed_out,
        })
    }

    /// Ends the life of `nonce`: its transaction was mined, or will never be.
    async fn release(&self, nonce: u64, used: bool) {
        let mut book = self.nonces.lock().await;
        book.in_flight.remove(&nonce);
        // A nonce the node never saw, handed out last, can be handed out again.
        if !used && book.next == Some(nonce + 1) {
            book.next = Some(nonce);
        }
    }

    /// After a nonce conflict: continue from the node's pending count, but never below a nonce
    /// still in flight.
    async fn resync(&self, conn: &Connection) -> Result<(), ChainError> {
        let count = self.pending_count(conn).await?;
        let mut book = self.nonces.lock().await;
        let floor = book.in_flight.last().map_or(0, |n| n + 1);
        book.next = Some(count.max(floor));
        Ok(())
    }

    async fn pending_count(&self, conn: &Connection) -> Result<u64, ChainError> {
        conn.provider
            .get_transaction_count(self.address)
            .pending()
            .await
            .map_err(|err| conn.rpc_error(err))
    }

    async fn latest_count(&self, conn: &Connection) -> Result<u64, ChainError> {
        conn.provider
            .get_transaction_count(self.address)
            .latest()
            .await
            .map_err(|err| conn.rpc_error(err))
    }

    async fn sign(&self, tx: TransactionRequest) -> Result<Bytes, ChainError> {
        let envelope = tx
            .build(&self.wallet)
            .await
            .map_err(|err| ChainError::Signing(err.to_string()))?;
        Ok(envelope.encoded_2718().into())
    }
}

/// What a node taught [`Connection::send`]; one per RPC, shared by its signers.
#[derive(Default)]
pub(crate) struct NodeHints {
    /// The node answered `eth_sendRawTransactionSync` with "method not found".
    no_sync_send: AtomicBool,
    /// The last fee estimate, and when it was made.
    fees: std::sync::Mutex<Option<(Instant, Eip1559Estimation)>>,
}

impl NodeHints {
    fn recent_fees(&self) -> Option<Eip1559Estimation> {
        let fees = self.fees.lock().unwrap_or_else(|p| p.into_inner());
        fees.filter(|(at, _)| at.elapsed() < FEE_TTL)
            .map(|(_, fees)| fees)
    }

    fn forget_fees(&self) {
        *self.fees.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// How a synchronous send ended.
enum SyncSend {
    /// Mined: the receipt.
    Mined(Box<TransactionReceipt>),
    /// The node holds it: follow it.
    InPool,
    /// The node refused it (nonce, funds, fee).
    Refused(RpcError<TransportErrorKind>),
    /// Send it the plain way (the node lacks the method, or the answer was lost before the
    /// node saw it).
    Plain,
}

/// A signed transaction on its way.
struct Signed {
    hash: TxHash,
    nonce: u64,
    raw: Bytes,
}

impl Connection {
    /// Sends `tx` from the signer and follows it to its end (see the module docs), waiting up to
    /// the connection's `tx_timeout` for the receipt; checks its status and explains any
    /// failure: reverts (at estimation or on chain, replayed to learn why) become sentences
    /// through [`revert`], a short balance becomes [`ChainError::InsufficientFunds`].
    pub async fn send(&self, tx: TransactionRequest) -> Result<TransactionReceipt, ChainError> {
        self.send_with_gas(tx, None).await
    }

    /// [`Connection::send`] with the gas already estimated (`Some`: by a simulation moments
    /// ago), which saves a round trip; the same margin is added.
    pub async fn send_with_gas(
        &self,
        tx: TransactionRequest,
        gas: Option<u64>,
    ) -> Result<TransactionReceipt, ChainError> {
        let sender = self.sender.as_ref().ok_or(ChainError::NoWallet)?;
        let tx = tx.with_from(sender.address());
        // The reads at once: one round trip per transaction (fees are mostly cached, the
        // nonce book read only when nothing is in flight).
        let estimate = async {
            match gas {
                Some(gas) => Ok(gas),
                None => self.provider.estimate_gas(tx.clone()).await,
            }
        };
        let (gas, fees, count) = tokio::join!(estimate, self.fees(), sender.idle_count(self));
        let gas = match gas {
            Ok(gas) => gas,
            Err(err) => return Err(self.explain_send_error(err, &tx).await),
        };
        let fees = fees.map_err(|err| self.rpc_error(err))?;
        // Margin for state that changes between estimate and inclusion (a batch whose tokens
        // were delivered meanwhile costs less, not more; storage warmed by others costs less).
        let tx = tx
            .with_chain_id(self.chain_id)
            .with_gas_limit(gas + gas / 5)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        let deadline = self.options.tx_timeout.map(|t| Instant::now() + t);
        let mut replacements = 0;
        loop {
            let (signed, receipt) = self.broadcast(sender, &tx, count, deadline).await?;
            let outcome = match receipt {
                Some(receipt) => {
                    sender.release(signed.nonce, true).await;
                    Ok(receipt)
                }
                None => {
                    debug!(tx = %signed.hash, nonce = signed.nonce, "sent, following it");
                    self.follow(sender, &signed, deadline).await
                }
            };
            match outcome {
                Err(ChainError::Replaced { .. }) if replacements < MAX_REPLACEMENTS => {
                    replacements += 1;
                    warn!(tx = %signed.hash, nonce = signed.nonce, "another transaction took the nonce; sending again with a new one");
                }
                Err(err) => return Err(err),
                Ok(receipt) => return self.check_status(receipt, &tx).await,
            }
        }
    }

    /// Takes a nonce, signs and broadcasts; a nonce conflict (another process with the same key)
    /// is retried with a fresh nonce. Returns the receipt too when the node gave it at once
    /// (`eth_sendRawTransactionSync`).
    async fn broadcast(
        &self,
        sender: &Sender,
        tx: &TransactionRequest,
        mut count: Option<IdleCount>,
        deadline: Option<Instant>,
    ) -> Result<(Signed, Option<TransactionReceipt>), ChainError> {
        let mut conflicts = 0;
        loop {
            let nonce = sender.allocate(self, count.take()).await?;
            let raw = match sender.sign(tx.clone().with_nonce(nonce)).await {
                Ok(raw) => raw,
                Err(err) => {
                    sender.release(nonce, false).await;
                    return Err(err);
                }
            };
            let hash = alloy::primitives::keccak256(&raw);
            let signed = Signed { hash, nonce, raw };
            let sent = match self.send_sync(&signed, deadline).await {
                SyncSend::Mined(receipt) => return Ok((signed, Some(*receipt))),
                SyncSend::InPool => return Ok((signed, None)),
                SyncSend::Refused(err) => Err(err),
                SyncSend::Plain => self
                    .provider
                    .send_raw_transaction(&signed.raw)
                    .await
                    .map(drop),
            };
            match sent {
                Ok(()) => return Ok((signed, None)),
                Err(err) if is_already_known(&err) => return Ok((signed, None)),
                Err(err) if is_nonce_conflict(&err) && conflicts < MAX_NONCE_CONFLICTS => {
                    conflicts += 1;
                    debug!(
                        nonce,
                        "nonce taken by another transaction; trying the next one"
                    );
                    sender.release(nonce, true).await;
                    sender.resync(self).await?;
                }
                Err(err) => {
                    sender.release(nonce, false).await;
                    // A fee refused as too low must not be reused.
                    self.hints.forget_fees();
                    return Err(self.explain_send_error(err, tx).await);
                }
            }
        }
    }

    /// Sends with `eth_sendRawTransactionSync` (EIP-7966: anvil, geth 1.16.6+, several L2s),
    /// which answers with the receipt once mined: no polling, one round trip. Nodes without it
    /// are remembered and get `eth_sendRawTransaction`.
    async fn send_sync(&self, signed: &Signed, deadline: Option<Instant>) -> SyncSend {
        if self.hints.no_sync_send.load(Ordering::Relaxed) {
            return SyncSend::Plain;
        }
        // Beyond this the transaction is followed the usual way, which also notices a nonce
        // gap holding it back (the node would wait up to its own timeout, 30 s on anvil).
        let wait = if self.is_local() {
            SYNC_WAIT_LOCAL
        } else {
            SYNC_WAIT
        };
        let wait = deadline.map_or(wait, |deadline| {
            wait.min(deadline.saturating_duration_since(Instant::now()))
        });
        let refusal =
            match tokio::time::timeout(wait, self.provider.send_raw_transaction_sync(&signed.raw))
                .await
            {
                Ok(Ok(receipt)) => return SyncSend::Mined(Box::new(receipt)),
                Ok(Err(err)) if is_unsupported_method(&err) => {
                    debug!("the node has no eth_sendRawTransactionSync; polling for receipts");
                    self.hints.no_sync_send.store(true, Ordering::Relaxed);
                    return SyncSend::Plain;
                }
                Ok(Err(err)) if is_already_known(&err) => return SyncSend::InPool,
                Ok(Err(err)) => Some(err),
                Err(_) => None,
            };
        // A refusal, the node's confirmation timeout, or no answer: whether the node holds the
        // transaction decides between following it and the answer of a plain send.
        match self.provider.get_transaction_by_hash(signed.hash).await {
            Ok(Some(_)) => SyncSend::InPool,
            _ => match refusal {
                Some(err) if err.as_error_resp().is_some() => SyncSend::Refused(err),
                _ => SyncSend::Plain,
            },
        }
    }

    /// The fee estimate of the last [`FEE_TTL`], or a new one.
    async fn fees(&self) -> Result<Eip1559Estimation, RpcError<TransportErrorKind>> {
        if let Some(fees) = self.hints.recent_fees() {
            return Ok(fees);
        }
        let fees = self.provider.estimate_eip1559_fees().await?;
        *self.hints.fees.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), fees));
        Ok(fees)
    }

    /// Follows a broadcast transaction until it is mined or can never be.
    async fn follow(
        &self,
        sender: &Sender,
        signed: &Signed,
        deadline: Option<Instant>,
    ) -> Result<TransactionReceipt, ChainError> {
        let result = self.follow_inner(sender, signed, deadline).await;
        // Mined, replaced, or timed out while still in the pool: in every case the node knows
        // the nonce, so the next read of its pending count accounts for it.
        sender.release(signed.nonce, true).await;
        result
    }

    async fn follow_inner(
        &self,
        sender: &Sender,
        signed: &Signed,
        deadline: Option<Instant>,
    ) -> Result<TransactionReceipt, ChainError> {
        // How long a transaction may sit unmined before genim looks for a gap in front of it.
        let stall = if self.is_local() {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(30)
        };
        let check_every = self.poll_interval.max(Duration::from_millis(500));
        let started = Instant::now();
        let mut last_check = Instant::now();
        let mut failures = 0u32;
        // Most receipts come within a few ms of the send on a local node (automine) and
        // within one block on an L2: poll quickly at first, then back off to the interval.
        let mut wait = FIRST_RECEIPT_POLL.min(self.poll_interval);
        loop {
            match self.provider.get_transaction_receipt(signed.hash).await {
                Ok(Some(receipt)) => return Ok(receipt),
                Ok(None) => failures = 0,
                // The RPC may come back; the transaction is not lost meanwhile.
                Err(err) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(30) {
                        warn!(tx = %signed.hash, error = %self.rpc_error(err), "cannot read the receipt; still following the transaction");
                    }
                }
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Err(ChainError::Timeout {
                    tx: signed.hash,
                    secs: self.options.tx_timeout.unwrap_or_default().as_secs(),
                });
            }
            if failures == 0 && last_check.elapsed() >= check_every {
                last_check = Instant::now();
                self.check_pool(sender, signed, started.elapsed() >= stall)
                    .await?;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.poll_interval);
        }
    }

    /// Looks after an unmined transaction: re-broadcasts it when the node forgot it, reports it
    /// replaced when its nonce was used by another one, fills a nonce gap in front of it.
    async fn check_pool(
        &self,
        sender: &Sender,
        signed: &Signed,
        stalled: bool,
    ) -> Result<(), ChainError> {
        let known = match self.provider.get_transaction_by_hash(signed.hash).await {
            Ok(tx) => tx.is_some(),
            Err(_) => return Ok(()),
        };
        let Ok(mined) = sender.latest_count(self).await else {
            return Ok(());
        };
        if !known {
            // Mined between the two reads? Then the receipt shows up on the next poll.
            if let Ok(Some(_)) = self.provider.get_transaction_receipt(signed.hash).await {
                return Ok(());
            }
            if mined > signed.nonce {
                return Err(ChainError::Replaced {
                    tx: signed.hash,
                    account: sender.address(),
                    nonce: signed.nonce,
                });
            }
            info!(tx = %signed.hash, nonce = signed.nonce, "the node dropped the transaction; broadcasting it again");
            if let Err(err) = self.provider.send_raw_transaction(&signed.raw).await
                && !is_already_known(&err)
            {
                warn!(tx = %signed.hash, error = %self.rpc_error(err), "re-broadcast failed; will try again");
            }
            return Ok(());
        }
        if stalled && mined < signed.nonce {
            self.fill_gaps(sender, mined, signed.nonce).await;
        }
        Ok(())
    }

    /// Sends zero-value transfers to ourselves for every nonce in `from..to` that no followed
    /// transaction holds: a reorg or an eviction left them empty, and everything after waits.
    async fn fill_gaps(&self, sender: &Sender, from: u64, to: u64) {
        let Ok(pending) = sender.pending_count(self).await else {
            return;
        };
        // The node has executable transactions up to `pending`: the gap starts there.
        let from = from.max(pending);
        let missing: Vec<u64> = {
            let book = sender.nonces.lock().await;
            (from..to).filter(|n| !book.in_flight.contains(n)).collect()
        };
        for nonce in missing {
            let fees = match self.fees().await {
                Ok(fees) => fees,
                Err(_) => return,
            };
            let filler = TransactionRequest::default()
                .with_from(sender.address())
                .with_to(sender.address())
                .with_value(U256::ZERO)
                .with_nonce(nonce)
                .with_chain_id(self.chain_id)
                .with_gas_limit(21_000)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            let Ok(raw) = sender.sign(filler).await else {
                return;
            };
            match self.provider.send_raw_transaction(&raw).await {
                Ok(_) => warn!(nonce, "filled a nonce gap left by a dropped transaction"),
                Err(err) => debug!(nonce, error = %self.rpc_error(err), "gap filler not sent"),
            }
        }
    }

    /// A mined receipt, or the reason its transaction reverted (replayed at its block).
    async fn check_status(
        &self,
        receipt: TransactionReceipt,
        tx: &TransactionRequest,
    ) -> Result<TransactionReceipt, ChainError> {
        let hash = receipt.transaction_hash;
        if receipt.status() {
            info!(tx = %hash, block = ?receipt.block_number, gas = receipt.gas_used, "mined");
            return Ok(receipt);
        }
        let block = receipt.block_number.unwrap_or_default();
        let replay = tx.clone().with_gas_limit(receipt.gas_used.max(21_000) * 2);
        let why = match self.provider.call(replay).block(block.into()).await {
            Err(err) => match err.as_error_resp().and_then(|resp| resp.as_revert_data()) {
                Some(data) => {
                    self.explain_revert(tx.to.and_then(|to| to.to().copied()), &data)
                        .await
                }
                None => crate::http::excerpt(&err.to_string()),
            },
            Ok(_) => "the replay succeeded, so the cause is unknown (out of gas?)".into(),
        };
        Err(ChainError::Reverted(format!(
            "transaction {hash} reverted in block {block}: {why}"
        )))
    }

    /// Explains revert data sent to `to`: the decoded sentence, with the token's state for
    /// `TokenNotPending` ("token 7 is not pending (it was delivered)").
    pub async fn explain_revert(&self, to: Option<Address>, data: &[u8]) -> String {
        let decoded = Revert::decode(data);
        if let (Some(token), Some(nft)) = (decoded.not_pending_token(), to)
            && let Ok(state) = GenImNFT::new(nft, self.provider.clone())
                .tokenState(token)
                .call()
                .await
        {
            let because = match state.state {
                2 => NotPendingBecause::Delivered,
                3 => NotPendingBecause::Refunded,
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
            return ChainError::Reverted(format!(
                "the transaction would revert: {}",
                crate::http::excerpt(&message)
            ));
        }
        ChainError::Rpc {
            url: redact_url(&self.url),
            message: crate::http::excerpt(&message),
        }
    }
}

/// The node already has exactly this transaction (a re-broadcast, or a retry after a lost
/// answer).
fn is_already_known(err: &RpcError<TransportErrorKind>) -> bool {
    err.as_error_resp().is_some_and(|resp| {
        let message = resp.message.to_lowercase();
        message.contains("already known") || message.contains("already imported")
    })
}

/// The node does not know the method (JSON-RPC -32601, or a provider's own wording).
fn is_unsupported_method(err: &RpcError<TransportErrorKind>) -> bool {
    err.as_error_resp().is_some_and(|resp| {
        let message = resp.message.to_lowercase();
        resp.code == -32601
            || (message.contains("method")
                && [
                    "not found",
                    "not supported",
                    "unsupported",
                    "does not exist",
                    "not available",
                ]
                .iter()
                .any(|words| message.contains(words)))
    })
}

/// Another transaction of the same account holds (or held) this nonce.
fn is_nonce_conflict(err: &RpcError<TransportErrorKind>) -> bool {
    err.as_error_resp().is_some_and(|resp| {
        let message = resp.message.to_lowercase();
        message.contains("nonce too low")
            || message.contains("replacement transaction underpriced")
            || message.contains("nonce has already been used")
            || message.contains("invalid nonce")
    })
}

/// Decodes the first event `E` emitted by `address` in a receipt.
pub fn receipt_event<E: alloy::sol_types::SolEvent>(
    receipt: &TransactionReceipt,
    address: Address,
) -> Option<E> {
    receipt_events::<E>(receipt, address).into_iter().next()
}

/// Decodes every event `E` emitted by `address` in a receipt.
pub fn receipt_events<E: alloy::sol_types::SolEvent>(
    receipt: &TransactionReceipt,
    address: Address,
) -> Vec<E> {
    receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == address)
        .filter_map(|log| log.log_decode::<E>().ok())
        .map(|log| log.inner.data)
        .collect()
}

/// A transaction request calling `to` with `input` and `value`.
pub fn call_tx(to: Address, input: Bytes, value: U256) -> TransactionRequest {
    TransactionRequest::default()
        .with_to(to)
        .with_input(input)
        .with_value(value)
}
