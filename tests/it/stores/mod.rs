//! The image pipeline's parts as the provider and `genim serve` use them: stores here,
//! generators in [`generators`], the whole pipeline in [`pipeline`].
//!
//! - `dir` store: the CIDs `ipfs add --cid-version=1` prints for the reference files.
//! - `ipfs` store: against a real node (js-ipfs from tests/ipfs) at `GENIM_TEST_IPFS_API`:
//!   `export GENIM_TEST_IPFS_API=$(script/ipfs-node.sh start)`; `GENIM_SKIP_IPFS=1` skips.
//!   Its failure modes (5xx pages, a node computing other CIDs) against the Kubo mock.

pub(crate) mod generators;
mod pipeline;

use crate::mock::{Fault, MockServer, Route, refused_url};
use bytes::Bytes;
use genim::{
    cid,
    generate::{LocalGenerator, Size},
    http::HttpError,
    retry::ErrorClass,
    store::{DirStore, IpfsOptions, IpfsStore, Store, StoreError, from_spec},
};
use reqwest::Url;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const SMALL_CID: &str = "bafkreiae7bpbyzngpm2gbt4wjnpyfdlwb66yznev5gwkbht66vymkkhalu";
const LARGE_CID: &str = "bafybeifep32tggaltdfo4lxsr73j6l5vq3lbpjh6mcs3oi5tiwrnvhx3wu";
const EMPTY_CID: &str = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

// ---------------------------------------------------------------------------------------------
// Reference files: Python's random.Random(42).getrandbits(8) stream.

/// MT19937 seeded like Python's `random.Random(seed)` for a small int seed.
struct PyRandom {
    state: [u32; 624],
    index: usize,
}

impl PyRandom {
    fn new(seed: u32) -> Self {
        let mut s = [0u32; 624];
        s[0] = 19_650_218;
        for i in 1..624 {
            s[i] = 1_812_433_253u32
                .wrapping_mul(s[i - 1] ^ (s[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        let mut i = 1;
        for _ in 0..624 {
            s[i] =
                (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_664_525)).wrapping_add(seed);
            i += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
        }
        for _ in 0..623 {
            s[i] = (s[i] ^ (s[i - 1] ^ (s[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                s[0] = s[623];
                i = 1;
            }
        }
        s[0] = 0x8000_0000;
        Self {
            state: s,
            index: 624,
        }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % 624] & 0x7fff_ffff);
                self.state[k] = self.state[(k + 397) % 624]
                    ^ (y >> 1)
                    ^ if y & 1 == 1 { 0x9908_b0df } else { 0 };
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next_u32() >> 24) as u8).collect()
    }
}

/// The first 102400 bytes and the next 1572864 bytes of the stream.
fn reference_files() -> (Bytes, Bytes) {
    let mut rng = PyRandom::new(42);
    let small = rng.bytes(102_400);
    let large = rng.bytes(1_572_864);
    (small.into(), large.into())
}

// ---------------------------------------------------------------------------------------------
// dir store

#[tokio::test]
async fn dir_store_gives_kubo_cids_and_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = format!("dir:{}", tmp.path().join("images").display());
    let store: Arc<dyn Store> = from_spec(&spec).unwrap();
    let (small, large) = reference_files();
    for (bytes, expected) in [
        (small, SMALL_CID),
        (large, LARGE_CID),
        (Bytes::new(), EMPTY_CID),
    ] {
        let cid = store.put(bytes.clone(), "file.bin").await.unwrap();
        assert_eq!(cid, expected);
        assert_eq!(store.get(&cid).await.unwrap(), bytes);
        // Saved under the CID, nothing else.
        assert_eq!(
            std::fs::read(tmp.path().join("images").join(&cid)).unwrap(),
            bytes
        );
    }
    let mut names: Vec<_> = std::fs::read_dir(tmp.path().join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected = vec![SMALL_CID, LARGE_CID, EMPTY_CID];
    expected.sort();
    assert_eq!(names, expected);
    assert!(store.describe().starts_with("dir "));
}

#[tokio::test]
async fn dir_store_concurrent_puts_of_the_same_bytes_leave_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(DirStore::open(tmp.path()).unwrap());
    let bytes = Bytes::from(vec![42u8; 300_000]);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, bytes) = (store.clone(), bytes.clone());
            tokio::spawn(async move { store.put(bytes, "x").await.unwrap() })
        })
        .collect();
    let mut cids = Vec::new();
    for task in tasks {
        cids.push(task.await.unwrap());
    }
    cids.dedup();
    assert_eq!(cids, [cid::cid_v1(&bytes)]);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temporary files left: {names:?}");
}

#[tokio::test]
async fn dir_store_rejects_bad_and_missing_cids() {
    let tmp = tempfile::tempdir().unwrap();
    let store = from_spec(&format!("dir:{}", tmp.path().display())).unwrap();
    let err = store.get("../../etc/passwd").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidCid { .. }), "{err}");
    let err = store.get(SMALL_CID).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(SMALL_CID), "{err}");
}

// ---------------------------------------------------------------------------------------------
// ipfs store against a real node

