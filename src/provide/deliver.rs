//! The batcher and delivery: ready tokens go out in one `deliver` or `deliverBatch`
//! transaction, which the [`crate::chain::Sender`] follows to its end (re-broadcast, replaced,
//! nonce gaps filled) without a time limit: a late receipt is waited for, never answered by a
//! second transaction. A token that turns out not pending is looked up on chain: delivered by
//! an earlier transaction of ours counts as delivered, with its payout.

use super::{
    Delivery, Job, OnChainDelivery, ProvideError, Ready, Report, Shared,
    state::{TokenPhase, TokenRecord},
};
use crate::{
    bindings::gen_im_nft::GenImNFT, chain::ChainError, chain::call_tx, chain::receipt_events, cid,
    nft::token::TokenState,
};
use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider as _,
    rpc::types::TransactionReceipt,
    sol_types::SolCall,
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Instant,
};
use tokio::{sync::mpsc, task::JoinSet};
use tracing::{debug, info, warn};

/// Delivery transactions in flight at once. Waiting for each receipt before sending the next
/// would put a whole block (or receipt poll) between deliveries; the `Sender` gives concurrent
/// sends distinct nonces.
const MAX_IN_FLIGHT: usize = 8;

/// Collects ready tokens for up to `batch_wait` (or `batch_max` of them) and delivers them:
/// `deliver` for one, `deliverBatch` for several, with up to [`MAX_IN_FLIGHT`] transactions
/// pending at once.
pub(super) async fn batch(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<Ready>) {
    let mut in_flight = JoinSet::new();
    while let Some(first) = ready.recv().await {
        let mut items = vec![first];
        let deadline = tokio::time::Instant::now() + shared.opts.batch_wait;
        while items.len() < shared.opts.batch_max.max(1) {
            tokio::select! {
                item = ready.recv() => match item {
                    Some(item) => items.push(item),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        let mut by_nft: BTreeMap<Address, Vec<Ready>> = BTreeMap::new();
        for item in items {
            by_nft.entry(item.job.nft).or_default().push(item);
        }
        for (nft, items) in by_nft {
            while in_flight.len() >= MAX_IN_FLIGHT {
                in_flight.join_next().await;
            }
            let shared = shared.clone();
            in_flight.spawn(async move {
                if let Err(err) = deliver(&shared, nft, items).await {
                    shared.fail_run(err);
                }
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
}

async fn deliver(shared: &Shared, nft: Address, mut items: Vec<Ready>) -> Result<(), ProvideError> {
    let policy = shared.patience();
    let mut failures = 0u32;
    let mut outage: Option<Instant> = None;
    loop {
        // A reorg may have given a token to another mint meanwhile: never deliver the old
        // prompt's image to it.
        items.retain(|item| shared.tracker.is_current(&item.job));
        let Some(first) = items.first() else {
            return Ok(());
        };
        let salt = first.job.token_id;
        let sent_at = Instant::now();
        match shared.conn.send(delivery_tx(nft, &items)).await {
            Ok(receipt) => {
                if let Some(since) = outage {
                    info!(
                        down_ms = since.elapsed().as_millis() as u64,
                        "sending deliveries works again"
                    );
                }
                return settle(shared, nft, items, &receipt, sent_at).await;
            }
            // Nothing was sent (estimation or broadcast failed), or the transaction was
            // replaced and never executed: try again while the tokens are pending.
            Err(err) if err.is_transient() || matches!(err, ChainError::Replaced { .. }) => {
                failures += 1;
                if !policy.is_unlimited() && failures >= policy.attempts {
                    return Err(err.into());
                }
                let delay = policy.delay(failures, salt);
                if outage.is_none() {
                    warn!(%nft, error = %err, retry_in_ms = delay.as_millis() as u64, "cannot send the delivery; retrying until it works");
                    outage = Some(Instant::now());
                } else {
                    debug!(%nft, error = %err, failures, "delivery still failing");
                }
                tokio::time::sleep(delay).await;
                // The answer to a broadcast may have been lost: maybe it was delivered.
                items = recheck(shared, items).await?;
            }
            Err(ChainError::Reverted(why)) => {
                // A token is no longer pending (delivered, refunded, reorged away), or this
                // provider may no longer deliver: the token states and the authorization
                // tell which, not the message.
                let before = items.len();
                items = recheck(shared, items).await?;
                if items.len() == before {
                    let since = GenImNFT::new(nft, shared.conn.provider.clone())
                        .authorizedSince(shared.signer)
                        .call()
                        .await
                        .map_err(|err| shared.conn.call_error(err))?;
                    if since.is_zero() {
                        return Err(ProvideError::NotProvider {
                            signer: shared.signer,
                            nft,
                        });
                    }
                    return Err(ChainError::Reverted(why).into());
                }
            }
            // Out of gas money, a signing failure: nothing will work until the operator acts.
            Err(err) => return Err(err.into()),
        }
    }
}

/// `deliver` for one token, `deliverBatch` for several.
fn delivery_tx(nft: Address, items: &[Ready]) -> alloy::rpc::types::TransactionRequest {
    let ids: Vec<U256> = items
        .iter()
        .map(|item| U256::from(item.job.token_id))
        .collect();
    let digests: Vec<B256> = items.iter().map(|item| item.digest).collect();
    let input = if items.len() == 1 {
        GenImNFT::deliverCall {
            tokenId: ids[0],
            metadataDigest: digests[0],
        }
        .abi_encode()
    } else {
        GenImNFT::deliverBatchCall {
            tokenIds: ids,
            digests,
        }
        .abi_encode()
    };
    call_tx(nft, input.into(), U256::ZERO)
}

/// Keeps the items whose token is still pending; resolves the others.
async fn recheck(shared: &Shared, items: Vec<Ready>) -> Result<Vec<Ready>, ProvideError> {
    let mut pending = Vec::with_capacity(items.len());
    for item in items {
        match shared.token_state(item.job.nft, item.job.token_id).await? {
            TokenState::Pending => pending.push(item),
            state => resolve(shared, &item.job, state, Some(&item)).await?,
        }
    }
    Ok(pending)
}

/// The gas a delivery transaction counts for in the totals, and each delivered token's share:
/// a transaction whose tokens were all skipped still cost its gas.
fn gas_shares(gas_used: u64, delivered: usize) -> (u64, u64) {
    (gas_used, gas_used / delivered.max(1) as u64)
}

/// Reads payouts and skips from the receipt and records the outcome of each token.
async fn settle(
    shared: &Shared,
    nft: Address,
    items: Vec<Ready>,
    receipt: &TransactionReceipt,
    sent_at: Instant,
) -> Result<(), ProvideError> {
    let delivered: HashMap<u64, U256> = receipt_events::<GenImNFT::ImageDelivered>(receipt, nft)
        .into_iter()
        .filter(|event| event.provider == shared.signer)
        .filter_map(|event| Some((u64::try_from(event.tokenId).ok()?, event.payout)))
        .collect();
    let (gas, gas_each) = gas_shares(receipt.gas_used, delivered.len());
    shared.progress.add_gas(gas);
    let block = receipt
        .block_number
        .unwrap_or_else(|| shared.tracker.head(nft).0);
    let tx = receipt.transaction_hash;
    for item in items {
        let Some(&payout) = delivered.get(&item.job.token_id) else {
            // Skipped by `deliverBatch`: not pending any more. Maybe ours after all.
            let state = shared.token_state(nft, item.job.token_id).await?;
            resolve(shared, &item.job, state, Some(&item)).await?;
            continue;
        };
        record_delivery(shared, &item.job, Some(&item), item.digest, tx, block);
        shared.progress.report(Report::Delivered(Box::new(Delivery {
            nft,
            token_id: item.job.token_id,
            prompt: item.job.mint.prompt.clone(),
            image_cid: item.image_cid,
            metadata_cid: item.metadata_cid.clone(),
            digest: item.digest,
            payout,
            gas_used: gas_each,
            tx,
            batch_size: delivered.len(),
            discovered_at: item.job.discovered_at,
            sent_at,
            work: item.work,
        })));
        info!(%nft, token_id = item.job.token_id, cid = %item.metadata_cid, %payout, %tx, "delivered");
        shared.tracker.settle(&item.job, block);
    }
    Ok(())
}

/// Saves the record of a delivery by us. The delivery is on chain: the record only saves work
/// after a reorg, so a failure to write it is a warning.
fn record_delivery(
    shared: &Shared,
    job: &Job,
    item: Option<&Ready>,
    digest: B256,
    tx: alloy::primitives::TxHash,
    block: u64,
) {
    let state = shared.tracker.state(job.nft);
    let earlier = state.token_of(job.token_id, &job.mint).ok().flatten();
    let record = TokenRecord {
        image_cid: item
            .map(|item| item.image_cid.clone())
            .or_else(|| earlier.as_ref().and_then(|r| r.image_cid.clone())),
        metadata_cid: Some(cid::raw_cid_from_digest(&digest.0)),
        digest: Some(digest.to_string()),
        tx: Some(tx.to_string()),
        delivered_block: Some(block),
        ..TokenRecord::new(job.token_id, TokenPhase::Delivered, job.mint.clone())
    };
    if let Err(err) = state.save_token(&record) {
        warn!(%err, token_id = job.token_id, "delivered, but its record could not be saved");
    }
}

/// A token that is not pending: delivered (by us, maybe by an earlier transaction whose
/// outcome we missed, or by another provider), refunded, or gone with a reorg. Reports and
/// records it, and settles it in the tracker as of the block its state changed in.
pub(super) async fn resolve(
    shared: &Shared,
    job: &Job,
    state: TokenState,
    item: Option<&Ready>,
) -> Result<(), ProvideError> {
    let (nft, token_id) = (job.nft, job.token_id);
    let (head, _) = shared.tracker.head(nft);
    let skipped = |reason: String| {
        shared.progress.report(Report::Skipped {
            nft,
            token_id,
            reason,
        })
    };
    match state {
        TokenState::Pending => return Ok(()),
        TokenState::Refunded => {
            skipped("refunded by its owner".into());
            shared.tracker.settle(job, head);
        }
        TokenState::None => {
            skipped("not minted (reorged away?)".into());
            shared.tracker.settle(job, head);
        }
        TokenState::Delivered => match shared.delivery_of(nft, token_id, job.mint.block).await? {
            Some(found) if found.provider == shared.signer => {
                ours(shared, job, item, found).await?;
                shared.tracker.settle(job, found.block);
            }
            Some(found) => {
                skipped(format!("delivered by {}", found.provider));
                shared.tracker.settle(job, found.block);
            }
            None => {
                skipped("delivered".into());
                shared.tracker.settle(job, head);
            }
        },
    }
    Ok(())
}

/// A delivery of ours found on chain. Reported (with its payout) unless this mint's record
/// already names that transaction, i.e. an earlier run reported it.
async fn ours(
    shared: &Shared,
    job: &Job,
    item: Option<&Ready>,
    found: OnChainDelivery,
) -> Result<(), ProvideError> {
    let (nft, token_id) = (job.nft, job.token_id);
    let state = shared.tracker.state(nft);
    let earlier = state.token_of(token_id, &job.mint)?;
    let tx = found.tx.to_string();
    if earlier
        .as_ref()
        .is_some_and(|r| r.phase == TokenPhase::Delivered && r.tx.as_deref() == Some(&tx))
    {
        debug!(%nft, token_id, "delivered by us before");
        return Ok(());
    }
    // Its gas was not counted: the answer of its send was lost, or a run before this one sent it.
    let receipt = shared
        .patience()
        .run("reading a delivery receipt", token_id, || async {
            shared
                .conn
                .provider
                .get_transaction_receipt(found.tx)
                .await
                .map_err(|err| shared.conn.rpc_error(err))
        })
        .await?;
    let (gas_each, batch_size) = match &receipt {
        Some(receipt) => {
            let ours = receipt_events::<GenImNFT::ImageDelivered>(receipt, nft)
                .iter()
                .filter(|event| event.provider == shared.signer)
                .count();
            (gas_shares(receipt.gas_used, ours).1, ours.max(1))
        }
        None => (0, 1),
    };
    record_delivery(shared, job, item, found.digest, found.tx, found.block);
    let metadata_cid = cid::raw_cid_from_digest(&found.digest.0);
    info!(%nft, token_id, cid = %metadata_cid, payout = %found.payout, tx = %found.tx, "delivered (by an earlier transaction)");
    shared.progress.report(Report::Delivered(Box::new(Delivery {
        nft,
        token_id,
        prompt: job.mint.prompt.clone(),
        image_cid: item
            .map(|item| item.image_cid.clone())
            .or_else(|| earlier.and_then(|r| r.image_cid))
            .unwrap_or_default(),
        metadata_cid,
        digest: found.digest,
        payout: found.payout,
        gas_used: gas_each,
        tx: found.tx,
        batch_size,
        discovered_at: job.discovered_at,
        sent_at: job.discovered_at,
        work: item.map(|item| item.work).unwrap_or_default(),
    })));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_whose_tokens_were_all_skipped_still_counts_its_gas() {
        assert_eq!(gas_shares(90_000, 0), (90_000, 90_000));
        assert_eq!(gas_shares(90_000, 3), (90_000, 30_000));
    }
}
