//! Settling a verified payment, once, whatever happens around it.
//!
//! The EIP-3009 nonce guarantees that an authorization moves money at most once; [`Settler`]
//! makes its API say the same: settling the same authorization again, concurrently or later,
//! returns the same [`Settled`] and never a second charge.
//!
//! - **Direct** ([`Mode::Direct`]): `transferWithAuthorization` on the token, sent through
//!   [`Connection::send`], which follows the transaction to its end (a late receipt is waited
//!   for; a timeout leaves it in [`SettleError::Pending`], and the next call follows the same
//!   transaction instead of sending another). Settlements that queue go out together
//!   (`x402/batch.rs`); each finds its own execution in the shared receipt. The gas is the
//!   verification's estimate when there is one ([`Settler::expect`]), so nothing is asked of the
//!   chain before sending: a front-run authorization then shows as a reverted transaction (the
//!   relayer loses its gas, the front-runner paid more) and is handled as below.
//! - **Front-run**: anyone who saw the header can submit the authorization first. When the
//!   nonce is used, the token's logs decide: an `AuthorizationUsed(from, nonce)` whose
//!   transaction also holds `Transfer(from -> payTo, value)` means the payee was paid, so the
//!   payment counts as settled with that transaction; a used nonce without it (cancelled, or
//!   paid in a transaction outside the searched blocks) is `nonce_already_used`.
//! - **Escrow** ([`Mode::Escrow`]): `mintWithAuthorization` on the GenImTokenNFT at `payTo`;
//!   the result carries the token id. `mintedByAuthorization(from, nonce)` non-zero means the
//!   token exists (returned as is). If the authorization was executed directly on the token
//!   (the money sits in the NFT without a token), the relayer, an authorized provider, mints
//!   for it: the contract allows providers exactly that, after the logs above prove the
//!   payment arrived.

use super::{
    batch::Batcher,
    verify::{self, AuthorizationKey, Mode, Verified, check_terms, settlement_call},
    wire::{Payment, PaymentError, Reason, Requirement, SettleResponse, Version, caip2},
};
use crate::{
    bindings::gen_im_token_nft::GenImTokenNFT,
    chain::{ChainError, Connection, multicall3::MULTICALL3, receipt_event, receipt_events},
    eip3009::IEIP3009,
};
use alloy::{
    primitives::{Address, B256, TxHash, U256},
    providers::Provider,
    rpc::types::{Filter, TransactionReceipt},
    sol_types::SolEvent,
};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::OnceCell;
use tracing::{info, warn};

/// Blocks searched for an execution of a used authorization, back from the head (about 5.5 h
/// on Base). Authorizations live minutes (`maxTimeoutSeconds`), so this is ample.
pub const DEFAULT_LOOKBACK_BLOCKS: u64 = 10_000;
/// Blocks per `eth_getLogs` request (public RPCs refuse wide ranges).
const LOG_CHUNK: u64 = 2_000;
/// Successful settlements remembered in memory (older ones are found again in the logs).
const REMEMBERED: usize = 10_000;

/// Who executed the authorization on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executor {
    /// This relayer (the server's key).
    Relayer,
    /// Someone else: the authorization was front-run (or settled by another instance).
    Other(Address),
}

/// A payment that moved: the transaction that moved it, and in escrow mode the token minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Who paid.
    pub payer: Address,
    /// The chain.
    pub chain_id: u64,
    /// The transaction that moved the money (what the settlement header reports).
    pub transaction: TxHash,
    /// Its block.
    pub block: u64,
    /// Who sent it.
    pub executor: Executor,
    /// Escrow mode: the token minted for this payment.
    pub token_id: Option<U256>,
    /// Escrow mode: the mint transaction (the same as `transaction` unless front-run).
    pub mint_transaction: Option<TxHash>,
}

impl Settled {
    /// The facilitator answer and settlement header content, for a client of `version`.
    pub fn response(&self, version: Version) -> SettleResponse {
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: Some(self.payer.to_checksum(None)),
            transaction: self.transaction.to_string(),
            network: network_name(version, self.chain_id),
        }
    }
}

