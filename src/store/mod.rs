//! Where images and metadata go: one [`Store`] trait, chosen at run time from `--store KIND:ARG`.
//!
//! - `dir:PATH` ([`DirStore`]): a local content-addressed folder, one file per CID.
//! - `ipfs:URL` ([`IpfsStore`]): a Kubo-compatible RPC API (`/api/v0/add`, `/api/v0/cat`).
//!
//! Both return the CID that `ipfs add --cid-version=1` prints ([`crate::cid::cid_v1`]), so the
//! same bytes get the same CID whichever store holds them; the IPFS store checks the node's
//! answer against the local computation and refuses a different CID.
//!
//! Errors carry an [`ErrorClass`] ([`StoreError::class`]): network trouble and HTTP 5xx are
//! transient; a full disk, a permission problem, a node that returns another CID or refuses
//! the request are `Config`: every later write would fail the same way, so callers stop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), genim::store::StoreError> {
//! let store = genim::store::from_spec("dir:./images")?;
//! let cid = store.put(bytes::Bytes::from_static(b"hello"), "hello.txt").await?;
//! assert_eq!(&store.get(&cid).await?[..], b"hello");
//! # Ok(()) }
//! ```

mod dir;
mod ipfs;

pub use dir::DirStore;
pub use ipfs::{IpfsOptions, IpfsStore};

use crate::{
    http::{HttpError, redact_url},
    retry::ErrorClass,
};
use bytes::Bytes;
use reqwest::Url;
use std::{
    fmt, future::Future, io, path::PathBuf, pin::Pin, str::FromStr, sync::Arc, time::Duration,
};

/// A boxed, sendable future: what [`Store`] methods return so the trait stays `dyn`-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A content-addressed store for images and metadata, used as `Arc<dyn Store>`.
pub trait Store: Send + Sync + fmt::Debug {
    /// Stores `bytes` and returns their CIDv1 (base32), the same for every store.
    /// `name_hint` (e.g. `"42.png"`) is only a label for stores that keep names. The future
    /// borrows only `self`.
    fn put(&self, bytes: Bytes, name_hint: &str) -> BoxFuture<'_, Result<String, StoreError>>;

    /// Reads back the bytes stored under `cid`, checked against the CID.
    fn get(&self, cid: &str) -> BoxFuture<'_, Result<Bytes, StoreError>>;

    /// A one-line description for logs, without credentials (e.g. `dir ./images`).
    fn describe(&self) -> String;

    /// Whether the store can be used now (`genim serve`'s `/healthz`): the folder is
    /// writable, the IPFS node answers.
    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Opens the store described by `spec` (`dir:PATH` or `ipfs:URL`), with default options.
pub fn from_spec(spec: &str) -> Result<Arc<dyn Store>, StoreError> {
    spec.parse::<StoreSpec>()?.open()
}

/// A parsed `--store` value. Parse with [`str::parse`] (so clap can validate it), then
/// [`open`](StoreSpec::open) it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// `dir:PATH`
    Dir(PathBuf),
    /// `ipfs:URL`, the base URL of the RPC API (e.g. `http://127.0.0.1:5001`).
    Ipfs(Url),
}

impl StoreSpec {
    /// Opens the store: creates the folder of a `dir` store, builds the HTTP client of an `ipfs`
    /// store (no request is sent).
    pub fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Self::Dir(path) => Arc::new(DirStore::open(path)?),
            Self::Ipfs(url) => Arc::new(IpfsStore::new(url.clone(), IpfsOptions::default())?),
        })
    }
}

impl FromStr for StoreSpec {
    type Err = StoreError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| StoreError::InvalidSpec {
            spec: redact_spec(spec),
            reason,
        };
        let Some((kind, arg)) = spec.split_once(':') else {
            return Err(invalid(
                "expected KIND:ARG, e.g. dir:./images or ipfs:http://127.0.0.1:5001".into(),
            ));
        };
        if arg.is_empty() {
            return Err(invalid(format!("missing the argument after `{kind}:`")));
        }
        match kind {
            "dir" => Ok(Self::Dir(PathBuf::from(arg))),
            "ipfs" => {
                let url = Url::parse(arg).map_err(|e| invalid(format!("bad URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(invalid(format!(
                        "URL scheme must be http or https, not {}",
                        url.scheme()
                    )));
                }
                Ok(Self::Ipfs(url))
            }
            other => Err(invalid(format!(
                "unknown store kind `{other}` (known: dir, ipfs)"
            ))),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "dir:{}", path.display()),
            Self::Ipfs(url) => write!(f, "ipfs:{}", redact_url(url)),
        }
    }
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Errors of the stores. Each names the CID, path or (credential-free) URL involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store `{spec}`: {reason}")]
    InvalidSpec { spec: String, reason: String },
    #[error("`{cid}` is not a CIDv1 in base32 with a sha2-256 hash")]
    InvalidCid { cid: String },
    #[error("{cid} not found in {store}")]
    NotFound { cid: String, store: String },
    #[error(
        "no space left on the device of {path} while storing {bytes} bytes; nothing was written"
    )]
    DiskFull {
        path: PathBuf,
        bytes: usize,
        #[source]
        source: io::Error,
    },
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("content read from {location} does not match {cid} (it hashes to {actual})")]
    Corrupt {
        cid: String,
        actual: String,
        location: String,
    },
    #[error("{url} answered {actual}, but those bytes have CID {expected}")]
    CidMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// The node could not be reached or answered with an error status.
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
}

