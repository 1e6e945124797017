//! The gallery's index: every token of the contract, built from its events (`ImageRequested`,
//! `ImageDelivered`, `Refunded`, `Transfer`) read from the deployment block, kept in memory and
//! brought up to date incrementally (at most once per [`REFRESH_EVERY`]) when a page asks.
//! Delivered tokens get their metadata from the store once (`ipfs://<CIDv1>` of the digest),
//! and with it the image CID, model and date.
//!
//! Every refresh re-reads [`REORG_WINDOW`] blocks behind the last head: applying an event twice
//! changes nothing, so a reorganized event that is mined again lands again. An event dropped
//! by a reorg and never mined again stays until a restart; the token page reads the token's
//! state from the chain, so it is never wrong there.

use crate::{
    bindings::gen_im_nft::GenImNFT,
    chain::{ChainError, Connection},
    cid,
    nft::{Nft, token::TokenState},
    store::Store,
};
use alloy::{
    primitives::{Address, B256, TxHash, U256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::Mutex;
use tracing::{debug, warn};

/// Most blocks per `eth_getLogs` call (public RPCs refuse larger ranges).
const CHUNK_BLOCKS: u64 = 10_000;
/// Blocks re-read behind the last head on every refresh.
const REORG_WINDOW: u64 = 12;
/// A page view refreshes the index at most this often.
pub const REFRESH_EVERY: Duration = Duration::from_millis(500);
/// How long a delivered token whose metadata the store lacks waits before the next try.
const METADATA_RETRY: Duration = Duration::from_secs(30);
/// How long one metadata read may take (an IPFS store may be slow or away).
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// One token as the gallery shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub token_id: U256,
    pub prompt: String,
    pub requester: Address,
    /// The holder (none once refunded).
    pub owner: Option<Address>,
    pub escrow: U256,
    pub state: TokenState,
    /// Block timestamp of the mint.
    pub minted_at: Option<u64>,
    pub mint_tx: Option<TxHash>,
    /// The delivery or refund transaction.
    pub outcome_tx: Option<TxHash>,
    /// Who delivered it.
    pub provider: Option<Address>,
    pub digest: Option<B256>,
    pub metadata: MetadataState,
}

/// What is known of a delivered token's metadata.
#[derive(Debug, Clone)]
pub enum MetadataState {
    /// Not delivered, or not read yet.
    Unknown,
    Loaded(Arc<Metadata>),
    /// The store could not give it (at this time).
    Missing(Instant),
}

/// The parts of ERC-721 metadata the pages show, and the document itself.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// CID of the metadata JSON (the token URI without `ipfs://`).
    pub cid: String,
    /// CID of the image, when `image` is an `ipfs://` URI.
    pub image_cid: Option<String>,
    pub model: Option<String>,
    pub created: Option<String>,
    pub size: Option<String>,
    /// The document as stored.
    pub json: serde_json::Value,
}

impl Metadata {
    /// Parses the stored metadata document `bytes` of CID `cid`.
    pub fn parse(cid: String, bytes: &[u8]) -> Option<Self> {
        let json: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let attribute = |name: &str| {
            json.get("attributes")?
                .as_array()?
                .iter()
                .find(|a| a.get("trait_type").and_then(|t| t.as_str()) == Some(name))
                .and_then(|a| match a.get("value")? {
                    serde_json::Value::String(text) => Some(text.clone()),
                    other => Some(other.to_string()),
                })
        };
        let image_cid = json
            .get("image")
            .and_then(|i| i.as_str())
            .and_then(|i| i.strip_prefix("ipfs://"))
            .filter(|c| cid::parse_cid_v1(c).is_some())
            .map(str::to_owned);
        Some(Self {
            cid,
            image_cid,
            model: attribute("Model"),
            created: attribute("Created"),
            size: attribute("Size"),
            json,
        })
    }

    /// `(width, height)` from the `Size` attribute (`512x512`), for the `<img>` box.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let (w, h) = self.size.as_deref()?.split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    }
}

impl Entry {
    /// The loaded metadata, if any.
    pub fn metadata(&self) -> Option<&Metadata> {
        match &self.metadata {
            MetadataState::Loaded(meta) => Some(meta),
            _ => None,
        }
    }
}

/// The index of one contract.
#[derive(Debug)]
pub struct Index {
    nft: Address,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The deployment block: re-reads never go below it.
    start: u64,
    /// First block not read yet.
    next: u64,
    tokens: BTreeMap<U256, Entry>,
    refreshed: Option<Instant>,
}

impl Index {
    /// An empty index that reads from `start`.
    pub fn new(nft: &Nft, start: u64) -> Self {
        Self {
            nft: nft.address,
            inner: Mutex::new(Inner {
                start,
                next: start,
                tokens: BTreeMap::new(),
                refreshed: None,
            }),
        }
    }