/// The network as `version` names it (v2's CAIP-2 when v1 has no name for it).
fn network_name(version: Version, chain_id: u64) -> String {
    version.network(chain_id).unwrap_or_else(|| caip2(chain_id))
}

/// Why a payment did not settle.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SettleError {
    /// It cannot settle, for a standard reason; nothing moved.
    #[error(transparent)]
    Rejected(#[from] PaymentError),
    /// The transaction was sent but not mined in time; it may still be. Settling again
    /// follows the same transaction.
    #[error(
        "settlement transaction {tx} was not mined in time; it may still be (settle again to \
         follow it)"
    )]
    Pending {
        /// The transaction in flight.
        tx: TxHash,
    },
    /// The chain could not be asked or failed; whether anything moved is decided by the next
    /// attempt, which looks at the chain first.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl SettleError {
    /// The standard reason.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Rejected(err) => err.reason,
            Self::Pending { .. } => Reason::SettlementPending,
            Self::Chain(_) => Reason::UnexpectedSettleError,
        }
    }

    /// The facilitator answer and settlement header content, for a client of `version`.
    pub fn response(&self, version: Version, chain_id: u64, payer: Address) -> SettleResponse {
        let message = match self {
            Self::Rejected(err) => err.message.clone(),
            other => other.to_string(),
        };
        SettleResponse {
            success: false,
            error_reason: Some(self.reason().for_version(version).to_owned()),
            error_message: Some(message),
            payer: Some(payer.to_checksum(None)),
            transaction: match self {
                Self::Pending { tx } => tx.to_string(),
                _ => String::new(),
            },
            network: network_name(version, chain_id),
        }
    }
}

type Outcome = Result<Settled, SettleError>;

/// Settles payments from one relayer, each authorization at most once (see the module docs).
/// Cheap to share (`Arc`); one per relayer key and process.
pub struct Settler {
    conn: Connection,
    lookback_blocks: u64,
    state: Mutex<State>,
    /// Direct settlements' sender, when the chain has Multicall3.
    batcher: OnceCell<Option<Batcher>>,
}

#[derive(Default)]
struct State {
    /// One cell per authorization being (or, for successes, having been) settled: concurrent
    /// calls wait for the same outcome.
    cells: HashMap<AuthorizationKey, Arc<OnceCell<Outcome>>>,
    /// Settled authorizations, oldest first, to forget the oldest beyond [`REMEMBERED`].
    settled: VecDeque<AuthorizationKey>,
    /// Transactions sent and not yet seen mined.
    pending: HashMap<AuthorizationKey, TxHash>,
    /// Gas of settlements verified and not yet settled (their simulation's estimate).
    gas: HashMap<AuthorizationKey, u64>,
}

impl std::fmt::Debug for Settler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settler")
            .field("conn", &self.conn)
            .field("lookback_blocks", &self.lookback_blocks)
            .finish_non_exhaustive()
    }
}

impl Settler {
    /// A settler sending from `conn`'s signer (the relayer, which pays the gas).
    pub fn new(conn: Connection) -> Self {
        Self {
            conn,
            lookback_blocks: DEFAULT_LOOKBACK_BLOCKS,
            state: Mutex::new(State::default()),
            batcher: OnceCell::new(),
        }
    }

    /// Searches this many blocks back for executions of used authorizations.
    pub fn with_lookback(mut self, blocks: u64) -> Self {
        self.lookback_blocks = blocks.max(1);
        self
    }