impl StoreError {
    /// What a caller should do about it:
    /// - `Transient`: the node is unreachable, slow, or answers 5xx, 408 or 429; interrupted
    ///   file I/O.
    /// - `Rejected`: this one read cannot work (a malformed CID, content that is not there).
    /// - `Config`: everything else. A full disk, a permission problem, a node that refuses the
    ///   request (4xx) or computes other CIDs affects every later write: stop and fix it.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Http(err) => match err.class() {
                // A 4xx from the node is about its setup, not about these bytes.
                ErrorClass::Rejected => ErrorClass::Config,
                class => class,
            },
            Self::Io { source, .. } if is_transient_io(source) => ErrorClass::Transient,
            Self::InvalidCid { .. } | Self::NotFound { .. } => ErrorClass::Rejected,
            Self::InvalidSpec { .. }
            | Self::DiskFull { .. }
            | Self::Io { .. }
            | Self::Corrupt { .. }
            | Self::CidMismatch { .. }
            | Self::BadResponse { .. } => ErrorClass::Config,
        }
    }

    /// Whether the same call may succeed later unchanged ([`ErrorClass::Transient`]).
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// How long the node asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http(err) => err.retry_after(),
            _ => None,
        }
    }
}

fn is_transient_io(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn redact_spec(spec: &str) -> String {
    match spec.split_once(':') {
        Some((kind, arg)) => match Url::parse(arg) {
            Ok(url) => format!("{kind}:{}", redact_url(&url)),
            Err(_) if arg.contains('@') => format!("{kind}:***"),
            Err(_) => spec.to_string(),
        },
        None => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            "dir:./images".parse::<StoreSpec>().unwrap(),
            StoreSpec::Dir("./images".into())
        );
        let spec = "ipfs:http://127.0.0.1:5001".parse::<StoreSpec>().unwrap();
        assert_eq!(spec.to_string(), "ipfs:http://127.0.0.1:5001");
        for bad in [
            "",
            "dir",
            "dir:",
            "s3:bucket",
            "ipfs:ftp://x",
            "ipfs:not a url",
        ] {
            assert!(bad.parse::<StoreSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn redacts_credentials() {
        let spec = "ipfs:https://user:s3cret@ipfs.example:5001/base?key=k3y"
            .parse::<StoreSpec>()
            .unwrap();
        let shown = format!("{spec} {spec:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("user") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(
            shown.contains("ipfs:https://ipfs.example:5001/..."),
            "{shown}"
        );
        let err = "ipfs:https://user:s3cret@/"
            .parse::<StoreSpec>()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }

    #[test]
    fn classes() {
        let http = |status| {
            StoreError::Http(HttpError::Status {
                url: "u".into(),
                status,
                message: String::new(),
                code: None,
                retry_after: None,
            })
        };
        assert!(http(503).is_retryable() && http(429).is_retryable());
        assert_eq!(http(400).class(), ErrorClass::Config);
        assert_eq!(http(401).class(), ErrorClass::Config);
        let unreachable = StoreError::Http(HttpError::Unreachable {
            url: "u".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(unreachable.class(), ErrorClass::Transient);
        let full = StoreError::DiskFull {
            path: "/x".into(),
            bytes: 1,
            source: io::Error::from(io::ErrorKind::StorageFull),
        };
        assert_eq!(full.class(), ErrorClass::Config);
        let denied = StoreError::Io {
            op: "write",
            path: "/x".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(denied.class(), ErrorClass::Config);
        let mismatch = StoreError::CidMismatch {
            url: "u".into(),
            expected: "a".into(),
            actual: "b".into(),
        };
        assert_eq!(mismatch.class(), ErrorClass::Config);
        assert_eq!(
            StoreError::InvalidCid { cid: "x".into() }.class(),
            ErrorClass::Rejected
        );
    }
}