    /// Brings the index up to the chain's head (unless refreshed within [`REFRESH_EVERY`]),
    /// then returns `f` of the tokens (by id: newest last). When the RPC fails, the tokens
    /// known so far are shown and the error is logged: a gallery a few blocks old beats an
    /// error page.
    pub async fn read<T>(
        &self,
        conn: &Connection,
        store: &dyn Store,
        f: impl FnOnce(&BTreeMap<U256, Entry>) -> T,
    ) -> T {
        self.read_with(conn, store, false, f).await
    }

    async fn read_with<T>(
        &self,
        conn: &Connection,
        store: &dyn Store,
        force: bool,
        f: impl FnOnce(&BTreeMap<U256, Entry>) -> T,
    ) -> T {
        let mut inner = self.inner.lock().await;
        let fresh = inner
            .refreshed
            .is_some_and(|at| at.elapsed() < REFRESH_EVERY);
        if force || !fresh {
            if let Err(err) = inner.refresh(conn, self.nft).await {
                warn!(nft = %self.nft, error = %err, "cannot read the contract's events; the gallery shows what it knew");
            }
            inner.load_metadata(store).await;
            inner.refreshed = Some(Instant::now());
        }
        f(&inner.tokens)
    }

    /// One token; a token the index does not know yet (minted since the last refresh) or
    /// knows in another `state` than the chain's makes it read the chain now.
    pub async fn get(
        &self,
        conn: &Connection,
        store: &dyn Store,
        id: U256,
        state: TokenState,
    ) -> Option<Entry> {
        let known = self
            .read(conn, store, |tokens| tokens.get(&id).cloned())
            .await;
        match known {
            Some(entry) if entry.state == state => Some(entry),
            _ => {
                self.read_with(conn, store, true, |tokens| tokens.get(&id).cloned())
                    .await
            }
        }
    }

    /// The next read reads the chain (after this server minted).
    pub async fn invalidate(&self) {
        self.inner.lock().await.refreshed = None;
    }
}

impl Inner {
    async fn refresh(&mut self, conn: &Connection, nft: Address) -> Result<(), ChainError> {
        let head = conn
            .provider
            .get_block_number()
            .await
            .map_err(|err| conn.rpc_error(err))?;
        if head + 1 < self.next {
            return Ok(());
        }
        let mut from = self.next.saturating_sub(REORG_WINDOW).max(self.start);
        let filter = Filter::new().address(nft).event_signature(vec![
            GenImNFT::ImageRequested::SIGNATURE_HASH,
            GenImNFT::ImageDelivered::SIGNATURE_HASH,
            GenImNFT::Refunded::SIGNATURE_HASH,
            GenImNFT::Transfer::SIGNATURE_HASH,
        ]);
        let mut times = HashMap::new();
        while from <= head {
            let to = (from + CHUNK_BLOCKS - 1).min(head);
            let mut logs = conn
                .provider
                .get_logs(&filter.clone().from_block(from).to_block(to))
                .await
                .map_err(|err| conn.rpc_error(err))?;
            logs.sort_by_key(|log| (log.block_number, log.log_index));
            for log in &logs {
                self.apply(conn, log, &mut times).await?;
            }
            from = to + 1;
        }
        self.next = head + 1;
        Ok(())
    }

    async fn apply(
        &mut self,
        conn: &Connection,
        log: &Log,
        times: &mut HashMap<u64, u64>,
    ) -> Result<(), ChainError> {
        let topic = log.topic0().copied().unwrap_or_default();
        if topic == GenImNFT::ImageRequested::SIGNATURE_HASH {
            let Ok(event) = log.log_decode::<GenImNFT::ImageRequested>() else {
                return Ok(());
            };
            let event = event.inner.data;
            let minted_at = match (log.block_timestamp, log.block_number) {
                (Some(time), _) => Some(time),
                (None, Some(block)) => Some(block_time(conn, block, times).await?),
                (None, None) => None,
            };
            let entry = self.tokens.entry(event.tokenId).or_insert_with(|| Entry {
                token_id: event.tokenId,
                prompt: String::new(),
                requester: event.requester,
                owner: Some(event.requester),
                escrow: event.escrow,
                state: TokenState::Pending,
                minted_at,
                mint_tx: None,
                outcome_tx: None,
                provider: None,
                digest: None,
                metadata: MetadataState::Unknown,
            });
            // Read again (the reorg window): the mint's facts, never its later state.
            entry.prompt = event.prompt;
            entry.requester = event.requester;
            entry.escrow = event.escrow;
            entry.minted_at = minted_at;
            entry.mint_tx = log.transaction_hash;
        } else if topic == GenImNFT::ImageDelivered::SIGNATURE_HASH {
            let Ok(event) = log.log_decode::<GenImNFT::ImageDelivered>() else {
                return Ok(());
            };
            let event = event.inner.data;
            if let Some(entry) = self.tokens.get_mut(&event.tokenId) {
                entry.state = TokenState::Delivered;
                entry.provider = Some(event.provider);
                entry.outcome_tx = log.transaction_hash;
                if entry.digest != Some(event.metadataDigest) {
                    entry.digest = Some(event.metadataDigest);
                    entry.metadata = MetadataState::Unknown;
                }
            }
        } else if topic == GenImNFT::Refunded::SIGNATURE_HASH {
            let Ok(event) = log.log_decode::<GenImNFT::Refunded>() else {
                return Ok(());
            };
            if let Some(entry) = self.tokens.get_mut(&event.inner.data.tokenId) {
                entry.state = TokenState::Refunded;
                entry.outcome_tx = log.transaction_hash;
                entry.owner = None;
            }
        } else if topic == GenImNFT::Transfer::SIGNATURE_HASH {
            let Ok(event) = log.log_decode::<GenImNFT::Transfer>() else {
                return Ok(());
            };
            let event = event.inner.data;
            if let Some(entry) = self.tokens.get_mut(&event.id) {
                entry.owner = (!event.to.is_zero()).then_some(event.to);
            }
        }
        Ok(())
    }

