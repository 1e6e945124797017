//! The scanner, one per contract: reads `ImageRequested` events from the checkpoint in chunks,
//! re-reads a reorg window behind the head on every poll, notices reorgs by block hash, and
//! confirms settled tokens once their outcome is deep enough (queueing again those that are
//! pending again). While the RPC is down it waits for it, one log line per outage.

use super::{Job, Report, Shared, state::MintRef, tracker::Discovery, unless_stopped};
use crate::{bindings::gen_im_nft::GenImNFT, chain::ChainError, nft::token::TokenState};
use alloy::{
    primitives::{Address, B256},
    providers::Provider as _,
    rpc::types::{BlockNumberOrTag, Filter},
    sol_types::SolEvent,
};
use std::{sync::Arc, time::Instant};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

/// A block as the scanner remembers it, to notice reorgs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    number: u64,
    hash: B256,
    parent: B256,
    time: u64,
}

pub(super) async fn scan(
    shared: Arc<Shared>,
    nft: Address,
    start: u64,
    jobs: mpsc::UnboundedSender<Job>,
    mut stop: watch::Receiver<bool>,
) {
    let opts = &shared.opts;
    let mut next = start; // first block not read yet
    let mut last: Option<Seen> = None;
    loop {
        let Some(head) = unless_stopped(&mut stop, latest(&shared)).await else {
            return;
        };
        let head = match head {
            Ok(head) => head,
            Err(err) => return shared.fail_run(err),
        };
        if let Some(previous) = last {
            let reorged = match unless_stopped(&mut stop, reorged(&shared, previous, head)).await {
                None => return,
                Some(Ok(reorged)) => reorged,
                Some(Err(err)) => return shared.fail_run(err),
            };
            if reorged {
                info!(%nft, head = head.number, "the chain reorganized: checking unconfirmed tokens again");
                shared.tracker.reorged(nft);
            } else {
                shared.tracker.recheck_beyond(nft, previous.number);
            }
        }
        last = Some(head);
        shared.tracker.observe_head(nft, head.number, head.time);

        if head.number + 1 >= next {
            // Also behind the checkpoint after a restart: a reorg may have happened meanwhile.
            let from = next.saturating_sub(opts.reorg_blocks);
            let mut chunk_start = from;
            while chunk_start <= head.number {
                let chunk_end = (chunk_start + opts.chunk_blocks - 1).min(head.number);
                let read = unless_stopped(&mut stop, mints(&shared, nft, chunk_start, chunk_end));
                let jobs_in_chunk = match read.await {
                    None => return,
                    Some(Ok(found)) => found,
                    Some(Err(err)) => return shared.fail_run(err),
                };
                for job in jobs_in_chunk {
                    match shared.tracker.discover(&job) {
                        Discovery::Known => continue,
                        Discovery::New | Discovery::Replaced => {}
                    }
                    shared.progress.report(Report::Queued {
                        nft,
                        token_id: job.token_id,
                    });
                    if jobs.send(job).is_err() {
                        return;
                    }
                }
                chunk_start = chunk_end + 1;
                shared.tracker.scanned(nft, chunk_start);
            }
            next = head.number + 1;
        }

        for (job, at) in shared.tracker.due(nft) {
            let state = unless_stopped(&mut stop, shared.token_state(nft, job.token_id));
            match state.await {
                None => return,
                Some(Err(err)) => return shared.fail_run(err),
                Some(Ok(TokenState::Pending)) => {
                    info!(%nft, token_id = job.token_id, "pending again after a reorg: delivering it again");
                    shared.tracker.requeue(&job);
                    if jobs.send(job).is_err() {
                        return;
                    }
                }
                Some(Ok(state)) => {
                    debug!(%nft, token_id = job.token_id, %state, "final");
                    // After a reorg the state may be newer than `at`: count from the head.
                    let (head_now, _) = shared.tracker.head(nft);
                    let at = if head_now >= at + opts.reorg_blocks {
                        at
                    } else {
                        head_now
                    };
                    shared.tracker.confirm(&job, at);
                }
            }
        }

        if opts.once {
            return;
        }
        if unless_stopped(&mut stop, tokio::time::sleep(opts.poll_interval))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// The latest block, retried while the RPC is down.
async fn latest(shared: &Shared) -> Result<Seen, ChainError> {
    shared
        .patience()
        .run("following the chain", 0, || {
            block(shared, BlockNumberOrTag::Latest)
        })
        .await
}

async fn block(shared: &Shared, number: BlockNumberOrTag) -> Result<Seen, ChainError> {
    let block = shared
        .conn
        .provider
        .get_block_by_number(number)
        .await
        .map_err(|err| shared.conn.rpc_error(err))?
        .ok_or_else(|| ChainError::Rpc {
            url: crate::http::redact_url(&shared.conn.url),
            message: format!("no block {number}"),
        })?;
    Ok(Seen {
        number: block.header.number,
        hash: block.header.hash,
        parent: block.header.parent_hash,
        time: block.header.timestamp,
    })
}

/// Whether the chain that led to `head` no longer contains `previous`.
async fn reorged(shared: &Shared, previous: Seen, head: Seen) -> Result<bool, ChainError> {
    Ok(if head.number == previous.number {
        head.hash != previous.hash
    } else if head.number == previous.number + 1 {
        head.parent != previous.hash
    } else if head.number > previous.number {
        let then = shared
            .patience()
            .run("following the chain", previous.number, || {
                block(shared, BlockNumberOrTag::Number(previous.number))
            })
            .await?;
        then.hash != previous.hash
    } else {
        true // the chain got shorter
    })
}

/// The mints of `nft` in blocks `from..=to`, retried while the RPC is down.
async fn mints(shared: &Shared, nft: Address, from: u64, to: u64) -> Result<Vec<Job>, ChainError> {
    let filter = Filter::new()
        .address(nft)
        .event_signature(GenImNFT::ImageRequested::SIGNATURE_HASH)
        .from_block(from)
        .to_block(to);
    let logs = shared
        .patience()
        .run("reading mint events", from, || async {
            shared
                .conn
                .provider
                .get_logs(&filter)
                .await
                .map_err(|err| shared.conn.rpc_error(err))
        })
        .await?;
    Ok(logs
        .into_iter()
        .filter_map(|log| {
            let event = GenImNFT::ImageRequested::decode_log(&log.inner).ok()?;
            Some(Job {
                nft,
                token_id: u64::try_from(event.tokenId).ok()?,
                mint: MintRef {
                    tx: log.transaction_hash?,
                    block: log.block_number?,
                    prompt: event.data.prompt,
                },
                discovered_at: Instant::now(),
            })
        })
        .collect())
}
