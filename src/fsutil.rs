//! Durable file writes: the one atomic-write routine of genim (store files, provider state,
//! deployment records).

use std::{
    fs::File,
    io::{self, Write},
    path::{Path, PathBuf},
};

/// A failed [`write_atomic`]; the target is unchanged and no temporary file is left.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The device (or the user's quota) is full.
    #[error("no space left on the device to write {path}")]
    DiskFull {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Any other failure: `op` says which step (`create a temporary file for`, `write`, ...).
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl WriteError {
    /// The file that was being written.
    pub fn path(&self) -> &Path {
        match self {
            Self::DiskFull { path, .. } | Self::Io { path, .. } => path,
        }
    }

    /// Whether the device or quota is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }

    /// The underlying I/O error.
    pub fn into_io(self) -> io::Error {
        match self {
            Self::DiskFull { source, .. } | Self::Io { source, .. } => source,
        }
    }
}

/// Writes `bytes` to `path` so that a crash at any moment leaves either the old content or the
/// new one, never a torn file: a temporary file in the same folder, fsync, rename over `path`,
/// fsync of the folder (which makes the rename itself durable). The folder must exist. On any
/// error, a full disk included, the temporary file is removed and `path` is untouched. New
/// files get the usual `0666 & !umask` permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the content written by `write` (tests inject failures through it).
pub(crate) fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let fail = |op: &'static str, source: io::Error| {
        if is_disk_full(&source) {
            WriteError::DiskFull {
                path: path.to_path_buf(),
                source,
            }
        } else {
            WriteError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile's default is 0600; the umask still applies to this.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Dropping `tmp` before `persist` removes the temporary file.
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| fail("create a temporary file for", e))?;
    write(tmp.as_file_mut()).map_err(|e| fail("write", e))?;
    tmp.as_file().sync_all().map_err(|e| fail("fsync", e))?;
    tmp.persist(path)
        .map_err(|e| fail("rename a temporary file to", e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail("fsync the folder of", e))
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
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_and_replaces_whole_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("record.json");
        write_atomic(&path, b"{\"a\":1}\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
        write_atomic(&path, b"{}").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert_eq!(names(tmp.path()), ["record.json"], "no temporary file left");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_ne!(
                mode & 0o044,
                0,
                "readable by others as with fs::write: {mode:o}"
            );
        }
    }

    #[test]
    fn full_disk_says_so_names_the_path_and_keeps_the_old_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("checkpoint.json");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |file| {
            file.write_all(&[0u8; 4096])?;
            Err(io::Error::from(io::ErrorKind::StorageFull))
        })
        .unwrap_err();
        assert!(err.is_disk_full(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("no space left on the device"), "{text}");
        assert!(text.contains("checkpoint.json"), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(tmp.path()), ["checkpoint.json"]);
    }

    #[test]
    fn other_errors_leave_nothing_and_name_the_step() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x");
        let err = write_atomic_with(&path, |_| Err(io::Error::other("boom"))).unwrap_err();
        assert!(matches!(err, WriteError::Io { op: "write", .. }), "{err:?}");
        assert!(names(tmp.path()).is_empty());
        let err = write_atomic(&tmp.path().join("missing/x"), b"x").unwrap_err();
        assert!(err.to_string().contains("missing/x"), "{err}");
    }
}
