//! The image-provider loop: watch `ImageRequested` events, generate each image, store image and
//! metadata, deliver on-chain (batched when several are ready) and get paid.
//!
//! ```text
//!  scanner (per contract) ──jobs──> workers (N at once) ──ready──> batcher ──> deliver / deliverBatch
//!     │  chunked get_logs from the checkpoint,      │ state check, generate,      │ one tx per batch,
//!     │  re-reading a reorg window                  │ store image + metadata,     │ payouts from the receipt
//!     └──────────────── tracker: checkpoint = first block with unfinished work ────┘
//! ```
//!
//! Exactly-once delivery rests on the contract (a token is delivered at most once, and
//! `deliverBatch` skips tokens that are no longer pending); the provider's job is to lose
//! nothing. The checkpoint only moves past a block once every token minted in it is delivered,
//! skipped (no longer pending) or given up on, and token records keep generated work across
//! restarts, so a provider killed at any moment resumes where it was without paying twice for an
//! image.

pub mod state;

mod progress;

pub use crate::retry::{RetryPolicy, Retryable};
use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain::{ChainError, Connection, call_tx},
    generate::{Generator, ImageRequest},
    pipeline::{self, Pipeline, PipelineError, TokenRef},
    store::Store,
};
use alloy::{
    primitives::{Address, B256, TxHash, U256},
    providers::Provider as _,
    rpc::types::{Filter, TransactionReceipt},
    sol_types::{SolCall, SolEvent},
};
use eyre::bail;
use progress::Progress;
use state::{ContractState, TokenPhase, TokenRecord};
use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    path::PathBuf,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    sync::{Semaphore, mpsc, watch},
    task::JoinSet,
};
use tracing::{debug, info, warn};

/// `--shard I/N`: this instance takes tokens with `id % N == I` at once and the others only
/// after `grace`, if still pending, so that several providers split the work without
/// generating the same image twice, and still cover for one another.
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
    /// How long another shard's token must stay pending before this instance takes it.
    pub shard_grace: Duration,
    /// Handle what is pending now, then exit.
    pub once: bool,
    /// How often to look for new blocks.
    pub poll_interval: Duration,
    /// Most blocks per `eth_getLogs` call.
    pub chunk_blocks: u64,
    /// Blocks behind the scanned head read again on every poll, for reorgs.
    pub reorg_blocks: u64,
    /// Where to start without a checkpoint (default: the deployment record's block, else 0).
    pub from_block: Option<u64>,
    /// Folder of deployment records (`<chain-id>.json`), for the default start block.
    pub deployments_dir: PathBuf,
    /// Retries of generator, store and RPC calls.
    pub retry: RetryPolicy,
    /// How long in-flight work may take to finish after SIGINT/SIGTERM.
    pub shutdown_timeout: Duration,
    /// Show a progress display on stderr when it is a terminal.
    pub progress: bool,
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
        }
    }
}

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
    /// Gas spent on delivery transactions in this run.
    pub gas_used: u64,
    /// Earnings withdrawn from the contracts at the end of the run.
    #[serde(with = "crate::amount::decimal")]
    pub withdrawn: U256,
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
    prompt: String,
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

/// Why a run must stop (bad key, full disk...), shared by all tasks.
#[derive(Clone, Default)]
struct Fatal(Arc<Mutex<Option<String>>>);

impl Fatal {
    fn set(&self, message: String) {
        let mut slot = self.0.lock().expect("fatal lock");
        if slot.is_none() {
            slot.replace(message);
        }
    }

    fn take(&self) -> Option<String> {
        self.0.lock().expect("fatal lock").take()
    }
}

struct Shared {
    conn: Connection,
    signer: Address,
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
    opts: ProvideOptions,
    tracker: Tracker,
    progress: Progress,
    fatal: Fatal,
    stop: watch::Sender<bool>,
}

