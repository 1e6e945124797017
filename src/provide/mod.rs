//! The image-provider loop: watch `ImageRequested` events, generate each image, store image and
//! metadata, deliver on-chain (batched when several are ready) and get paid.
//!
//! ```text
//!  scan (per contract) ──jobs──> work (N at once) ──ready──> deliver ──> deliver / deliverBatch
//!   │ chunked get_logs from the checkpoint,   │ state check, pipeline    │ one tx per batch, followed
//!   │ a reorg window re-read, reorgs seen     │ (generate, store image,  │ to its end; payouts from
//!   │ by block hash, settled tokens confirmed │ metadata), records       │ the receipt or the logs
//!   └─────────── tracker: one entry per mint; checkpoint = first block not final ───────────┘
//! ```
//!
//! Exactly-once delivery rests on the contract (a token is delivered at most once, and
//! `deliverBatch` skips tokens that are no longer pending); the provider's job is to lose
//! nothing. Every mint is tracked until its outcome (delivered, refunded, given up on) is
//! deeper than the reorg window and confirmed on chain once more; a token found pending again
//! then is queued again. The checkpoint never passes a block whose tokens are not final, and
//! token records (one per mint, see [`state`]) keep generated work across restarts, so a
//! provider killed at any moment resumes where it was without paying twice for an image.
//!
//! Failures by kind ([`crate::retry::ErrorClass`]): a transient one (generator, store or RPC
//! down) is retried with capped backoff for as long as the token is pending (with `once`, up
//! to `retry.attempts`, then the run stops and loses nothing); a rejected prompt fails its
//! token only (see [`failed_tokens`]); a configuration error stops the run at once.

pub mod state;

pub mod claims;
mod deliver;
mod earnings;
mod progress;
mod report;
mod scan;
mod tracker;
mod work;

pub use crate::retry::{RetryPolicy, Retryable};
use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain::{ChainError, Connection},
    nft::token::TokenState,
    pipeline::PipelineError,
    retry::RetryLog,
    store::Store,
};
use alloy::{
    primitives::{Address, B256, TxHash, U256},
    providers::Provider as _,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use eyre::bail;
use progress::Progress;
pub use report::{Delivery, Report, Totals};
use state::{ContractState, MintRef, StateError, TokenRecord};
use std::{
    collections::HashMap,
    future::Future,
    path::{Path, PathBuf},
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tracing::{info, warn};
use tracker::Tracker;

use crate::generate::Generator;

/// `--shard I/N`: this instance takes tokens with `id % N == I` at once and the others only
/// once they have been pending for `grace` since their mint (block time), so that several
/// providers split the work without generating the same image twice, and still cover for one
/// another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This instance's index, `0..count`.
    pub index: u64,
    /// Number of instances.
    pub count: u64,
}

impl Shard {
    /// Whether `token_id` is this instance's own.
    pub fn owns(&self, token_id: u64) -> bool {
        token_id % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || format!("invalid shard '{text}': expected I/N with 0 <= I < N, e.g. 0/2");
        let (index, count) = text.split_once('/').ok_or_else(err)?;
        let index: u64 = index.trim().parse().map_err(|_| err())?;
        let count: u64 = count.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Self { index, count })
    }
}

/// How the provider runs. [`Default`] gives the CLI's defaults.
#[derive(Debug, Clone)]
pub struct ProvideOptions {
    /// Contracts to serve.
    pub nfts: Vec<Address>,
    /// Where checkpoints and token records live.
    pub state_dir: PathBuf,
    /// Images generated at once.
    pub concurrency: usize,
    /// Most tokens per `deliverBatch`.
    pub batch_max: usize,
    /// How long a ready image waits for others to share its transaction.
    pub batch_wait: Duration,
    /// Work split between instances.
    pub shard: Option<Shard>,
    /// How long another shard's token must have been pending (since its mint's block time)
    /// before this instance takes it.
    pub shard_grace: Duration,
    /// Handle what is pending now, then exit. Nothing waits: another shard's tokens still in
    /// their grace period are left to their shard, transient failures are retried up to
    /// `retry.attempts` and then stop the run.
    pub once: bool,
    /// How often to look for new blocks.
    pub poll_interval: Duration,
    /// Most blocks per `eth_getLogs` call.
    pub chunk_blocks: u64,
    /// Blocks a mint's outcome must be buried under before it is final; also re-read behind
    /// the scanned head on every poll.
    pub reorg_blocks: u64,
    /// Where to start without a checkpoint (default: the deployment record's block, else 0).
    pub from_block: Option<u64>,
    /// Folder of deployment records (`<chain-id>.json`), for the default start block.
    pub deployments_dir: PathBuf,
    /// Backoff of generator, store and RPC retries. Its `attempts` bound them only with
    /// `once`; a running service retries transient failures until they work.
    pub retry: RetryPolicy,
    /// How long in-flight work may take to finish after SIGINT/SIGTERM; what is still running
    /// then is handed back (left unfinished for the next run).
    pub shutdown_timeout: Duration,
    /// Show a progress display on stderr when it is a terminal.
    pub progress: bool,
    /// Withdraw earnings this often while running (only when there are some); `None`: only
    /// at the end of the run.
    pub withdraw_every: Option<Duration>,
    /// Forget the failures recorded for tokens and try them again (when still pending).
    pub retry_failed: bool,
    /// Tokens another part of the process is delivering (`genim serve`): left alone while
    /// claimed.
    pub claims: Option<claims::Claims>,
}

