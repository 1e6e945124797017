//! The provider's durable state, one folder per chain and contract under `--state-dir`:
//!
//! ```text
//! <state-dir>/<chain-id>/<nft>/checkpoint.json   {"nextBlock": N}: every mint in a block < N is handled
//! <state-dir>/<chain-id>/<nft>/tokens/<id>.json   what was generated and stored for a token's mint
//! ```
//!
//! Every file is written to a temporary name, synced and renamed, so a kill at any moment
//! leaves either the old or the new content. Token records let a restarted provider deliver
//! what it already generated and paid for instead of generating it again.
//!
//! A record belongs to one mint ([`MintRef`]: its transaction, block and prompt), not to a
//! token id: a reorg can drop a mint and let another mint take its id, and the new token must
//! never get the old prompt's image. A record whose mint is not the one at hand is ignored and
//! overwritten.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("provider state {path}: {reason}")]
pub struct StateError {
    /// The file or folder involved.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl StateError {
    fn io(path: &Path, err: io::Error) -> Self {
        let reason = if err.raw_os_error() == Some(28) {
            "no space left on the device".to_string()
        } else {
            err.to_string()
        };
        Self {
            path: path.to_path_buf(),
            reason,
        }
    }
}

/// The mint a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintRef {
    /// The minting transaction: unique per mint, kept when a reorg moves it to another block.
    pub tx: B256,
    /// The block it was seen in (it may move in a reorg; the record still belongs to the mint).
    pub block: u64,
    /// The prompt of its `ImageRequested` event.
    pub prompt: String,
}

impl MintRef {
    /// Whether this is the same mint as `other` (same transaction and prompt).
    pub fn same_mint(&self, other: &MintRef) -> bool {
        self.tx == other.tx && self.prompt == other.prompt
    }
}

/// What happened to a token, as far as this provider knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenPhase {
    /// Image and metadata are stored; the delivery is still to be sent or confirmed.
    Stored,
    /// Delivered on-chain (by us).
    Delivered,
    /// Given up on (a permanent generator or store error); left for its owner's refund.
    Failed,
}