impl Shared {
    fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn fail_run(&self, message: String) {
        warn!(error = %message, "stopping");
        self.fatal.set(message);
        self.stop();
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
        let mut states = HashMap::new();
        for &nft in &self.opts.nfts {
            crate::nft::Nft::open(&self.conn, nft).await?;
            let authorized = GenImNFT::new(nft, self.conn.provider.clone())
                .isProvider(signer)
                .call()
                .await
                .map_err(|err| self.conn.call_error(err))?;
            if !authorized {
                bail!(
                    "{signer} is not an authorized provider of {nft}: the owner can run \
                     `genim provider add {signer} --nft {nft}`"
                );
            }
            let state = ContractState::open(&self.opts.state_dir, self.conn.chain_id, nft)?;
            let start = match state.checkpoint()? {
                Some(block) => block,
                None => self.default_start(nft),
            };
            info!(%nft, from_block = start, state = %state.dir().display(), "serving");
            states.insert(nft, (state, start));
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            conn: self.conn.clone(),
            signer,
            generator: self.generator.clone(),
            store: self.store.clone(),
            tracker: Tracker::new(
                states
                    .iter()
                    .map(|(nft, (st, start))| (*nft, st.clone(), *start)),
            ),
            progress: Progress::new(self.opts.progress, self.observer.clone()),
            opts: self.opts.clone(),
            fatal: Fatal::default(),
            stop: stop_tx,
        });

        let (job_tx, job_rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        for (nft, (_, start)) in states {
            tasks.spawn(scan(
                shared.clone(),
                nft,
                start,
                job_tx.clone(),
                stop_rx.clone(),
            ));
        }
        drop(job_tx);
        tasks.spawn(dispatch(shared.clone(), job_rx, ready_tx, stop_rx.clone()));
        tasks.spawn(batch(shared.clone(), ready_rx));

        let signal = {
            let shared = shared.clone();
            async move {
                shutdown.await;
                info!("shutting down: finishing in-flight work");
                shared.stop();
            }
        };
        tokio::pin!(signal);
        let mut signalled = false;
        loop {
            tokio::select! {
                _ = &mut signal, if !signalled => signalled = true,
                joined = tasks.join_next() => match joined {
                    Some(Ok(())) => {}
                    Some(Err(err)) => shared.fail_run(format!("internal task failed: {err}")),
                    None => break,
                },
            }
        }
        shared.tracker.save_all(true);
        let mut totals = shared.progress.finish();
        if let Some(message) = shared.fatal.take() {
            bail!(message);
        }
        totals.withdrawn = self.withdraw_earnings().await;
        Ok(totals)
    }