impl Default for ProvideOptions {
    fn default() -> Self {
        Self {
            nfts: Vec::new(),
            state_dir: PathBuf::from(".genim/provider"),
            concurrency: 4,
            batch_max: 20,
            batch_wait: Duration::from_millis(200),
            shard: None,
            shard_grace: Duration::from_secs(120),
            once: false,
            poll_interval: Duration::from_secs(1),
            chunk_blocks: 2_000,
            reorg_blocks: 32,
            from_block: None,
            deployments_dir: PathBuf::from("deployments"),
            retry: RetryPolicy::default(),
            shutdown_timeout: Duration::from_secs(30),
            progress: true,
            withdraw_every: Some(Duration::from_secs(3600)),
            retry_failed: false,
            claims: None,
        }
    }
}

/// Why a run stopped: every image would fail the same way, or the chain refuses us.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvideError {
    /// A generator or store error that no retry fixes (bad key, unknown model, full disk), or
    /// a transient one that outlasted the attempts of a `once` run.
    #[error(transparent)]
    Pipeline(Arc<PipelineError>),
    /// The chain refused or stayed unreachable (with `once`).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The state folder cannot be written.
    #[error(transparent)]
    State(Arc<StateError>),
    /// The signer was removed from the contract's providers.
    #[error(
        "{signer} is no longer an authorized provider of {nft}: the owner can run \
         `genim provider add {signer} --nft {nft}`"
    )]
    NotProvider { signer: Address, nft: Address },
    /// A task of the loop panicked.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl From<PipelineError> for ProvideError {
    fn from(err: PipelineError) -> Self {
        Self::Pipeline(Arc::new(err))
    }
}

impl From<StateError> for ProvideError {
    fn from(err: StateError) -> Self {
        Self::State(Arc::new(err))
    }
}

/// The provider service.
pub struct ImageProvider {
    conn: Connection,
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
    opts: ProvideOptions,
    observer: Option<mpsc::UnboundedSender<Report>>,
}

/// A mint to handle.
#[derive(Debug, Clone)]
struct Job {
    nft: Address,
    token_id: u64,
    mint: MintRef,
    discovered_at: Instant,
}

/// A token whose image and metadata are stored, ready to deliver.
#[derive(Debug, Clone)]
struct Ready {
    job: Job,
    image_cid: String,
    metadata_cid: String,
    digest: B256,
    work: Duration,
}

/// The first error that stops the run, shared by all tasks.
#[derive(Clone, Default)]
struct Fatal(Arc<Mutex<Option<ProvideError>>>);

impl Fatal {
    fn set(&self, err: ProvideError) {
        let mut slot = self.0.lock().expect("fatal lock");
        if slot.is_none() {
            slot.replace(err);
        }
    }

    fn take(&self) -> Option<ProvideError> {
        self.0.lock().expect("fatal lock").take()
    }
}

struct Shared {
    conn: Connection,
    signer: Address,
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
    opts: ProvideOptions,
    /// Per contract: the first token id the signer may deliver (`authorizedSince`).
    since: HashMap<Address, u64>,
    tracker: Tracker,
    progress: Progress,
    fatal: Fatal,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn fail_run(&self, err: impl Into<ProvideError>) {
        let err = err.into();
        warn!(error = %err, "stopping");
        self.fatal.set(err);
        self.stop();
    }

    /// How long to keep at a transient failure: a service waits for the generator, store or
    /// RPC to come back (one log line per outage), a `once` run gives up after its attempts.
    fn patience(&self) -> RetryPolicy {
        if self.opts.once {
            self.opts.retry
        } else {
            RetryPolicy {
                attempts: RetryPolicy::UNLIMITED,
                log: RetryLog::PerOutage,
                ..self.opts.retry
            }
        }
    }

