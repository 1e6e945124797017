//! `dir:PATH`: a local content-addressed store, one file per CID named by the CID.
//!
//! Writes are atomic: the bytes go to a hidden temporary file in the same folder, are fsynced,
//! then renamed to the CID and the folder is fsynced, so a crash leaves either nothing or the
//! whole file under a CID name. On any error (a full disk included) the temporary file is
//! removed. Hashing and file I/O run on the blocking thread pool.

use super::{BoxFuture, Store, StoreError};
use crate::cid;
use bytes::Bytes;
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
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
        write_atomic(&self.dir, &cid, bytes.len(), |file| file.write_all(bytes))?;
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

/// Writes `dir/name` atomically: `write` fills a new temporary file in `dir`, which is fsynced
/// and renamed to `name`, then `dir` is fsynced. On error the temporary file is removed.
fn write_atomic(
    dir: &Path,
    name: &str,
    len: usize,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let target = dir.join(name);
    let fail = |op: &'static str, path: &Path, source: io::Error| {
        if is_disk_full(&source) {
            StoreError::DiskFull {
                path: dir.to_path_buf(),
                bytes: len,
                source,
            }
        } else {
            StoreError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        }
    };

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| fail("create", &tmp, e))?;
    let written = write(&mut file)
        .map_err(|e| fail("write", &tmp, e))
        .and_then(|()| file.sync_all().map_err(|e| fail("fsync", &tmp, e)));
    drop(file);
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    if let Err(e) = fs::rename(&tmp, &target) {
        let _ = fs::remove_file(&tmp);
        return Err(fail("rename a temporary file to", &target, e));
    }
    // Make the rename itself durable.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("fsync the folder", dir, e))
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
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
    fn full_disk_leaves_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_atomic(tmp.path(), "bafkreiname", 1 << 20, |file| {
            file.write_all(&[0u8; 4096])?;
            Err(io::Error::from(io::ErrorKind::StorageFull))
        })
        .unwrap_err();
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
        assert!(err.is_retryable());
        assert!(err.to_string().contains("no space left"), "{err}");
        assert!(names(tmp.path()).is_empty(), "left {:?}", names(tmp.path()));
    }

    #[test]
    fn other_write_errors_leave_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let err = write_atomic(tmp.path(), "x", 1, |_| Err(io::Error::other("boom"))).unwrap_err();
        assert!(matches!(err, StoreError::Io { op: "write", .. }), "{err:?}");
        assert!(names(tmp.path()).is_empty());
    }
}