    /// Deliveries credit earnings in the contract; take them home when the run ends. A failure
    /// only costs a later `genim withdraw`, so it is logged, not fatal.
    async fn withdraw_earnings(&self) -> U256 {
        let mut total = U256::ZERO;
        for &address in &self.opts.nfts {
            let outcome = async {
                let nft = crate::nft::Nft::open(&self.conn, address).await?;
                crate::nft::manage::withdraw(&self.conn, &nft).await
            };
            match outcome.await {
                Ok(withdrawn) => {
                    if withdrawn.tx.is_some() {
                        info!(nft = %address, amount = %withdrawn.amount, "withdrew earnings");
                    }
                    total += withdrawn.amount;
                }
                Err(err) => {
                    warn!(nft = %address, error = %err, "earnings not withdrawn; run `genim withdraw`")
                }
            }
        }
        total
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

/// Per contract: which blocks still have unfinished tokens, to derive the checkpoint.
struct Tracker {
    inner: Mutex<HashMap<Address, Track>>,
}

struct Track {
    state: ContractState,
    /// block -> tokens minted in it and not finished
    unfinished: BTreeMap<u64, u32>,
    /// token -> block of its mint, for every token seen in this run
    known: HashMap<u64, u64>,
    finished: std::collections::HashSet<u64>,
    /// everything below this block has been read
    scanned_to: u64,
    saved: u64,
    saved_at: Instant,
}

impl Track {
    fn checkpoint(&self) -> u64 {
        self.unfinished
            .keys()
            .next()
            .copied()
            .unwrap_or(self.scanned_to)
            .min(self.scanned_to)
    }
}

impl Tracker {
    fn new(items: impl Iterator<Item = (Address, ContractState, u64)>) -> Self {
        let map = items
            .map(|(nft, state, start)| {
                let track = Track {
                    state,
                    unfinished: BTreeMap::new(),
                    known: HashMap::new(),
                    finished: Default::default(),
                    scanned_to: start,
                    saved: start,
                    saved_at: Instant::now(),
                };
                (nft, track)
            })
            .collect();
        Self {
            inner: Mutex::new(map),
        }
    }

    /// Registers a mint; `false` when the token was already seen in this run.
    fn discover(&self, nft: Address, token_id: u64, block: u64) -> bool {
        let mut map = self.inner.lock().expect("tracker lock");
        let track = map.get_mut(&nft).expect("tracked contract");
        if track.known.contains_key(&token_id) {
            return false;
        }
        track.known.insert(token_id, block);
        *track.unfinished.entry(block).or_default() += 1;
        true
    }

    /// Everything below `next_block` has been read.
    fn scanned(&self, nft: Address, next_block: u64) {
        let mut map = self.inner.lock().expect("tracker lock");
        let track = map.get_mut(&nft).expect("tracked contract");
        track.scanned_to = track.scanned_to.max(next_block);
        drop(map);
        self.save(nft, false);
    }

    /// A token is delivered, skipped or given up on.
    fn finish(&self, nft: Address, token_id: u64) {
        let mut map = self.inner.lock().expect("tracker lock");
        let track = map.get_mut(&nft).expect("tracked contract");
        if !track.finished.insert(token_id) {
            return;
        }
        if let Some(block) = track.known.get(&token_id).copied()
            && let Some(count) = track.unfinished.get_mut(&block)
        {
            *count -= 1;
            if *count == 0 {
                track.unfinished.remove(&block);
            }
        }
        drop(map);
        self.save(nft, false);
    }

    /// Saves the checkpoint when it moved, at most every 250 ms unless `force`.
    fn save(&self, nft: Address, force: bool) {
        let mut map = self.inner.lock().expect("tracker lock");
        let track = map.get_mut(&nft).expect("tracked contract");
        let checkpoint = track.checkpoint();
        if checkpoint == track.saved
            || (!force && track.saved_at.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        match track.state.save_checkpoint(checkpoint) {
            Ok(()) => {
                debug!(%nft, next_block = checkpoint, "checkpoint saved");
                track.saved = checkpoint;
                track.saved_at = Instant::now();
            }
            Err(err) => warn!(%err, "cannot save the checkpoint; will retry"),
        }
    }

    fn save_all(&self, force: bool) {
        let nfts: Vec<Address> = self
            .inner
            .lock()
            .expect("tracker lock")
            .keys()
            .copied()
            .collect();
        for nft in nfts {
            self.save(nft, force);
        }
    }

    fn state(&self, nft: Address) -> ContractState {
        self.inner.lock().expect("tracker lock")[&nft].state.clone()
    }

    fn is_finished(&self, nft: Address, token_id: u64) -> bool {
        self.inner.lock().expect("tracker lock")[&nft]
            .finished
            .contains(&token_id)
    }
}

/// Reads `ImageRequested` events of `nft` from `start`, chunked, re-reading a reorg window on
/// every poll, and queues each new mint.
async fn scan(
    shared: Arc<Shared>,
    nft: Address,
    start: u64,
    jobs: mpsc::UnboundedSender<Job>,
    mut stop: watch::Receiver<bool>,
) {
    let opts = &shared.opts;
    let provider = &shared.conn.provider;
    let mut next = start; // first block not read yet
    loop {
        if *stop.borrow() {
            return;
        }
        let head = match opts
            .retry
            .run("reading the block number", 0, || async {
                provider
                    .get_block_number()
                    .await
                    .map_err(|err| shared.conn.rpc_error(err))
            })
            .await
        {
            Ok(head) => head,
            Err(err) => return shared.fail_run(format!("cannot follow the chain: {err}")),
        };
        if head + 1 >= next {
            // Also behind the checkpoint after a restart: a reorg may have happened meanwhile.
            let from = next.saturating_sub(opts.reorg_blocks);
            let mut chunk_start = from;
            while chunk_start <= head {
                let chunk_end = (chunk_start + opts.chunk_blocks - 1).min(head);
                let filter = Filter::new()
                    .address(nft)
                    .event_signature(GenImNFT::ImageRequested::SIGNATURE_HASH)
                    .from_block(chunk_start)
                    .to_block(chunk_end);
                let logs = match opts
                    .retry
                    .run("reading mint events", chunk_start, || async {
                        provider
                            .get_logs(&filter)
                            .await
                            .map_err(|err| shared.conn.rpc_error(err))
                    })
                    .await
                {
                    Ok(logs) => logs,
                    Err(err) => return shared.fail_run(format!("cannot read mint events: {err}")),
                };
                for log in logs {
                    let (Some(block), Ok(event)) = (
                        log.block_number,
                        GenImNFT::ImageRequested::decode_log(&log.inner),
                    ) else {
                        continue;
                    };
                    let Ok(token_id) = u64::try_from(event.tokenId) else {
                        continue;
                    };
                    if shared.tracker.discover(nft, token_id, block) {
                        shared.progress.report(Report::Queued { nft, token_id });
                        let job = Job {
                            nft,
                            token_id,
                            prompt: event.data.prompt.clone(),
                            discovered_at: Instant::now(),
                        };
                        if jobs.send(job).is_err() {
                            return;
                        }
                    }
                }
                chunk_start = chunk_end + 1;
                shared.tracker.scanned(nft, chunk_start);
            }
            next = head + 1;
        }
        if opts.once {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Runs jobs with at most `concurrency` generating at once; another shard's tokens wait out
/// the grace period first. On stop, queued jobs are handed back (left unfinished, so the
/// checkpoint keeps them) and in-flight ones get `shutdown_timeout` to finish.
async fn dispatch(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    ready: mpsc::UnboundedSender<Ready>,
    mut stop: watch::Receiver<bool>,
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
            _ = stop.changed() => break,
        }
    }
    let drain = async { while workers.join_next().await.is_some() {} };
    if *stop.borrow() {
        if tokio::time::timeout(shared.opts.shutdown_timeout, drain)
            .await
            .is_err()
        {
            warn!(
                unfinished = workers.len(),
                "in-flight work did not finish in time; handing it back"
            );
            workers.abort_all();
        }
    } else {
        drain.await;
    }
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
        debug!(%nft, token_id, "another shard's token: waiting out the grace period");
        tokio::select! {
            _ = tokio::time::sleep(shared.opts.shard_grace) => {}
            _ = stop.changed() => return,
        }
    }
    let Ok(_permit) = permits.acquire().await else {
        return;
    };
    if *stop.borrow() {
        return; // handed back: stays unfinished for the next run
    }
    match prepare(&shared, &job).await {
        Ok(Some(item)) => {
            let _ = ready.send(item);
        }
        Ok(None) => shared.tracker.finish(nft, token_id),
        Err(JobError::Failed(error)) => {
            warn!(%nft, token_id, %error, "giving up on this token; its owner can refund it");
            let record = TokenRecord {
                token_id,
                phase: TokenPhase::Failed,
                image_cid: None,
                metadata_cid: None,
                digest: None,
                tx: None,
                error: Some(error.clone()),
            };
            if let Err(err) = shared.tracker.state(nft).save_token(&record) {
                return shared.fail_run(err.to_string());
            }
            shared.progress.report(Report::Failed {
                nft,
                token_id,
                error,
            });
            shared.tracker.finish(nft, token_id);
        }
        Err(JobError::Fatal(message)) => shared.fail_run(message),
    }
}

enum JobError {
    /// This token cannot be done; the others can.
    Failed(String),
    /// Nothing can be done (full disk, lost RPC): stop the run.
    Fatal(String),
}

/// Checks the token, generates and stores what is missing, and returns it ready to deliver;
/// `None` when the token is no longer pending.
async fn prepare(shared: &Shared, job: &Job) -> Result<Option<Ready>, JobError> {
    let (nft, token_id) = (job.nft, job.token_id);
    if let Some(reason) = not_pending(shared, nft, token_id).await? {
        shared.progress.report(Report::Skipped {
            nft,
            token_id,
            reason,
        });
        return Ok(None);
    }
    let state = shared.tracker.state(nft);
    let record = state
        .token(token_id)
        .map_err(|err| JobError::Fatal(err.to_string()))?;
    if let Some(record) = &record
        && record.phase == TokenPhase::Failed
    {
        let error = record
            .error
            .clone()
            .unwrap_or_else(|| "failed in an earlier run".into());
        return Err(JobError::Failed(error));
    }
    let stored = record.and_then(|r| Some((r.image_cid?, r.metadata_cid?, r.digest?)));
    let (image_cid, metadata_cid, digest, work) = match stored {
        Some((image, metadata, digest)) => {
            let digest = B256::from_str(&digest).map_err(|_| {
                JobError::Fatal(format!("corrupt digest in the record of token {token_id}"))
            })?;
            debug!(%nft, token_id, "reusing the stored image and metadata");
            (image, metadata, digest, Duration::ZERO)
        }
        None => {
            let started = Instant::now();
            let (image, metadata, digest) = generate_and_store(shared, job, &state).await?;
            (image, metadata, digest, started.elapsed())
        }
    };
    if let Some(reason) = not_pending(shared, nft, token_id).await? {
        shared.progress.report(Report::Skipped {
            nft,
            token_id,
            reason,
        });
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

async fn generate_and_store(
    shared: &Shared,
    job: &Job,
    state: &ContractState,
) -> Result<(String, String, B256), JobError> {
    let (nft, token_id) = (job.nft, job.token_id);
    shared.progress.report(Report::Generating { nft, token_id });
    let work = pipeline::Job {
        request: ImageRequest::new(job.prompt.clone()),
        token: Some(TokenRef {
            chain_id: shared.conn.chain_id,
            contract: nft,
            token_id,
        }),
    };
    let output = Pipeline::new(shared.generator.clone(), shared.store.clone())
        .run(&work, &shared.opts.retry)
        .await
        .map_err(|err| match err {
            // This token cannot be done; the others can.
            PipelineError::Generate(_) | PipelineError::Metadata(_) => {
                JobError::Failed(err.to_string())
            }
            // A store that fails after retries, or names things differently than the contract
            // will, fails every token: stop the run.
            _ => JobError::Fatal(err.to_string()),
        })?;
    let (Some(metadata_cid), Some(digest)) = (output.metadata_cid, output.metadata_digest) else {
        unreachable!("a token's image always gets metadata");
    };
    let image_cid = output.image_cid;
    let record = TokenRecord {
        token_id,
        phase: TokenPhase::Stored,
        image_cid: Some(image_cid.clone()),
        metadata_cid: Some(metadata_cid.clone()),
        digest: Some(digest.to_string()),
        tx: None,
        error: None,
    };
    state
        .save_token(&record)
        .map_err(|err| JobError::Fatal(err.to_string()))?;
    info!(%nft, token_id, image = %image_cid, metadata = %metadata_cid, "stored");
    Ok((image_cid, metadata_cid, digest))
}

/// `Some(reason)` when the token is no longer pending on-chain.
async fn not_pending(
    shared: &Shared,
    nft: Address,
    token_id: u64,
) -> Result<Option<String>, JobError> {
    let contract = GenImNFT::new(nft, shared.conn.provider.clone());
    let state = shared
        .opts
        .retry
        .run("reading the token state", token_id, || async {
            contract
                .tokenState(U256::from(token_id))
                .call()
                .await
                .map_err(|err| shared.conn.call_error(err))
        })
        .await
        .map_err(|err| JobError::Fatal(format!("cannot read token {token_id}: {err}")))?;
    Ok(match state.state {
        1 => None,
        0 => Some("not minted (reorged away?)".into()),
        2 => Some("already delivered".into()),
        3 => Some("refunded".into()),
        other => Some(format!("unknown state {other}")),
    })
}

/// Delivery transactions in flight at once. Waiting for each receipt before sending the next
/// would put a whole block (or receipt poll) between deliveries; the nonce manager gives
/// concurrent sends distinct nonces.
const MAX_IN_FLIGHT: usize = 8;

/// Collects ready tokens for up to `batch_wait` (or `batch_max` of them) and delivers them:
/// `deliver` for one, `deliverBatch` for several, with up to [`MAX_IN_FLIGHT`] transactions
/// pending at once.
async fn batch(shared: Arc<Shared>, mut ready: mpsc::UnboundedReceiver<Ready>) {
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
                if let Err(message) = deliver(&shared, nft, items).await {
                    shared.fail_run(message);
                }
            });
        }
    }
    while in_flight.join_next().await.is_some() {}
}

async fn deliver(shared: &Shared, nft: Address, items: Vec<Ready>) -> Result<(), String> {
    let items: Vec<Ready> = items
        .into_iter()
        .filter(|item| !shared.tracker.is_finished(nft, item.job.token_id))
        .collect();
    if items.is_empty() {
        return Ok(());
    }
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
    let sent_at = Instant::now();
    let tx = call_tx(nft, input.into(), U256::ZERO);
    let first_id = items[0].job.token_id;
    let receipt = shared
        .opts
        .retry
        .run("sending the delivery", first_id, || {
            shared.conn.send(tx.clone())
        })
        .await;
    let receipt = match receipt {
        Ok(receipt) => receipt,
        Err(ChainError::Reverted(why)) if items.len() == 1 && why.contains("not pending") => {
            // Someone else delivered it, or its owner refunded it, since we checked.
            let item = &items[0];
            shared.progress.report(Report::Skipped {
                nft,
                token_id: item.job.token_id,
                reason: why,
            });
            shared.tracker.finish(nft, item.job.token_id);
            return Ok(());
        }
        // Not authorized any more, out of gas money, or the RPC is gone after all retries.
        Err(err) => return Err(format!("cannot deliver to {nft}: {err}")),
    };
    settle(shared, nft, items, &receipt, sent_at);
    Ok(())
}

/// Reads payouts and skips from the receipt and records the outcome of each token.
fn settle(
    shared: &Shared,
    nft: Address,
    items: Vec<Ready>,
    receipt: &TransactionReceipt,
    sent_at: Instant,
) {
    let mut delivered: HashMap<u64, U256> = HashMap::new();
    for log in receipt
        .inner
        .logs()
        .iter()
        .filter(|log| log.address() == nft)
    {
        if let Ok(event) = GenImNFT::ImageDelivered::decode_log(&log.inner)
            && event.provider == shared.signer
            && let Ok(id) = u64::try_from(event.tokenId)
        {
            delivered.insert(id, event.payout);
        }
    }
    let count = delivered.len().max(1) as u64;
    let gas_each = receipt.gas_used / count;
    let state = shared.tracker.state(nft);
    for item in items {
        let token_id = item.job.token_id;
        match delivered.get(&token_id) {
            Some(&payout) => {
                let record = TokenRecord {
                    token_id,
                    phase: TokenPhase::Delivered,
                    image_cid: Some(item.image_cid.clone()),
                    metadata_cid: Some(item.metadata_cid.clone()),
                    digest: Some(item.digest.to_string()),
                    tx: Some(receipt.transaction_hash.to_string()),
                    error: None,
                };
                if let Err(err) = state.save_token(&record) {
                    // The delivery is on-chain; the record only saves work, so go on.
                    warn!(%err, token_id, "delivered, but its record could not be saved");
                }
                info!(%nft, token_id, cid = %item.metadata_cid, %payout, tx = %receipt.transaction_hash, "delivered");
                shared.progress.report(Report::Delivered(Box::new(Delivery {
                    nft,
                    token_id,
                    prompt: item.job.prompt,
                    image_cid: item.image_cid,
                    metadata_cid: item.metadata_cid,
                    digest: item.digest,
                    payout,
                    gas_used: gas_each,
                    tx: receipt.transaction_hash,
                    batch_size: count as usize,
                    discovered_at: item.job.discovered_at,
                    sent_at,
                    work: item.work,
                })));
                shared.progress.add_gas(gas_each);
            }
            None => shared.progress.report(Report::Skipped {
                nft,
                token_id,
                reason: "no longer pending when the batch was mined".into(),
            }),
        }
        shared.tracker.finish(nft, token_id);
    }
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
