//! Direct settlements that would wait for each other go out together.
//!
//! While [`MAX_IN_FLIGHT`] settlement transactions of the relayer are on their way, the next
//! settlements queue; the queue then leaves as one Multicall3 `aggregate3` transaction, each call
//! allowed to fail alone. A settlement with nothing in front of it goes out as itself, so one
//! request at a time pays nothing for batching, while a busy relayer sends one transaction for
//! many payments: one 21,000 gas base instead of many, one nonce, one block on an automining
//! node. No timer: a batch is whatever queued while the chain was busy.
//!
//! The batch's receipt is every member's answer. Each member looks for its own execution in it
//! ([`super::settle`]); one whose call failed inside the batch is sent again alone, which either
//! explains the failure or goes through.

use crate::chain::{
    ChainError, Connection, call_tx,
    multicall3::{IMulticall3, MULTICALL3},
};
use alloy::{
    primitives::U256,
    rpc::types::{TransactionReceipt, TransactionRequest},
    sol_types::SolCall,
};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::debug;

/// Settlement transactions on their way at once; more settlements wait and go together.
const MAX_IN_FLIGHT: usize = 2;
/// Settlements per batch (about 60,000 gas each: 3 M gas, far below L2 block limits).
const MAX_BATCH: usize = 50;

/// One settlement waiting for its transaction.
struct Job {
    tx: TransactionRequest,
    /// Its simulation's gas, when known.
    gas: Option<u64>,
    answer: oneshot::Sender<Result<TransactionReceipt, ChainError>>,
}

/// Sends settlement transactions from one relayer, grouping those that queue (see the module
/// docs). Its worker task ends when the batcher is dropped.
pub(crate) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the worker sending from `conn`'s signer. Needs Multicall3 on the chain.
    pub(crate) fn start(conn: Connection) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, queue));
        Self { jobs }
    }

    /// Sends `tx` (a call without value; `gas`: its simulation's, when known), alone or in a
    /// batch: the receipt of the transaction that carried it, which the caller checks for its
    /// own effect.
    pub(crate) async fn send(
        &self,
        tx: TransactionRequest,
        gas: Option<u64>,
    ) -> Result<TransactionReceipt, ChainError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || ChainError::Signing("the settlement sender stopped".into());
        self.jobs
            .send(Job { tx, gas, answer })
            .map_err(|_| stopped())?;
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(conn: Connection, mut queue: mpsc::UnboundedReceiver<Job>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        // Waiting for a free slot is what lets the queue fill.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let conn = conn.clone();
        tokio::spawn(async move {
            send_batch(&conn, batch).await;
            drop(slot);
        });
    }
}

async fn send_batch(conn: &Connection, mut batch: Vec<Job>) {
    if batch.len() == 1 {
        let job = batch.pop().expect("one job");
        let _ = job.answer.send(conn.send_with_gas(job.tx, job.gas).await);
        return;
    }
    // The members' own estimates add up to more than the batch needs (each counts the 21,000
    // base of a transaction of its own, which covers Multicall3's work per call), and unlike an
    // estimate of the whole batch, they cannot be fooled by calls allowed to fail: a limit
    // found by estimating the batch could starve a call that then fails silently.
    let gas = batch.iter().map(|job| job.gas).sum::<Option<u64>>();
    let calls = batch
        .iter()
        .map(|job| IMulticall3::Call3 {
            target: job
                .tx
                .to
                .and_then(|to| to.to().copied())
                .unwrap_or_default(),
            allowFailure: true,
            callData: job.tx.input.input().cloned().unwrap_or_default(),
        })
        .collect();
    let input = IMulticall3::aggregate3Call { calls }.abi_encode();
    debug!(
        settlements = batch.len(),
        "sending settlements in one transaction"
    );
    let outcome = conn
        .send_with_gas(call_tx(MULTICALL3, input.into(), U256::ZERO), gas)
        .await;
    for job in batch {
        // A caller that went away (its client hung up) finds the settlement on its retry.
        let _ = job.answer.send(outcome.clone());
    }
}