    /// Reads the metadata of delivered tokens that do not have it yet.
    async fn load_metadata(&mut self, store: &dyn Store) {
        for entry in self.tokens.values_mut() {
            let Some(digest) = entry.digest else { continue };
            match entry.metadata {
                MetadataState::Loaded(_) => continue,
                MetadataState::Missing(at) if at.elapsed() < METADATA_RETRY => continue,
                _ => {}
            }
            entry.metadata = match read_metadata(store, digest).await {
                Some(meta) => MetadataState::Loaded(Arc::new(meta)),
                None => MetadataState::Missing(Instant::now()),
            };
        }
    }
}

/// The metadata whose sha-256 is `digest`, from the store (which checks the bytes against
/// the CID).
pub async fn read_metadata(store: &dyn Store, digest: B256) -> Option<Metadata> {
    let cid = cid::raw_cid_from_digest(&digest.0);
    match tokio::time::timeout(METADATA_TIMEOUT, store.get(&cid)).await {
        Ok(Ok(bytes)) => {
            let meta = Metadata::parse(cid.clone(), &bytes);
            if meta.is_none() {
                warn!(%cid, "the stored metadata is not JSON");
            }
            meta
        }
        Ok(Err(err)) => {
            debug!(%cid, error = %err, "metadata not in the store");
            None
        }
        Err(_) => {
            warn!(%cid, store = %store.describe(), "the store did not answer in time");
            None
        }
    }
}

async fn block_time(
    conn: &Connection,
    block: u64,
    times: &mut HashMap<u64, u64>,
) -> Result<u64, ChainError> {
    if let Some(time) = times.get(&block) {
        return Ok(*time);
    }
    let time = conn
        .provider
        .get_block_by_number(block.into())
        .await
        .map_err(|err| conn.rpc_error(err))?
        .map(|b| b.header.timestamp)
        .unwrap_or_default();
    times.insert(block, time);
    Ok(time)
}

/// The block `address` was deployed in, by bisecting `eth_getCode` over history (the gallery
/// reads events from there). Needs state at old blocks; a node that has pruned it answers
/// with an error, and then the index starts at 0 (anvil and archive nodes answer).
pub async fn deployment_block(conn: &Connection, address: Address) -> u64 {
    let Ok(head) = conn.provider.get_block_number().await else {
        return 0;
    };
    let has_code = |block: u64| {
        let provider = conn.provider.clone();
        async move {
            provider
                .get_code_at(address)
                .block_id(block.into())
                .await
                .map(|code| !code.is_empty())
        }
    };
    let (mut low, mut high) = (0u64, head);
    while low < high {
        let mid = low + (high - low) / 2;
        match has_code(mid).await {
            Ok(true) => high = mid,
            Ok(false) => low = mid + 1,
            Err(err) => {
                warn!(%address, error = %err, "cannot read old state to find the deployment block; the gallery reads events from block 0");
                return 0;
            }
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_of_genim_is_read() {
        let meta = crate::metadata::TokenMetadata {
            token_id: 7,
            prompt: "a fox <b>".into(),
            image_cid: cid::cid_v1(b"image"),
            model: "flux".into(),
            generator: "local".into(),
            width: 512,
            height: 256,
            created: "2026-11-05T12:00:00Z".into(),
            chain_id: 31337,
            contract: Address::repeat_byte(1),
        };
        let parsed = Metadata::parse("bafk".into(), &meta.to_json()).unwrap();
        assert_eq!(parsed.image_cid.as_deref(), Some(meta.image_cid.as_str()));
        assert_eq!(parsed.model.as_deref(), Some("flux"));
        assert_eq!(parsed.created.as_deref(), Some("2026-11-05T12:00:00Z"));
        assert_eq!(parsed.dimensions(), Some((512, 256)));
        assert!(Metadata::parse("bafk".into(), b"not json").is_none());
    }
}