    /// The connection it sends from.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Keeps the gas `verified`'s simulation found, for its settlement (one estimate less).
    pub fn expect(&self, verified: &Verified) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        // Verified payments that never settle (refused work, failed generation) must not pile
        // up: a full map starts over, and those settlements estimate again.
        if state.gas.len() >= REMEMBERED {
            state.gas.clear();
        }
        state.gas.insert(verified.key, verified.gas);
    }

    fn expected_gas(&self, key: AuthorizationKey) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.gas.remove(&key)
    }

    /// Settles `payment` for `requirement` in `mode`. Call [`verify::verify`] first (before
    /// doing the paid work): this re-checks only the terms, not the window or the balance,
    /// since a payment settled earlier must still answer with its settlement.
    pub async fn settle(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
    ) -> Outcome {
        if requirement.chain_id != self.conn.chain_id {
            return Err(PaymentError::new(
                Reason::InvalidNetwork,
                format!(
                    "chain {} is not served here (chain {})",
                    requirement.chain_id, self.conn.chain_id
                ),
            )
            .into());
        }
        check_terms(requirement, payment)?;
        let key = AuthorizationKey::of(requirement, payment);
        let cell = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.cells.entry(key).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| self.settle_once(requirement, payment, mode, key))
            .await
            .clone();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let current = state.cells.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell));
        match &outcome {
            // A failure is not final: the next call looks at the chain again.
            Err(_) if current => {
                state.cells.remove(&key);
            }
            Ok(_) if current && !state.settled.contains(&key) => {
                state.settled.push_back(key);
                while state.settled.len() > REMEMBERED {
                    if let Some(old) = state.settled.pop_front() {
                        state.cells.remove(&old);
                    }
                }
            }
            _ => {}
        }
        outcome
    }

    async fn settle_once(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
        key: AuthorizationKey,
    ) -> Outcome {
        let pending = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.pending.get(&key).copied()
        };
        if let Some(tx) = pending {
            match self.follow_pending(key, tx).await? {
                Some(receipt) if carries(mode, &receipt, requirement, payment) => {
                    return self.settled_by(requirement, payment, mode, receipt).await;
                }
                // Reverted or gone: the state of the authorization decides below.
                _ => {}
            }
        }
        match mode {
            Mode::Direct => self.settle_direct(requirement, payment, key).await,
            Mode::Escrow { .. } => self.settle_escrow(requirement, payment, mode, key, 0).await,
        }
    }

    /// Sends the transfer (with others, when they queue: `x402/batch.rs`). An authorization
    /// executed by someone else makes the estimate revert, and [`Self::send_failed`] looks
    /// for that execution.
    async fn settle_direct(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        key: AuthorizationKey,
    ) -> Outcome {
        let tx = settlement_call(requirement, payment, &Mode::Direct);
        let gas = self.expected_gas(key);
        let sent = match self.batcher().await {
            Some(batcher) => match batcher.send(tx.clone(), gas).await {
                // Its call failed inside a batch: alone, it goes through or says why.
                Ok(receipt)
                    if receipt.to == Some(MULTICALL3)
                        && !executes(&receipt, requirement, payment) =>
                {
                    self.conn.send(tx).await
                }
                other => other,
            },
            None => self.conn.send_with_gas(tx, gas).await,
        };
        match sent {
            Ok(receipt) => {
                self.settled_by(requirement, payment, &Mode::Direct, receipt)
                    .await
            }
            Err(err) => self.send_failed(requirement, payment, key, err).await,
        }
    }

    /// The batcher, when the chain has Multicall3 (looked up once).
    async fn batcher(&self) -> Option<&Batcher> {
        self.batcher
            .get_or_try_init(|| async {
                let code = self.conn.provider.get_code_at(MULTICALL3).await?;
                Ok::<_, alloy::transports::TransportError>(
                    (!code.is_empty()).then(|| Batcher::start(self.conn.clone())),
                )
            })
            .await
            .ok()
            .and_then(Option::as_ref)
    }

    /// After a failed send: someone may have executed the authorization meanwhile (a revert
    /// then says "used"), the transaction may be in flight, or the chain refused it.
    async fn send_failed(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        key: AuthorizationKey,
        err: ChainError,
    ) -> Outcome {
        match err {
            ChainError::Reverted(why) => {
                if self.authorization_used(requirement, payment).await? {
                    return self.paid_elsewhere(requirement, payment).await;
                }
                let reason = match verify::reason_of_revert(None, &why) {
                    Reason::SimulationFailed => Reason::TransactionFailed,
                    reason => reason,
                };
                Err(PaymentError::new(reason, why).into())
            }
            ChainError::Timeout { tx, .. } => {
                warn!(%tx, payer = %payment.payer(), "settlement not mined in time; following it on the next attempt");
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                state.pending.insert(key, tx);
                Err(SettleError::Pending { tx })
            }
            other => Err(other.into()),
        }
    }

    async fn settle_escrow(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
        key: AuthorizationKey,
        depth: u8,
    ) -> Outcome {
        let auth = &payment.authorization;
        let nft = GenImTokenNFT::new(requirement.pay_to, self.conn.provider.clone());
        let minted = nft
            .mintedByAuthorization(auth.from, auth.nonce)
            .call()
            .await
            .map_err(|err| self.conn.call_error(err))?;
        if !minted.is_zero() {
            return self.minted_earlier(requirement, payment, minted).await;
        }
        let front_run = if self.authorization_used(requirement, payment).await? {
            // Executed on the token directly: the money is in the NFT without a token. Mint
            // for it only when the logs show that it arrived (a cancelled authorization
            // would leave the NFT's unaccounted balance to pay for it).
            match self.find_execution(requirement, payment).await? {
                Some(receipt) => Some(receipt),
                None => {
                    return Err(
                        used_without_payment(requirement, payment, self.lookback_blocks).into(),
                    );
                }
            }
        } else {
            None
        };
        let tx = settlement_call(requirement, payment, mode);
        // Not after a front-run: the simulation took another path through the contract.
        let gas = self
            .expected_gas(key)
            .filter(|_| front_run.is_none() && depth == 0);
        match self.conn.send_with_gas(tx, gas).await {
            Ok(receipt) => {
                let paid = front_run.map(|r| {
                    (
                        r.transaction_hash,
                        r.block_number.unwrap_or_default(),
                        executor_of(&self.conn, &r),
                    )
                });
                self.minted(requirement, payment, &receipt, paid)
            }
            // Another provider minted, or someone executed it, between our reads and our send.
            Err(ChainError::Reverted(_)) if depth == 0 => {
                Box::pin(self.settle_escrow(requirement, payment, mode, key, depth + 1)).await
            }
            Err(err) => self.send_failed(requirement, payment, key, err).await,
        }
    }

    /// The token minted for `payment` earlier (by us, another provider, or a relayer of a
    /// prompt-committed authorization), with the transaction that paid for it.
    async fn minted_earlier(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        token_id: U256,
    ) -> Outcome {
        let auth = &payment.authorization;
        let filter = Filter::new()
            .address(requirement.pay_to)
            .event_signature(GenImTokenNFT::PaidByAuthorization::SIGNATURE_HASH)
            .topic1(B256::from(token_id.to_be_bytes::<32>()))
            .topic2(auth.from.into_word())
            .topic3(auth.nonce);
        let Some(log) = self.find_log(filter, true).await? else {
            return Err(PaymentError::new(
                Reason::NonceAlreadyUsed,
                format!("token {token_id} was minted for this authorization, but its mint transaction was not found"),
            )
            .into());
        };
        let mint_tx = log
            .transaction_hash
            .ok_or_else(|| rpc_missing(&self.conn, "a log without its transaction"))?;
        let event = log
            .log_decode::<GenImTokenNFT::PaidByAuthorization>()
            .map_err(|_| rpc_missing(&self.conn, "an undecodable PaidByAuthorization log"))?;
        let mint_receipt = self
            .receipt(mint_tx)
            .await?
            .ok_or_else(|| rpc_missing(&self.conn, "the mint receipt"))?;
        let paid = if event.inner.data.executedHere {
            None
        } else {
            self.find_execution(requirement, payment).await?.map(|r| {
                (
                    r.transaction_hash,
                    r.block_number.unwrap_or_default(),
                    executor_of(&self.conn, &r),
                )
            })
        };
        self.minted(requirement, payment, &mint_receipt, paid)
    }

    /// A [`Settled`] from a mint receipt; `paid`: the front-running transaction that moved the
    /// money, if not the mint itself.
    fn minted(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mint: &TransactionReceipt,
        paid: Option<(TxHash, u64, Executor)>,
    ) -> Outcome {
        let event = receipt_event::<GenImTokenNFT::PaidByAuthorization>(mint, requirement.pay_to)
            .ok_or_else(|| {
            PaymentError::new(
                Reason::TransactionFailed,
                format!(
                    "mint transaction {} has no PaidByAuthorization event",
                    mint.transaction_hash
                ),
            )
        })?;
        let (transaction, block, executor) = paid.unwrap_or((
            mint.transaction_hash,
            mint.block_number.unwrap_or_default(),
            executor_of(&self.conn, mint),
        ));
        let settled = Settled {
            payer: payment.payer(),
            chain_id: requirement.chain_id,
            transaction,
            block,
            executor,
            token_id: Some(event.tokenId),
            mint_transaction: Some(mint.transaction_hash),
        };
        info!(payer = %settled.payer, tx = %settled.transaction, token_id = %event.tokenId, executor = ?settled.executor, "payment settled in escrow");
        Ok(settled)
    }

    /// A [`Settled`] from a mined settlement receipt, checked for the payment's `Transfer`.
    async fn settled_by(
        &self,
        requirement: &Requirement,
        payment: &Payment,
        mode: &Mode,
        receipt: TransactionReceipt,
    ) -> Outcome {
        if let Mode::Escrow { .. } = mode {
            return self.minted(requirement, payment, &receipt, None);
        }
        if !executes(&receipt, requirement, payment) {
            return Err(PaymentError::new(
                Reason::TransactionFailed,
                format!(
                    "transaction {} was mined without the expected Transfer of {} to {}",
                    receipt.transaction_hash, requirement.amount, requirement.pay_to
                ),
            )
            .into());
        }
        let settled = Settled {
            payer: payment.payer(),
            chain_id: requirement.chain_id,
            transaction: receipt.transaction_hash,
            block: receipt.block_number.unwrap_or_default(),
            executor: executor_of(&self.conn, &receipt),
            token_id: None,
            mint_transaction: None,
        };
        info!(payer = %settled.payer, tx = %settled.transaction, executor = ?settled.executor, "payment settled");
        Ok(settled)
    }

    /// The nonce is used: settled if the logs show the payment to `payTo`.
    async fn paid_elsewhere(&self, requirement: &Requirement, payment: &Payment) -> Outcome {
        match self.find_execution(requirement, payment).await? {
            Some(receipt) => {
                self.settled_by(requirement, payment, &Mode::Direct, receipt)
                    .await
            }
            None => Err(used_without_payment(requirement, payment, self.lookback_blocks).into()),
        }
    }

    async fn authorization_used(
        &self,
        requirement: &Requirement,
        payment: &Payment,
    ) -> Result<bool, ChainError> {
        let auth = &payment.authorization;
        IEIP3009::new(requirement.asset, self.conn.provider.clone())
            .authorizationState(auth.from, auth.nonce)
            .call()
            .await
            .map_err(|err| self.conn.call_error(err))
    }

    /// The transaction that executed the payment's authorization and paid `payTo` exactly the
    /// amount: `AuthorizationUsed(from, nonce)` on the token, and in the same transaction
    /// `Transfer(from, payTo, amount)`.
    async fn find_execution(
        &self,
        requirement: &Requirement,
        payment: &Payment,
    ) -> Result<Option<TransactionReceipt>, ChainError> {
        let auth = &payment.authorization;
        let filter = Filter::new()
            .address(requirement.asset)
            .event_signature(IEIP3009::AuthorizationUsed::SIGNATURE_HASH)
            .topic1(auth.from.into_word())
            .topic2(auth.nonce);
        let Some(log) = self.find_log(filter, false).await? else {
            return Ok(None);
        };
        let Some(tx) = log.transaction_hash else {
            return Ok(None);
        };
        Ok(self
            .receipt(tx)
            .await?
            .filter(|receipt| executes(receipt, requirement, payment)))
    }

    /// The newest log matching `filter` within the lookback window, searched back from the
    /// head in chunks; `whole_chain`: then from block 0 in one request, for events that must
    /// exist (a minted token's).
    async fn find_log(
        &self,
        filter: Filter,
        whole_chain: bool,
    ) -> Result<Option<alloy::rpc::types::Log>, ChainError> {
        let provider = &self.conn.provider;
        let head = provider
            .get_block_number()
            .await
            .map_err(|err| self.conn.rpc_error(err))?;
        let lowest = head.saturating_sub(self.lookback_blocks);
        let mut high = head;
        loop {
            let low = high.saturating_sub(LOG_CHUNK - 1).max(lowest);
            let logs = provider
                .get_logs(&filter.clone().from_block(low).to_block(high))
                .await
                .map_err(|err| self.conn.rpc_error(err))?;
            if let Some(log) = logs.into_iter().last() {
                return Ok(Some(log));
            }
            if low <= lowest {
                break;
            }
            high = low - 1;
        }
        if whole_chain && lowest > 0 {
            let logs = provider
                .get_logs(&filter.from_block(0).to_block(lowest))
                .await
                .map_err(|err| self.conn.rpc_error(err))?;
            return Ok(logs.into_iter().last());
        }
        Ok(None)
    }

    async fn receipt(&self, tx: TxHash) -> Result<Option<TransactionReceipt>, ChainError> {
        self.conn
            .provider
            .get_transaction_receipt(tx)
            .await
            .map_err(|err| self.conn.rpc_error(err))
    }

    /// Waits (up to the connection's receipt timeout) for a transaction sent by an earlier
    /// attempt. `Ok(None)`: the node no longer knows it, so the caller may send again (the
    /// EIP-3009 nonce keeps a second execution from paying twice).
    async fn follow_pending(
        &self,
        key: AuthorizationKey,
        tx: TxHash,
    ) -> Result<Option<TransactionReceipt>, SettleError> {
        let timeout = self
            .conn
            .options
            .tx_timeout
            .unwrap_or(Duration::from_secs(120));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(receipt) = self.receipt(tx).await? {
                self.forget_pending(key);
                return Ok(Some(receipt));
            }
            let known = self
                .conn
                .provider
                .get_transaction_by_hash(tx)
                .await
                .map_err(|err| self.conn.rpc_error(err))?
                .is_some();
            if !known {
                self.forget_pending(key);
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(SettleError::Pending { tx });
            }
            tokio::time::sleep(self.conn.poll_interval).await;
        }
    }

    fn forget_pending(&self, key: AuthorizationKey) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.pending.remove(&key);
    }
}