    /// The on-chain state of a token, retried while the RPC is down.
    async fn token_state(&self, nft: Address, token_id: u64) -> Result<TokenState, ChainError> {
        let contract = GenImNFT::new(nft, self.conn.provider.clone());
        self.patience()
            .run("reading the token state", token_id, || async {
                contract
                    .tokenState(U256::from(token_id))
                    .call()
                    .await
                    .map(|state| TokenState::from_u8(state.state))
                    .map_err(|err| self.conn.call_error(err))
            })
            .await
    }

    /// The last `ImageDelivered` event of a token since `from_block`: who delivered it, for
    /// what, in which transaction and block.
    async fn delivery_of(
        &self,
        nft: Address,
        token_id: u64,
        from_block: u64,
    ) -> Result<Option<OnChainDelivery>, ChainError> {
        let filter = Filter::new()
            .address(nft)
            .event_signature(GenImNFT::ImageDelivered::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(token_id)))
            .from_block(from_block);
        let logs = self
            .patience()
            .run("reading delivery events", token_id, || async {
                self.conn
                    .provider
                    .get_logs(&filter)
                    .await
                    .map_err(|err| self.conn.rpc_error(err))
            })
            .await?;
        Ok(logs.iter().rev().find_map(|log| {
            let event = GenImNFT::ImageDelivered::decode_log(&log.inner).ok()?;
            Some(OnChainDelivery {
                provider: event.provider,
                payout: event.payout,
                digest: event.metadataDigest,
                tx: log.transaction_hash?,
                block: log.block_number?,
            })
        }))
    }
}

/// A delivery found in the logs.
#[derive(Debug, Clone, Copy)]
struct OnChainDelivery {
    provider: Address,
    payout: U256,
    digest: B256,
    tx: TxHash,
    block: u64,
}

/// Waits for `fut` unless the run stops first.
async fn unless_stopped<T>(
    stop: &mut watch::Receiver<bool>,
    fut: impl Future<Output = T>,
) -> Option<T> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        out = fut => Some(out),
        _ = stop.wait_for(|stopped| *stopped) => None,
    }
}

impl ImageProvider {
    /// A provider delivering from `conn`'s signer, with `generator` and `store`.
    pub fn new(
        conn: Connection,
        generator: Arc<dyn Generator>,
        store: Arc<dyn Store>,
        opts: ProvideOptions,
    ) -> Self {
        Self {
            conn,
            generator,
            store,
            opts,
            observer: None,
        }
    }