/// The test node's API URL, or `None` when `GENIM_SKIP_IPFS=1`. Fails with instructions otherwise.
pub(crate) fn ipfs_api() -> Option<Url> {
    match std::env::var("GENIM_TEST_IPFS_API") {
        Ok(url) if !url.trim().is_empty() => {
            Some(Url::parse(url.trim()).expect("GENIM_TEST_IPFS_API is a URL"))
        }
        _ if std::env::var("GENIM_SKIP_IPFS").as_deref() == Ok("1") => {
            eprintln!("GENIM_SKIP_IPFS=1: skipping the IPFS store test");
            None
        }
        _ => panic!(
            "GENIM_TEST_IPFS_API is not set. Start the test IPFS node first:\n    \
             export GENIM_TEST_IPFS_API=\"$(script/ipfs-node.sh start)\"\n\
             (stop it with `script/ipfs-node.sh stop`), or set GENIM_SKIP_IPFS=1 to skip."
        ),
    }
}

#[tokio::test]
async fn ipfs_store_matches_dir_store_and_round_trips() {
    let Some(api) = ipfs_api() else { return };
    let ipfs: Arc<dyn Store> = from_spec(&format!("ipfs:{api}")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir: Arc<dyn Store> = Arc::new(DirStore::open(tmp.path()).unwrap());
    let (small, large) = reference_files();
    let png = LocalGenerator::new(Size::DEFAULT_LOCAL)
        .unwrap()
        .generate_blocking("ipfs test")
        .unwrap()
        .bytes;
    let cases = [
        ("small", small, Some(SMALL_CID)),
        ("multi-chunk", large, Some(LARGE_CID)),
        ("empty", Bytes::new(), Some(EMPTY_CID)),
        ("png", png, None),
        ("json", Bytes::from_static(br#"{"name":"GenIm #1"}"#), None),
    ];
    for (what, bytes, expected) in cases {
        let from_ipfs = ipfs
            .put(bytes.clone(), &format!("{what}.bin"))
            .await
            .unwrap();
        let from_dir = dir.put(bytes.clone(), what).await.unwrap();
        assert_eq!(from_ipfs, from_dir, "{what}");
        if let Some(expected) = expected {
            assert_eq!(from_ipfs, expected, "{what}");
        }
        assert_eq!(ipfs.get(&from_ipfs).await.unwrap(), bytes, "{what}");
    }
}

#[tokio::test]
async fn ipfs_store_missing_cid_is_not_found_quickly() {
    let Some(api) = ipfs_api() else { return };
    let options = IpfsOptions {
        timeout: Duration::from_secs(3),
        ..IpfsOptions::default()
    };
    let ipfs = IpfsStore::new(api, options).unwrap();
    let missing = cid::cid_v1(b"this block was never added to the test node");
    let started = Instant::now();
    let err = ipfs.cat(&missing).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            StoreError::NotFound { .. } | StoreError::Http(HttpError::Timeout { .. })
        ),
        "unexpected error: {err:?}"
    );
}

#[tokio::test]
async fn ipfs_store_unreachable_is_transient_and_hides_credentials() {
    let mut url = refused_url().await;
    url.set_username("alice").unwrap();
    url.set_password(Some("s3cret")).unwrap();
    let port = url.port().unwrap();
    let store = from_spec(&format!("ipfs:{url}")).unwrap();
    assert_eq!(store.describe(), format!("ipfs http://127.0.0.1:{port}"));
    let err = store.put(Bytes::from_static(b"x"), "x").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    assert!(err.is_retryable());
    let shown = format!("{err} {err:?}");
    assert!(
        err.to_string().contains(&format!(
            "cannot reach http://127.0.0.1:{port}/api/v0/add: connection refused"
        )),
        "{shown}"
    );
    assert!(
        !shown.contains("s3cret") && !shown.contains("alice"),
        "{shown}"
    );
}

#[tokio::test]
async fn ipfs_store_against_the_kubo_mock_round_trips() {
    let node = MockServer::ipfs().await;
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    let (small, _) = reference_files();
    let cid = store.put(small.clone(), "small.bin").await.unwrap();
    assert_eq!(cid, SMALL_CID);
    assert_eq!(store.get(&cid).await.unwrap(), small);
    let add = &node.requests_to(Route::Add)[0];
    for param in [
        "cid-version=1",
        "raw-leaves=true",
        "chunker=size-262144",
        "pin=true",
    ] {
        assert!(add.path.contains(param), "{} lacks {param}", add.path);
    }
}

#[tokio::test]
async fn ipfs_store_outage_is_transient_with_a_one_line_reason() {
    let node = MockServer::ipfs().await;
    node.fail_next(Route::Add, [Fault::HtmlPage(502), Fault::ServerError(503)]);
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    // A proxy's HTML error page: named as such, not pasted into the message.
    let err = store.put(Bytes::from_static(b"x"), "x").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}/api/v0/add answered HTTP 502: (an HTML page)",
            node.base()
        )
    );
    let err = store.put(Bytes::from_static(b"x"), "x").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}/api/v0/add answered HTTP 503: mock failure", node.base())
    );
    // The outage is over.
    assert_eq!(
        store.put(Bytes::from_static(b"x"), "x").await.unwrap(),
        cid::cid_v1(b"x")
    );
}

#[tokio::test]
async fn ipfs_node_with_other_cids_is_a_config_error() {
    let node = MockServer::ipfs().await;
    node.fail_next(Route::Add, [Fault::CidMismatch]);
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    let err = store.put(Bytes::from_static(b"x"), "x").await.unwrap_err();
    assert!(matches!(err, StoreError::CidMismatch { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Config);
    assert!(err.to_string().contains(&cid::cid_v1(b"x")), "{err}");
}

#[tokio::test]
async fn ipfs_store_missing_cid_on_the_mock_is_not_found() {
    let node = MockServer::ipfs().await;
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    let err = store.get(SMALL_CID).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Rejected);
}