/// Whether `receipt` executed this payment's authorization and paid `payTo` the amount: the
/// token's `AuthorizationUsed(from, nonce)` and `Transfer(from, payTo, amount)` (a batch holds
/// several of each; both come from the one call, so its own `AuthorizationUsed` decides).
fn executes(receipt: &TransactionReceipt, requirement: &Requirement, payment: &Payment) -> bool {
    let auth = &payment.authorization;
    receipt.status()
        && receipt_events::<IEIP3009::AuthorizationUsed>(receipt, requirement.asset)
            .iter()
            .any(|used| used.authorizer == auth.from && used.nonce == auth.nonce)
        && receipt_events::<IEIP3009::Transfer>(receipt, requirement.asset)
            .iter()
            .any(|t| {
                t.from == auth.from && t.to == requirement.pay_to && t.value == requirement.amount
            })
}

/// Whether a followed transaction settled this payment: in direct mode only if it executed
/// this authorization (it may be a batch in which this call failed); a mint is checked by
/// [`Settler::minted`].
fn carries(
    mode: &Mode,
    receipt: &TransactionReceipt,
    requirement: &Requirement,
    payment: &Payment,
) -> bool {
    match mode {
        Mode::Direct => executes(receipt, requirement, payment),
        Mode::Escrow { .. } => receipt.status(),
    }
}

fn executor_of(conn: &Connection, receipt: &TransactionReceipt) -> Executor {
    if conn.signer_address() == Some(receipt.from) {
        Executor::Relayer
    } else {
        Executor::Other(receipt.from)
    }
}

fn used_without_payment(
    requirement: &Requirement,
    payment: &Payment,
    lookback: u64,
) -> PaymentError {
    PaymentError::new(
        Reason::NonceAlreadyUsed,
        format!(
            "the authorization of {} with nonce {} was used or cancelled without paying {} \
             {} (no such transfer in the last {lookback} blocks)",
            payment.authorization.from,
            payment.authorization.nonce,
            requirement.pay_to,
            requirement.amount
        ),
    )
}

fn rpc_missing(conn: &Connection, what: &str) -> ChainError {
    ChainError::Rpc {
        url: crate::http::redact_url(&conn.url),
        message: format!("the node returned {what}"),
    }
}
