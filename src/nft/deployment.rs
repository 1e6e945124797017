//! `deployments/<chain-id>.json`: what `genim deploy` did, read back by the other commands.

use crate::{amount::decimal, fsutil};
use alloy::primitives::{Address, TxHash, U256};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A deployment record cannot be read or written, or belongs to another chain.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Reading, parsing or writing failed.
    #[error("deployment record {path}: {reason}")]
    Io { path: PathBuf, reason: String },
    /// The record was made on another chain.
    #[error(
        "wrong chain: the RPC is chain {chain_id}, but {path} is a deployment on chain {recorded}"
    )]
    WrongChain {
        path: PathBuf,
        chain_id: u64,
        recorded: u64,
    },
}

/// The arguments the escrow NFT was constructed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConstructorArgs {
    /// Contract owner (configuration only).
    pub owner: Address,
    /// The ERC-20 it is priced in; absent for ETH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Address>,
    /// Price per mint in the asset's smallest unit, as a decimal string.
    #[serde(with = "decimal")]
    pub price: U256,
    /// Fee in basis points.
    pub fee_bps: u16,
    /// Where fees go (an address or a Splitter).
    pub fee_recipient: Address,
    /// Seconds before an undelivered token may be refunded.
    pub delivery_window: u64,
}

/// Transactions of a deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentTxs {
    /// Escrow NFT creation.
    pub nft: TxHash,
    /// SplitterFactory creation, when `--split` deployed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splitter_factory: Option<TxHash>,
    /// `createSplitter`, when `--split` created the splitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub splitter: Option<TxHash>,
    /// `setProvider` calls, in the order of `providers`.
    #[serde(default)]
    pub providers: Vec<TxHash>,
}

/// One recipient of a fee split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitShare {
    /// Recipient.
    pub account: Address,
    /// Its share (relative to the sum of all shares).
    pub share: u64,
}

/// `deployments/<chain-id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// Chain the contracts live on.
    pub chain_id: u64,
    /// The escrow NFT (GenImNFT or GenImTokenNFT).
    pub nft: Address,
    /// Fee Splitter clone, when deployed with `--split`.
    #[serde(default)]
    pub splitter: Option<Address>,
    /// SplitterFactory, when deployed with `--split`.
    #[serde(default)]
    pub splitter_factory: Option<Address>,
    /// The split, when deployed with `--split`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitShare>>,
    /// Providers authorized at deployment.
    #[serde(default)]
    pub providers: Vec<Address>,
    /// Block of the escrow NFT's creation.
    pub block: u64,
    /// Transaction hashes.
    pub tx: DeploymentTxs,
    /// Constructor arguments.
    pub constructor_args: ConstructorArgs,
    /// Compiler of the deployed bytecode (from its CBOR metadata), e.g. `solc 0.8.37`.
    pub compiler: String,
    /// genim version that deployed.
    pub genim_version: String,
}

impl Deployment {
    /// `<dir>/<chain_id>.json`.
    pub fn path(dir: &Path, chain_id: u64) -> PathBuf {
        dir.join(format!("{chain_id}.json"))
    }

    /// Reads the record of `chain_id`, if any; refuses a record made for another chain.
    pub fn load(dir: &Path, chain_id: u64) -> Result<Option<Self>, RecordError> {
        let path = Self::path(dir, chain_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(RecordError::Io {
                    path,
                    reason: err.to_string(),
                });
            }
        };
        let record: Self = serde_json::from_str(&text).map_err(|err| RecordError::Io {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        if record.chain_id != chain_id {
            return Err(RecordError::WrongChain {
                path,
                chain_id,
                recorded: record.chain_id,
            });
        }
        Ok(Some(record))
    }

    /// Checks, before anything is deployed, that a record for `chain_id` can be written in
    /// `dir` (creating the folder), so a deployment never ends with its addresses lost.
    pub fn check_writable(dir: &Path, chain_id: u64) -> Result<(), RecordError> {
        let path = Self::path(dir, chain_id);
        let fail = |err: std::io::Error| RecordError::Io {
            path: path.clone(),
            reason: format!("cannot be written: {err}"),
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let probe = tempfile::Builder::new()
            .prefix(".genim-probe")
            .tempfile_in(dir)
            .map_err(fail)?;
        drop(probe);
        if path.exists() {
            std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Writes the record to `<dir>/<chain_id>.json` atomically and returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, RecordError> {
        let path = Self::path(dir, self.chain_id);
        std::fs::create_dir_all(dir).map_err(|err| RecordError::Io {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        let mut json = serde_json::to_string_pretty(self).expect("a deployment serializes");
        json.push('\n');
        fsutil::write_atomic(&path, json.as_bytes()).map_err(|err| RecordError::Io {
            path: path.clone(),
            reason: crate::logging::error_chain(&err),
        })?;
        Ok(path)
    }
}

/// The compiler named in deployed bytecode's CBOR metadata (`solc 0.8.37`), if any.
pub fn compiler_version(bytecode: &[u8]) -> Option<String> {
    let n = bytecode.len();
    let cbor_len = usize::from(u16::from_be_bytes([
        *bytecode.get(n.checked_sub(2)?)?,
        bytecode[n - 1],
    ]));
    let cbor = bytecode.get(n.checked_sub(2 + cbor_len)?..n - 2)?;
    // Key "solc" (text, 4 bytes) followed by a 3-byte byte string: major, minor, patch.
    let key = [0x64, b's', b'o', b'l', b'c', 0x43];
    let at = cbor.windows(key.len()).position(|window| window == key)? + key.len();
    let version = cbor.get(at..at + 3)?;
    Some(format!("solc {}.{}.{}", version[0], version[1], version[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_compiler_from_bytecode() {
        let version = compiler_version(&crate::bindings::gen_im_nft::GenImNFT::BYTECODE);
        assert!(
            version
                .as_deref()
                .is_some_and(|v| v.starts_with("solc 0.8.")),
            "{version:?}"
        );
        assert_eq!(compiler_version(&[0x00]), None);
    }

    #[test]
    fn round_trip_and_wrong_chain() {
        let dir = tempfile::tempdir().unwrap();
        let record = Deployment {
            chain_id: 31337,
            nft: Address::repeat_byte(1),
            splitter: None,
            splitter_factory: None,
            split: None,
            providers: vec![Address::repeat_byte(2)],
            block: 1,
            tx: DeploymentTxs::default(),
            constructor_args: ConstructorArgs {
                owner: Address::repeat_byte(3),
                token: None,
                price: U256::from(30_000_000_000_000u64),
                fee_bps: 500,
                fee_recipient: Address::repeat_byte(3),
                delivery_window: 86_400,
            },
            compiler: "solc 0.8.37".into(),
            genim_version: "0.1.0".into(),
        };
        Deployment::check_writable(dir.path(), 31337).unwrap();
        let path = record.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\"chainId\": 31337") && text.contains("\"price\": \"30000000000000\"")
        );
        assert!(!text.contains("token"), "{text}");
        assert_eq!(Deployment::load(dir.path(), 31337).unwrap(), Some(record));
        assert_eq!(Deployment::load(dir.path(), 1).unwrap(), None);
        std::fs::copy(&path, Deployment::path(dir.path(), 10)).unwrap();
        let err = Deployment::load(dir.path(), 10).unwrap_err().to_string();
        assert!(err.starts_with("wrong chain:"), "{err}");
    }

    #[test]
    fn an_unwritable_folder_is_found_before_deploying() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        let err = Deployment::check_writable(&file, 31337)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be written"), "{err}");
    }
}
