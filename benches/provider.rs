//! Provider benchmark: the local generator on a local anvil, 200 mints, one-by-one delivery
//! (the baseline, `--batch-max 1`) against batched delivery.
//!
//! - throughput: 200 tokens already pending when the provider starts; deliveries per second
//!   from start to the last delivery's receipt.
//! - latency: the provider runs while 200 mints arrive at 10 per second (a load it sustains,
//!   so this measures its overhead, not a queue); event-to-transaction latency is the
//!   time from a mint's block (anvil mines as the transaction is accepted) to the delivering
//!   transaction being sent; overhead is that latency minus generation and storage time.
//!
//! Run: `cargo bench --bench provider` (after `npm ci`). Prints a markdown table.

use alloy::{
    network::TransactionBuilder,
    node_bindings::Anvil,
    primitives::{Address, utils::parse_ether},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use genim::{
    bindings::gen_im_nft::GenImNFT,
    chain::{self, ConnectOptions, Connection},
    generate::{LocalGenerator, Size},
    nft::deploy::{self, DeployParams},
    provide::{ImageProvider, ProvideOptions, Report},
    store::StoreSpec,
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

const TOKENS: usize = 200;
const MINTERS: usize = 10;
const POLL: Duration = Duration::from_millis(10);
/// Latency phase: each minter mints once per PACE, 10 mints/s in all: a load the provider
/// sustains, so the figures show its overhead rather than a growing queue.
const PACE: Duration = Duration::from_secs(1);

struct Mode {
    name: &'static str,
    batch_max: usize,
    batch_wait: Duration,
}

#[derive(Default)]
struct Figures {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    overhead_p50: Duration,
    overhead_p99: Duration,
    gas_per_image: u64,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let anvil_path = genim::devnet::find_anvil(None)?;
    let anvil = Anvil::new()
        .path(anvil_path)
        .arg("--accounts")
        .arg("14")
        .try_spawn()?;
    let url: reqwest::Url = anvil.endpoint().parse()?;
    let keys: Vec<PrivateKeySigner> = anvil
        .keys()
        .iter()
        .map(|k| PrivateKeySigner::from_signing_key(k.clone().into()))
        .collect();
    let open = |i: usize| {
        Connection::open(
            url.clone(),
            Some(keys[i].clone()),
            ConnectOptions {
                tx_timeout: Some(Duration::from_secs(60)),
            },
        )
    };
    let owner = open(0).await?;
    let mut minters = Vec::new();
    for i in 0..MINTERS {
        minters.push(open(2 + i).await?);
    }

    let modes = [
        Mode {
            name: "one-by-one (baseline)",
            batch_max: 1,
            batch_wait: Duration::ZERO,
        },
        Mode {
            name: "batched (max 50, wait 20 ms)",
            batch_max: 50,
            batch_wait: Duration::from_millis(20),
        },
    ];
    let mut rows = Vec::new();
    for mode in &modes {
        let mut figures = Figures::default();
        // Throughput: a backlog of TOKENS pending mints.
        let nft = deploy(&owner, keys[1].address()).await?;
        mint_all(&minters, nft, None, None).await?;
        let provider = open(1).await?;
        let started = Instant::now();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let totals = ImageProvider::new(provider, generator(), store()?, options(nft, mode, true))
            .observe(tx)
            .run(std::future::pending())
            .await?;
        eyre::ensure!(
            totals.delivered as usize == TOKENS,
            "delivered {} of {TOKENS}",
            totals.delivered
        );
        figures.per_second = TOKENS as f64 / started.elapsed().as_secs_f64();
        figures.gas_per_image = totals.gas_used / totals.delivered;
        while rx.try_recv().is_ok() {}

        // Latency: mints arrive while the provider runs.
        let nft = deploy(&owner, keys[1].address()).await?;
        let provider = open(1).await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(
            ImageProvider::new(provider, generator(), store()?, options(nft, mode, false))
                .observe(tx)
                .run(async {
                    let _ = stop_rx.await;
                }),
        );
        let mined_at = Arc::new(Mutex::new(HashMap::new()));
        mint_all(&minters, nft, Some(mined_at.clone()), Some(PACE)).await?;
        let mut latencies = Vec::new();
        let mut overheads = Vec::new();
        while latencies.len() < TOKENS {
            match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await? {
                Some(Report::Delivered(d)) => {
                    let mined = mined_at.lock().unwrap()[&d.token_id];
                    let latency = d.sent_at.saturating_duration_since(mined);
                    latencies.push(latency);
                    overheads.push(latency.saturating_sub(d.work));
                }
                Some(Report::Failed {
                    token_id, error, ..
                }) => eyre::bail!("token {token_id}: {error}"),
                Some(_) => {}
                None => eyre::bail!("provider stopped"),
            }
        }
        let _ = stop_tx.send(());
        run.await??;
        (figures.p50, figures.p99) = percentiles(&mut latencies);
        (figures.overhead_p50, figures.overhead_p99) = percentiles(&mut overheads);
        rows.push((mode.name, figures));
    }

    let base = rows[0].1.per_second;
    println!(
        "| mode ({TOKENS} mints, local generator 512x512, anvil, poll {} ms) | deliveries/s | vs baseline | latency p50 | latency p99 | overhead p50 | overhead p99 | gas/image |",
        POLL.as_millis()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.1} | {:.2}x | {} ms | {} ms | {} ms | {} ms | {} |",
            f.per_second,
            f.per_second / base,
            f.p50.as_millis(),
            f.p99.as_millis(),
            f.overhead_p50.as_millis(),
            f.overhead_p99.as_millis(),
            f.gas_per_image
        );
    }
    let batched = &rows[1].1;
    let mut failed = false;
    if batched.per_second < 50.0 {
        eprintln!(
            "target missed: {:.1} deliveries/s batched < 50",
            batched.per_second
        );
        failed = true;
    }
    if rows
        .iter()
        .any(|(_, f)| f.overhead_p50 >= Duration::from_millis(50))
    {
        eprintln!("target missed: p50 overhead >= 50 ms");
        failed = true;
    }
    // An error return (exit code 1) still drops `anvil`, which stops it; process::exit would not.
    eyre::ensure!(!failed, "the benchmark missed a target");
    Ok(())
}

