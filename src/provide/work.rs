//! The workers: for each mint, check the token on chain, make what is missing (generate, store
//! the image, build and store the metadata: [`crate::pipeline`]) and hand it to the batcher.
//!
//! A transient failure is retried while the token is still pending (re-checked between
//! attempts); a rejected prompt fails its token; a configuration error stops the run.

use super::{
    Job, ProvideError, Ready, Report, Shared,
    state::{TokenPhase, TokenRecord},
    unless_stopped,
};
use crate::{
    chain::ChainError,
    generate::ImageRequest,
    nft::token::TokenState,
    pipeline::{Pipeline, PipelineError, TokenRef},
    retry::{ErrorClass, Retryable},
    time,
};
use alloy::{primitives::B256, providers::Provider as _};
use std::{
    fmt,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
};
use tracing::{debug, info, warn};

/// Runs jobs with at most `concurrency` generating at once. On stop, queued jobs are handed
/// back (left unfinished, so the checkpoint keeps them) and in-flight ones go on until the
/// run's shutdown timeout aborts them.
pub(super) async fn dispatch(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    ready: mpsc::UnboundedSender<Ready>,
    stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(shared.opts.concurrency.max(1)));
    let mut workers = JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    let (shared, permits, ready, stop) =
                        (shared.clone(), permits.clone(), ready.clone(), stop.clone());
                    workers.spawn(async move { work(shared, job, permits, ready, stop).await });
                }
                None => break,
            },
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
            _ = stopped(&stop) => break,
        }
    }
    while workers.join_next().await.is_some() {}
}

async fn stopped(stop: &watch::Receiver<bool>) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn work(
    shared: Arc<Shared>,
    job: Job,
    permits: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Ready>,
    mut stop: watch::Receiver<bool>,
) {
    let (nft, token_id) = (job.nft, job.token_id);
    if let Some(shard) = shared.opts.shard
        && !shard.owns(token_id)
    {
        let wait = match unless_stopped(&mut stop, grace_left(&shared, &job)).await {
            None => return,
            Some(Ok(wait)) => wait,
            Some(Err(err)) => return shared.fail_run(err),
        };
        if wait > Duration::ZERO {
            if shared.opts.once {
                info!(%nft, token_id, grace_left_s = wait.as_secs(), "another shard's token, still in its grace period: left to its shard");
                return shared.tracker.park(&job);
            }
            debug!(%nft, token_id, "another shard's token: waiting out its grace period");
            if unless_stopped(&mut stop, tokio::time::sleep(wait))
                .await
                .is_none()
            {
                return;
            }
        }
    }
    // `genim serve` is delivering it for a paid request: wait until it lets go, then check
    // (`prepare` looks at the chain first, so a delivered token is skipped).
    if let Some(claims) = &shared.opts.claims {
        while claims.is_claimed(nft, token_id) {
            let pause = tokio::time::sleep(Duration::from_millis(200));
            if unless_stopped(&mut stop, pause).await.is_none() {
                return;
            }
        }
    }
    let Some(Ok(_permit)) = unless_stopped(&mut stop, permits.acquire()).await else {
        return; // handed back: stays unfinished for the next run
    };
    match unless_stopped(&mut stop, prepare(&shared, &job)).await {
        None => {}
        Some(Ok(Some(item))) => {
            let _ = ready.send(item);
        }
        Some(Ok(None)) => {}
        Some(Err(err)) => shared.fail_run(err),
    }
}

/// How much of another shard's grace period is left for this token, counted from its mint's
/// block time to the later of this machine's clock and the chain's head time.
async fn grace_left(shared: &Shared, job: &Job) -> Result<Duration, ChainError> {
    let minted_at = shared
        .patience()
        .run("reading the mint's block", job.token_id, || async {
            shared
                .conn
                .provider
                .get_block_by_number(alloy::rpc::types::BlockNumberOrTag::Number(job.mint.block))
                .await
                .map_err(|err| shared.conn.rpc_error(err))
        })
        .await?
        .map_or(0, |block| block.header.timestamp);
    let (_, head_time) = shared.tracker.head(job.nft);
    let now = crate::time::unix_now().max(head_time);
    let pending_for = Duration::from_secs(now.saturating_sub(minted_at));
    Ok(shared.opts.shard_grace.saturating_sub(pending_for))
}