/// The record of one token's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub token_id: u64,
    pub phase: TokenPhase,
    /// The mint this record belongs to (absent in records of genim before 0.2: such a record
    /// belongs to no mint and is never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mint: Option<MintRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_cid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_cid: Option<String>,
    /// sha-256 of the stored metadata bytes, 0x-hex: what `deliver` puts on-chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    /// The block of the delivering transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_block: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TokenRecord {
    /// An empty record of `mint`.
    pub fn new(token_id: u64, phase: TokenPhase, mint: MintRef) -> Self {
        Self {
            token_id,
            phase,
            mint: Some(mint),
            image_cid: None,
            metadata_cid: None,
            digest: None,
            tx: None,
            delivered_block: None,
            error: None,
        }
    }

    /// Whether this record belongs to `mint`.
    pub fn belongs_to(&self, mint: &MintRef) -> bool {
        self.mint.as_ref().is_some_and(|own| own.same_mint(mint))
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Checkpoint {
    next_block: u64,
}

/// The state folder of one contract on one chain.
#[derive(Debug, Clone)]
pub struct ContractState {
    dir: PathBuf,
}

impl ContractState {
    /// Opens (creating) `<root>/<chain_id>/<nft>/`.
    pub fn open(root: &Path, chain_id: u64, nft: Address) -> Result<Self, StateError> {
        let dir = root.join(chain_id.to_string()).join(nft.to_checksum(None));
        let tokens = dir.join("tokens");
        fs::create_dir_all(&tokens).map_err(|err| StateError::io(&tokens, err))?;
        Ok(Self { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first block not yet fully handled, if a checkpoint was saved.
    pub fn checkpoint(&self) -> Result<Option<u64>, StateError> {
        let path = self.dir.join("checkpoint.json");
        Ok(read_json::<Checkpoint>(&path)?.map(|c| c.next_block))
    }

    /// Saves the checkpoint durably.
    pub fn save_checkpoint(&self, next_block: u64) -> Result<(), StateError> {
        write_json(
            &self.dir.join("checkpoint.json"),
            &Checkpoint { next_block },
        )
    }

    /// The record of `token_id`, if any.
    pub fn token(&self, token_id: u64) -> Result<Option<TokenRecord>, StateError> {
        read_json(&self.token_path(token_id))
    }

    /// Saves the record of a token durably.
    pub fn save_token(&self, record: &TokenRecord) -> Result<(), StateError> {
        write_json(&self.token_path(record.token_id), record)
    }

    /// The record of `token_id` if it belongs to `mint`.
    pub fn token_of(
        &self,
        token_id: u64,
        mint: &MintRef,
    ) -> Result<Option<TokenRecord>, StateError> {
        Ok(self
            .token(token_id)?
            .filter(|record| record.belongs_to(mint)))
    }

    /// Every record in the `Failed` phase, by token id.
    pub fn failed_tokens(&self) -> Result<Vec<TokenRecord>, StateError> {
        let dir = self.dir.join("tokens");
        let entries = fs::read_dir(&dir).map_err(|err| StateError::io(&dir, err))?;
        let mut failed = Vec::new();
        for entry in entries {
            let path = entry.map_err(|err| StateError::io(&dir, err))?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            if let Some(record) = read_json::<TokenRecord>(&path)?
                && record.phase == TokenPhase::Failed
            {
                failed.push(record);
            }
        }
        failed.sort_by_key(|record| record.token_id);
        Ok(failed)
    }

    /// Forgets the record of `token_id` (nothing to do when there is none).
    pub fn remove_token(&self, token_id: u64) -> Result<(), StateError> {
        let path = self.token_path(token_id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StateError::io(&path, err)),
        }
    }

    fn token_path(&self, token_id: u64) -> PathBuf {
        self.dir.join("tokens").join(format!("{token_id}.json"))
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, StateError> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| StateError {
                path: path.to_path_buf(),
                reason: format!("corrupt JSON ({err}); remove the file to start over"),
            }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StateError::io(path, err)),
    }
}

/// Writes `value` to `path` atomically ([`crate::fsutil::write_atomic`]): a crash leaves the
/// old file or the new one, never a torn one.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("state records serialize");
    bytes.push(b'\n');
    crate::fsutil::write_atomic(path, &bytes).map_err(|err| StateError::io(path, err.into_io()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_and_records_round_trip() {
        let root = tempfile::tempdir().unwrap();
        let state = ContractState::open(root.path(), 31337, Address::repeat_byte(0x11)).unwrap();
        assert_eq!(state.checkpoint().unwrap(), None);
        state.save_checkpoint(42).unwrap();
        assert_eq!(state.checkpoint().unwrap(), Some(42));

        let record = TokenRecord {
            image_cid: Some("bafkreiimage".into()),
            metadata_cid: Some("bafkreimeta".into()),
            digest: Some("0x01".into()),
            ..TokenRecord::new(7, TokenPhase::Stored, mint(1, "a fox"))
        };
        state.save_token(&record).unwrap();
        assert_eq!(state.token(7).unwrap(), Some(record));
        assert_eq!(state.token(8).unwrap(), None);
        assert_eq!(state.failed_tokens().unwrap(), vec![]);
        let leftovers: Vec<_> = fs::read_dir(state.dir().join("tokens"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files left behind");
    }

    fn mint(tx: u8, prompt: &str) -> MintRef {
        MintRef {
            tx: B256::repeat_byte(tx),
            block: 5,
            prompt: prompt.into(),
        }
    }

    #[test]
    fn a_record_belongs_to_one_mint_not_to_an_id() {
        let root = tempfile::tempdir().unwrap();
        let state = ContractState::open(root.path(), 31337, Address::repeat_byte(0x11)).unwrap();
        let first = mint(1, "a red fox");
        state
            .save_token(&TokenRecord::new(7, TokenPhase::Stored, first.clone()))
            .unwrap();
        assert!(state.token_of(7, &first).unwrap().is_some());
        // Another mint took id 7 after a reorg: a different transaction, or a different prompt.
        assert!(state.token_of(7, &mint(2, "a red fox")).unwrap().is_none());
        assert!(state.token_of(7, &mint(1, "a blue fox")).unwrap().is_none());
        // The same mint moved to another block is still the same mint.
        let moved = MintRef { block: 9, ..first };
        assert!(state.token_of(7, &moved).unwrap().is_some());
        // Records of older versions belong to no mint.
        let legacy = br#"{"tokenId":8,"phase":"stored","digest":"0x01"}"#;
        fs::write(state.dir().join("tokens/8.json"), legacy).unwrap();
        assert!(state.token(8).unwrap().unwrap().mint.is_none());
        assert!(state.token_of(8, &moved).unwrap().is_none());
    }

    #[test]
    fn failed_records_are_listed_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let state = ContractState::open(root.path(), 1, Address::ZERO).unwrap();
        for id in [3, 1, 2] {
            let phase = if id == 2 {
                TokenPhase::Stored
            } else {
                TokenPhase::Failed
            };
            state
                .save_token(&TokenRecord::new(id, phase, mint(id as u8, "p")))
                .unwrap();
        }
        let ids: Vec<u64> = state
            .failed_tokens()
            .unwrap()
            .iter()
            .map(|r| r.token_id)
            .collect();
        assert_eq!(ids, vec![1, 3]);
        state.remove_token(1).unwrap();
        state.remove_token(1).unwrap();
        assert_eq!(state.failed_tokens().unwrap().len(), 1);
    }

    #[test]
    fn corrupt_files_are_reported_with_their_path() {
        let root = tempfile::tempdir().unwrap();
        let state = ContractState::open(root.path(), 1, Address::ZERO).unwrap();
        fs::write(state.dir().join("checkpoint.json"), b"{not json").unwrap();
        let err = state.checkpoint().unwrap_err().to_string();
        assert!(
            err.contains("checkpoint.json") && err.contains("corrupt"),
            "{err}"
        );
    }
}