    /// Also sends every [`Report`] to `observer`.
    pub fn observe(mut self, observer: mpsc::UnboundedSender<Report>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs until `shutdown` completes (or, with `once`, until everything pending now is
    /// handled). Checks first that the signer is an authorized provider of every contract.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> eyre::Result<Totals> {
        let signer = self.conn.signer()?;
        if self.opts.nfts.is_empty() {
            bail!("no contract to serve: pass --nft ADDR (or deploy one, which records it)");
        }
        // A delivery is followed until it is mined or can never be: sending it again because
        // its receipt is late would pay gas twice and report a skip for our own delivery.
        let conn = self.conn.clone().with_tx_timeout(None);
        let mut starts = Vec::new();
        let mut since = HashMap::new();
        for &nft in &self.opts.nfts {
            crate::nft::Nft::open(&conn, nft).await?;
            let contract = GenImNFT::new(nft, conn.provider.clone());
            let first = contract
                .authorizedSince(signer)
                .call()
                .await
                .map_err(|err| conn.call_error(err))?;
            if first.is_zero() {
                bail!(
                    "{signer} is not an authorized provider of {nft}: the owner can run \
                     `genim provider add {signer} --nft {nft}`"
                );
            }
            since.insert(nft, u64::try_from(first).unwrap_or(u64::MAX));
            let state = ContractState::open(&self.opts.state_dir, conn.chain_id, nft)?;
            let mut start = match state.checkpoint()? {
                Some(block) => block,
                None => self.default_start(nft),
            };
            if self.opts.retry_failed {
                start = start.min(self.forget_failures(&state, nft)?);
            }
            info!(%nft, from_block = start, state = %state.dir().display(), "serving");
            starts.push((nft, state, start));
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            conn,
            signer,
            generator: self.generator.clone(),
            store: self.store.clone(),
            tracker: Tracker::new(
                starts
                    .iter()
                    .map(|(nft, st, start)| (*nft, st.clone(), *start)),
                self.opts.reorg_blocks,
            ),
            since,
            progress: Progress::new(self.opts.progress, self.observer.clone()),
            opts: self.opts.clone(),
            fatal: Fatal::default(),
            stop: stop_tx,
        });

        let (job_tx, job_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for (nft, _, start) in starts {
            tasks.spawn(scan::scan(
                shared.clone(),
                nft,
                start,
                job_tx.clone(),
                stop_rx.clone(),
            ));
        }
        drop(job_tx);
        tasks.spawn(work::dispatch(
            shared.clone(),
            job_rx,
            ready_tx,
            stop_rx.clone(),
        ));
        tasks.spawn(deliver::batch(shared.clone(), ready_rx));
        let withdrawn = Arc::new(Mutex::new(U256::ZERO));
        if let (Some(every), false) = (self.opts.withdraw_every, self.opts.once) {
            tasks.spawn(earnings::withdraw_periodically(
                shared.clone(),
                every,
                withdrawn.clone(),
                stop_rx.clone(),
            ));
        }

        let signal = {
            let shared = shared.clone();
            async move {
                shutdown.await;
                info!("shutting down: finishing in-flight work");
                shared.stop();
            }
        };
        tokio::pin!(signal);
        let mut stop_rx = stop_rx;
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut signalled = false;
        loop {
            let grace_over = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut signal, if !signalled => signalled = true,
                _ = stop_rx.changed(), if deadline.is_none() => {}
                _ = grace_over => {
                    // Bounded shutdown: what is still generating or waiting for a receipt is
                    // handed back (its tokens stay unfinished, so the checkpoint keeps them).
                    warn!(
                        seconds = self.opts.shutdown_timeout.as_secs(),
                        "in-flight work did not finish within the shutdown timeout; handing it back"
                    );
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    break;
                }
                joined = tasks.join_next() => match joined {
                    Some(Ok(())) => {}
                    Some(Err(err)) if err.is_cancelled() => {}
                    Some(Err(err)) => shared.fail_run(ProvideError::Task(err.to_string())),
                    None => break,
                },
            }
            if deadline.is_none() && *stop_rx.borrow() {
                deadline = Some(tokio::time::Instant::now() + self.opts.shutdown_timeout);
            }
        }
        shared.tracker.save_all(true);
        let mut totals = shared.progress.finish();
        if let Some(err) = shared.fatal.take() {
            return Err(err.into());
        }
        let end = match deadline {
            // After a signal, withdrawing must fit in what is left of the shutdown timeout.
            Some(at) => at.saturating_duration_since(tokio::time::Instant::now()),
            None => self.opts.shutdown_timeout.max(Duration::from_secs(120)),
        };
        let last = tokio::time::timeout(end, earnings::withdraw_all(&shared)).await;
        if last.is_err() {
            warn!("earnings not withdrawn before the shutdown timeout; run `genim withdraw`");
        }
        totals.withdrawn = *withdrawn.lock().expect("withdrawn lock") + last.unwrap_or_default();
        Ok(totals)
    }

    /// `--retry-failed`: forgets the failures recorded for `nft`'s tokens, so they are
    /// generated again when the scan reaches their mint; returns the earliest such mint block.
    fn forget_failures(&self, state: &ContractState, nft: Address) -> Result<u64, StateError> {
        let mut earliest = u64::MAX;
        for record in state.failed_tokens()? {
            let block = match &record.mint {
                Some(mint) => mint.block,
                None => self.default_start(nft),
            };
            earliest = earliest.min(block);
            info!(%nft, token_id = record.token_id, "retrying a token that failed before");
            state.remove_token(record.token_id)?;
        }
        Ok(earliest)
    }

    fn default_start(&self, nft: Address) -> u64 {
        if let Some(block) = self.opts.from_block {
            return block;
        }
        let record = crate::nft::deployment::Deployment::load(
            &self.opts.deployments_dir,
            self.conn.chain_id,
        );
        match record {
            Ok(Some(record)) if record.nft == nft => record.block,
            _ => {
                warn!(%nft, "no checkpoint, no --from-block and no deployment record: scanning from block 0");
                0
            }
        }
    }
}

/// The tokens given up on in `state_dir` for `nft` on `chain_id`, with their errors (for
/// `genim provide --failed`).
pub fn failed_tokens(
    state_dir: &Path,
    chain_id: u64,
    nft: Address,
) -> Result<Vec<TokenRecord>, StateError> {
    ContractState::open(state_dir, chain_id, nft)?.failed_tokens()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_parses_and_owns() {
        let shard: Shard = "1/3".parse().unwrap();
        assert_eq!(shard, Shard { index: 1, count: 3 });
        assert!(shard.owns(4) && !shard.owns(3));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
