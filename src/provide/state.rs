//! The provider's durable state, one folder per chain and contract under `--state-dir`:
//!
//! ```text
//! <state-dir>/<chain-id>/<nft>/checkpoint.json   {"nextBlock": N}: every mint in a block < N is handled
//! <state-dir>/<chain-id>/<nft>/tokens/<id>.json   what was generated and stored for a token
//! ```
//!
//! Every file is written to a temporary name, synced and renamed, so a kill at any moment
//! leaves either the old or the new content. Token records let a restarted provider deliver
//! what it already generated and paid for instead of generating it again.

use alloy::primitives::Address;
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_cid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_cid: Option<String>,
    /// sha-256 of the stored metadata bytes, 0x-hex: what `deliver` puts on-chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
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
            token_id: 7,
            phase: TokenPhase::Stored,
            image_cid: Some("bafkreiimage".into()),
            metadata_cid: Some("bafkreimeta".into()),
            digest: Some("0x01".into()),
            tx: None,
            error: None,
        };
        state.save_token(&record).unwrap();
        assert_eq!(state.token(7).unwrap(), Some(record));
        assert_eq!(state.token(8).unwrap(), None);
        let leftovers: Vec<_> = fs::read_dir(state.dir().join("tokens"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files left behind");
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