/// Checks the token, generates and stores what is missing, and returns it ready to deliver;
/// `None` when there is nothing to deliver (no longer pending, stale, given up on).
async fn prepare(shared: &Shared, job: &Job) -> Result<Option<Ready>, ProvideError> {
    let (nft, token_id) = (job.nft, job.token_id);
    if !shared.tracker.is_current(job) {
        return Ok(None);
    }
    let state = shared.token_state(nft, token_id).await?;
    if state != TokenState::Pending {
        super::deliver::resolve(shared, job, state, None).await?;
        return Ok(None);
    }
    if token_id < shared.since.get(&nft).copied().unwrap_or(0) {
        // The contract lets only providers authorized at mint time deliver it.
        shared.progress.report(Report::Skipped {
            nft,
            token_id,
            reason: "minted before this provider was authorized".into(),
        });
        shared.tracker.finish(job);
        return Ok(None);
    }
    let contract = shared.tracker.state(nft);
    let record = contract.token_of(token_id, &job.mint)?;
    if let Some(record) = &record
        && record.phase == TokenPhase::Failed
    {
        let error = record
            .error
            .clone()
            .unwrap_or_else(|| "failed in an earlier run".into());
        shared.progress.report(Report::Failed {
            nft,
            token_id,
            error,
        });
        shared.tracker.finish(job);
        return Ok(None);
    }
    let stored = record.and_then(|r| Some((r.image_cid?, r.metadata_cid?, r.digest?)));
    let (image_cid, metadata_cid, digest, work) = match stored {
        Some((image, metadata, digest)) => {
            let digest = B256::from_str(&digest).map_err(|_| {
                ProvideError::State(Arc::new(super::state::StateError {
                    path: contract.dir().join(format!("tokens/{token_id}.json")),
                    reason: "corrupt digest; remove the file to start over".into(),
                }))
            })?;
            debug!(%nft, token_id, "reusing the stored image and metadata of this mint");
            (image, metadata, digest, Duration::ZERO)
        }
        None => {
            let started = Instant::now();
            match make(shared, job).await {
                Ok((image, metadata, digest)) => (image, metadata, digest, started.elapsed()),
                Err(Step::Gone(state)) => {
                    super::deliver::resolve(shared, job, state, None).await?;
                    return Ok(None);
                }
                Err(Step::Chain(err)) => return Err(err.into()),
                Err(Step::State(err)) => return Err(err.into()),
                Err(Step::Pipeline(err)) if err.class() == ErrorClass::Rejected => {
                    fail(shared, job, &err)?;
                    return Ok(None);
                }
                // Every image would fail the same way (bad key, full disk), or a `once` run
                // used up its attempts: stop, marking nothing failed.
                Err(Step::Pipeline(err)) => return Err(err.into()),
            }
        }
    };
    let state = shared.token_state(nft, token_id).await?;
    if state != TokenState::Pending {
        super::deliver::resolve(shared, job, state, None).await?;
        return Ok(None);
    }
    if !shared.tracker.is_current(job) {
        return Ok(None);
    }
    Ok(Some(Ready {
        job: job.clone(),
        image_cid,
        metadata_cid,
        digest,
        work,
    }))
}

/// Records a token as given up on: its prompt will never work.
fn fail(shared: &Shared, job: &Job, err: &PipelineError) -> Result<(), ProvideError> {
    let (nft, token_id) = (job.nft, job.token_id);
    let error = err.to_string();
    warn!(%nft, token_id, %error, "giving up on this token; its owner can refund it (`genim provide --retry-failed` tries again)");
    let record = TokenRecord {
        error: Some(error.clone()),
        ..TokenRecord::new(token_id, TokenPhase::Failed, job.mint.clone())
    };
    shared.tracker.state(nft).save_token(&record)?;
    shared.progress.report(Report::Failed {
        nft,
        token_id,
        error,
    });
    shared.tracker.finish(job);
    Ok(())
}

