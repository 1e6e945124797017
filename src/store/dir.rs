//! `dir:PATH`: a local content-addressed store, one file per CID named by the CID.
//!
//! Writes go through [`fsutil::write_atomic`], so a crash leaves either nothing or the whole
//! file under a CID name, and a full disk leaves no temporary file. Hashing and file I/O run
//! on the blocking thread pool.

use super::{BoxFuture, Store, StoreError};
use crate::{
    cid,
    fsutil::{self, WriteError},
};
use bytes::Bytes;
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A folder holding one file per CID.
#[derive(Clone, Debug)]
pub struct DirStore {
    dir: PathBuf,
}

impl DirStore {
    /// Opens (and creates if needed) the folder `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            op: "create the store folder",
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file of `cid` lives; an error for anything that is not a valid CIDv1, so a
    /// CID can never name a path outside the folder.
    pub fn path_of(&self, cid: &str) -> Result<PathBuf, StoreError> {
        cid::parse_cid_v1(cid).ok_or_else(|| StoreError::InvalidCid {
            cid: cid.to_string(),
        })?;
        Ok(self.dir.join(cid))
    }

    /// Stores `bytes` under their CID, blocking the calling thread.
    pub fn put_blocking(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let cid = cid::cid_v1(bytes);
        let path = self.dir.join(&cid);
        // Files appear under a CID name only whole, so one of the right length is this content.
        if fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64) {
            return Ok(cid);
        }
        fsutil::write_atomic(&path, bytes)
            .map_err(|err| write_error(&self.dir, bytes.len(), err))?;
        tracing::debug!(%cid, bytes = bytes.len(), dir = %self.dir.display(), "stored");
        Ok(cid)
    }

    /// Reads the file of `cid`, checking that its content has that CID.
    pub fn get_blocking(&self, cid: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path_of(cid)?;
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => StoreError::NotFound {
                cid: cid.to_string(),
                store: self.describe(),
            },
            _ => StoreError::Io {
                op: "read",
                path: path.clone(),
                source,
            },
        })?;
        let actual = cid::cid_v1(&bytes);
        if actual != cid {
            return Err(StoreError::Corrupt {
                cid: cid.to_string(),
                actual,
                location: path.display().to_string(),
            });
        }
        Ok(bytes)
    }
}

impl Store for DirStore {
    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let dir = self.dir().to_path_buf();
        Box::pin(async move {
            // A file can be created (and removed) in the folder: not full, not read-only.
            let probe = tokio::task::spawn_blocking(move || {
                tempfile::Builder::new()
                    .prefix(".genim-health")
                    .tempfile_in(&dir)
                    .map(drop)
                    .map_err(|err| (dir, err))
            })
            .await
            .expect("the probe task does not panic");
            probe.map_err(|(path, source)| StoreError::Io {
                op: "create a file in",
                path,
                source,
            })
        })
    }

    fn put(&self, bytes: Bytes, _name_hint: &str) -> BoxFuture<'_, Result<String, StoreError>> {
        let store = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.put_blocking(&bytes))
                .await
                .map_err(|e| join_error(&self.dir, e))?
        })
    }

    fn get(&self, cid: &str) -> BoxFuture<'_, Result<Bytes, StoreError>> {
        let store = self.clone();
        let owned = cid.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || store.get_blocking(&owned).map(Bytes::from))
                .await
                .map_err(|e| join_error(&self.dir, e))?
        })
    }

    fn describe(&self) -> String {
        format!("dir {}", self.dir.display())
    }
}

fn join_error(dir: &Path, e: tokio::task::JoinError) -> StoreError {
    StoreError::Io {
        op: "finish a blocking task in",
        path: dir.to_path_buf(),
        source: io::Error::other(e),
    }
}

/// A failed write as a store error: a full disk names the store folder and the size.
fn write_error(dir: &Path, bytes: usize, err: WriteError) -> StoreError {
    match err {
        WriteError::DiskFull { source, .. } => StoreError::DiskFull {
            path: dir.to_path_buf(),
            bytes,
            source,
        },
        WriteError::Io { op, path, source } => StoreError::Io { op, path, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn put_get_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(tmp.path().join("nested/images")).unwrap();
        let cid = store.put_blocking(b"hello world\n").unwrap();
        assert_eq!(cid, cid::cid_v1(b"hello world\n"));
        assert_eq!(store.get_blocking(&cid).unwrap(), b"hello world\n");
        // Idempotent: the same content again leaves one file.
        assert_eq!(store.put_blocking(b"hello world\n").unwrap(), cid);
        assert_eq!(names(store.dir()), vec![cid]);
    }

    #[test]
    fn get_checks_content_and_cid() {
        let tmp = tempfile::tempdir().unwrap();
        let store = DirStore::open(tmp.path()).unwrap();
        let cid = store.put_blocking(b"abc").unwrap();
        fs::write(tmp.path().join(&cid), b"abd").unwrap();
        let err = store.get_blocking(&cid).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let missing = cid::cid_v1(b"missing");
        assert!(matches!(
            store.get_blocking(&missing),
            Err(StoreError::NotFound { .. })
        ));
        let err = store.get_blocking("../../etc/passwd").unwrap_err();
        assert!(matches!(err, StoreError::InvalidCid { .. }), "{err}");
    }

    #[test]
    fn full_disk_is_a_config_error_that_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_error(
            tmp.path(),
            1 << 20,
            WriteError::DiskFull {
                path: tmp.path().join("bafkreiname"),
                source: io::Error::from(io::ErrorKind::StorageFull),
            },
        );
        assert!(
            matches!(
                err,
                StoreError::DiskFull {
                    bytes: 1_048_576,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.class(), crate::retry::ErrorClass::Config);
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(text.contains("no space left on the device"), "{text}");
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");
    }

    #[test]
    fn a_store_folder_gone_is_a_config_error_naming_it() {
        // Root ignores permission bits, so the folder is replaced by a file instead.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("images");
        let store = DirStore::open(&dir).unwrap();
        fs::remove_dir(&dir).unwrap();
        fs::write(&dir, b"not a folder").unwrap();
        let err = store.put_blocking(b"abc").unwrap_err();
        assert_eq!(err.class(), crate::retry::ErrorClass::Config, "{err:?}");
        assert!(err.to_string().contains("images"), "{err}");
    }
}