fn generator() -> Arc<dyn genim::generate::Generator> {
    Arc::new(LocalGenerator::new(Size::DEFAULT_LOCAL).expect("local generator"))
}

fn store() -> eyre::Result<Arc<dyn genim::store::Store>> {
    let dir = tempfile::tempdir()?.keep();
    Ok(StoreSpec::Dir(dir).open()?)
}

fn options(nft: Address, mode: &Mode, once: bool) -> ProvideOptions {
    ProvideOptions {
        nfts: vec![nft],
        state_dir: tempfile::tempdir().expect("temp dir").keep(),
        concurrency: 4,
        batch_max: mode.batch_max,
        batch_wait: mode.batch_wait,
        once,
        from_block: Some(0),
        poll_interval: POLL,
        progress: false,
        ..ProvideOptions::default()
    }
}

async fn deploy(owner: &Connection, provider: Address) -> eyre::Result<Address> {
    let params = DeployParams {
        token: None,
        owner: None,
        price: parse_ether("0.00003")?,
        fee_bps: 500,
        fee_recipient: None,
        delivery_window: 86_400,
        providers: vec![provider],
    };
    Ok(deploy::deploy(owner, &params).await?.nft)
}

/// Mints TOKENS tokens, MINTERS accounts in parallel. With `mined_at`, records for each token
/// the moment its transaction was accepted (anvil mines it then).
async fn mint_all(
    minters: &[Connection],
    nft: Address,
    mined_at: Option<Arc<Mutex<HashMap<u64, Instant>>>>,
    pace: Option<Duration>,
) -> eyre::Result<()> {
    let price = GenImNFT::new(nft, minters[0].provider.clone())
        .price()
        .call()
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    for (m, conn) in minters.iter().enumerate() {
        let (conn, mined_at) = (conn.clone(), mined_at.clone());
        tasks.spawn(async move {
            let mut tick = pace.map(|p| {
                let start = tokio::time::Instant::now() + p.mul_f64(m as f64 / MINTERS as f64);
                tokio::time::interval_at(start, p)
            });
            for i in 0..TOKENS / MINTERS {
                if let Some(tick) = tick.as_mut() {
                    tick.tick().await;
                }
                let contract = GenImNFT::new(nft, conn.provider.clone());
                let tx = contract
                    .mint(format!("benchmark prompt {m}-{i}"))
                    .value(price)
                    .into_transaction_request()
                    .with_from(conn.signer()?);
                let pending = conn.provider.send_transaction(tx).await?;
                let at = Instant::now();
                let receipt = pending.get_receipt().await?;
                let event = chain::receipt_event::<
                    genim::bindings::gen_im_nft::GenImNFT::ImageRequested,
                >(&receipt, nft)
                .ok_or_else(|| eyre::eyre!("mint without event"))?;
                if let Some(map) = &mined_at {
                    map.lock()
                        .unwrap()
                        .insert(u64::try_from(event.tokenId)?, at);
                }
            }
            eyre::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

fn percentiles(values: &mut [Duration]) -> (Duration, Duration) {
    values.sort();
    let at = |q: f64| values[((values.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99))
}