/// Why a step of [`make`] ended without a result.
#[derive(Debug)]
enum Step {
    Pipeline(PipelineError),
    Chain(ChainError),
    State(super::state::StateError),
    /// The token is no longer pending: stop working on it.
    Gone(TokenState),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pipeline(err) => err.fmt(f),
            Self::Chain(err) => err.fmt(f),
            Self::State(err) => err.fmt(f),
            Self::Gone(state) => write!(f, "the token is {state}"),
        }
    }
}

impl Retryable for Step {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Pipeline(err) => err.class() == ErrorClass::Transient,
            Self::Chain(err) => err.is_transient(),
            Self::State(_) | Self::Gone(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Pipeline(err) => err.retry_after(),
            _ => None,
        }
    }
}

/// Runs one pipeline step with [`Shared::patience`], checking before every retry that the
/// token is still pending (an outage may outlast its deadline, or another provider may
/// deliver it meanwhile).
async fn step<T, Fut>(
    shared: &Shared,
    job: &Job,
    what: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<T, Step>
where
    Fut: std::future::Future<Output = Result<T, PipelineError>>,
{
    let mut attempt = 0u32;
    shared
        .patience()
        .run(what, job.token_id, || {
            attempt += 1;
            let again = attempt > 1;
            let fut = call();
            async move {
                if again {
                    let contract = crate::bindings::gen_im_nft::GenImNFT::new(
                        job.nft,
                        shared.conn.provider.clone(),
                    );
                    let state = contract
                        .tokenState(alloy::primitives::U256::from(job.token_id))
                        .call()
                        .await
                        .map_err(|err| Step::Chain(shared.conn.call_error(err)))?;
                    let state = TokenState::from_u8(state.state);
                    if state != TokenState::Pending {
                        return Err(Step::Gone(state));
                    }
                }
                fut.await.map_err(Step::Pipeline)
            }
        })
        .await
}

/// Generates the image, stores it, builds and stores the metadata, and records the result
/// for this mint; returns the image CID, metadata CID and digest.
async fn make(shared: &Shared, job: &Job) -> Result<(String, String, B256), Step> {
    let (nft, token_id) = (job.nft, job.token_id);
    shared.progress.report(Report::Generating { nft, token_id });
    let pipeline = Pipeline::new(shared.generator.clone(), shared.store.clone());
    let request = ImageRequest::new(job.mint.prompt.clone());
    let image = step(shared, job, "generating the image", || {
        pipeline.generate(&request)
    })
    .await?;
    let name = format!("{token_id}.{}", image.extension());
    let image_cid = step(shared, job, "storing the image", || {
        pipeline.store_image(&image, &name)
    })
    .await?;
    let token = TokenRef {
        chain_id: shared.conn.chain_id,
        contract: nft,
        token_id,
    };
    let doc = Pipeline::metadata(
        token,
        &job.mint.prompt,
        &image,
        &image_cid,
        time::now_iso8601(),
    )
    .map_err(Step::Pipeline)?;
    let metadata_cid = step(shared, job, "storing the metadata", || {
        pipeline.store_metadata(&doc)
    })
    .await?;
    let record = TokenRecord {
        image_cid: Some(image_cid.clone()),
        metadata_cid: Some(metadata_cid.clone()),
        digest: Some(doc.digest.to_string()),
        ..TokenRecord::new(token_id, TokenPhase::Stored, job.mint.clone())
    };
    shared
        .tracker
        .state(nft)
        .save_token(&record)
        .map_err(Step::State)?;
    info!(%nft, token_id, image = %image_cid, metadata = %metadata_cid, "stored");
    Ok((image_cid, metadata_cid, doc.digest))
}
