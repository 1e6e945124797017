//! Stores and generators as the provider uses them.
//!
//! - `dir` store: the CIDs `ipfs add --cid-version=1` prints for the reference files.
//! - `ipfs` store: against a real node (js-ipfs from tests/ipfs) at `GENIM_TEST_IPFS_API`:
//!   `export GENIM_TEST_IPFS_API=$(script/ipfs-node.sh start)`; `GENIM_SKIP_IPFS=1` skips.
//! - `openai` and `bfl` generators: against a small mock HTTP server on 127.0.0.1.
//! - `local` generator: real PNGs, deterministic per prompt.

use bytes::Bytes;
use genim::{
    cid,
    generate::{
        ApiKey, BflGenerator, BflOptions, GenerateError, Generator, GeneratorConfig, GeneratorKind,
        LocalGenerator, OpenAiGenerator, OpenAiOptions, Size, Timeouts, inspect_image,
    },
    store::{DirStore, IpfsOptions, IpfsStore, Store, StoreError, from_spec},
};
use reqwest::Url;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
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
            StoreError::NotFound { .. } | StoreError::Timeout { .. }
        ),
        "unexpected error: {err:?}"
    );
}

#[tokio::test]
async fn ipfs_store_unreachable_is_retryable_and_hides_credentials() {
    // Port 9 (discard) on loopback: nothing listens there.
    let store = from_spec("ipfs:http://alice:s3cret@127.0.0.1:9").unwrap();
    assert_eq!(store.describe(), "ipfs http://***@127.0.0.1:9/");
    let err = store.put(Bytes::from_static(b"x"), "x").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("127.0.0.1:9/api/v0/add"), "{shown}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("alice"),
        "{shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// A mock HTTP/1.1 server for the generator APIs.

#[derive(Clone, Debug)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string().into_bytes(),
            headers: vec![],
            delay: Duration::ZERO,
        }
    }

    fn bytes(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type,
            body: body.into(),
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
}

type Handler = dyn Fn(&Request, &str) -> Reply + Send + Sync;

/// Serves `handler(request, base_url)` on 127.0.0.1 and records every request.
struct MockServer {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    async fn start(handler: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (rec, b) = (requests.clone(), base.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (handler, rec, base) = (handler.clone(), rec.clone(), b.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    rec.lock().unwrap().push(request.clone());
                    let reply = handler(&request, &base);
                    tokio::time::sleep(reply.delay).await;
                    let mut head = format!(
                        "HTTP/1.1 {} Mock\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n",
                        reply.status,
                        reply.content_type,
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&reply.body).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            base,
            requests,
            task,
        }
    }

    fn url(&self) -> Url {
        Url::parse(&self.base).unwrap()
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

fn test_png(prompt: &str) -> Vec<u8> {
    let generator = LocalGenerator::new(Size {
        width: 64,
        height: 48,
    })
    .unwrap();
    generator.generate_blocking(prompt).unwrap().bytes.to_vec()
}

fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
        overall: Duration::from_secs(10),
    }
}

fn openai(server: &MockServer, model: &str) -> OpenAiGenerator {
    let options = OpenAiOptions {
        base_url: server.url(),
        model: model.into(),
        size: Size {
            width: 256,
            height: 256,
        },
        timeouts: fast_timeouts(),
    };
    OpenAiGenerator::new(options, Some(ApiKey::new("sk-test-secret"))).unwrap()
}

// ---------------------------------------------------------------------------------------------
// openai generator

#[tokio::test]
async fn openai_b64_json() {
    let png = test_png("fox");
    let answer = b64(&png);
    let server = MockServer::start(
        move |req, _| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/v1/images/generations") => Reply::json(
                200,
                serde_json::json!({"created": 1, "data": [{"b64_json": answer}]}),
            ),
            _ => Reply::json(404, serde_json::json!({"error": {"message": "no route"}})),
        },
    )
    .await;
    let generator: Arc<dyn Generator> = Arc::new(openai(&server, "dall-e-2"));
    let image = generator.generate("a red fox").await.unwrap();
    assert_eq!(&image.bytes[..], &png[..]);
    assert_eq!(
        (image.mime, image.width, image.height),
        ("image/png", 64, 48)
    );
    assert_eq!(
        (image.model.as_str(), image.generator),
        ("dall-e-2", GeneratorKind::OpenAi)
    );
    assert_eq!(image.extension(), "png");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-secret")
    );
    assert_eq!(
        requests[0].json(),
        serde_json::json!({"model": "dall-e-2", "prompt": "a red fox", "size": "256x256", "n": 1,
                           "response_format": "b64_json"})
    );
    assert!(!format!("{generator:?} {}", generator.describe()).contains("sk-test-secret"));
}

#[tokio::test]
async fn openai_gpt_image_models_get_no_response_format() {
    let answer = b64(&test_png("gpt"));
    let server = MockServer::start(move |_, _| {
        Reply::json(200, serde_json::json!({"data": [{"b64_json": answer}]}))
    })
    .await;
    openai(&server, "gpt-image-1").generate("x").await.unwrap();
    assert!(server.requests()[0].json().get("response_format").is_none());
}

#[tokio::test]
async fn openai_url_answer_is_downloaded_without_the_key() {
    let png = test_png("url");
    let served = png.clone();
    let server = MockServer::start(move |req, base| match req.path.as_str() {
        "/v1/images/generations" => Reply::json(
            200,
            serde_json::json!({"data": [{"url": format!("{base}/files/img.png?sig=abc")}]}),
        ),
        "/files/img.png?sig=abc" => Reply::bytes("image/png", served.clone()),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let image = openai(&server, "dall-e-3").generate("x").await.unwrap();
    assert_eq!(&image.bytes[..], &png[..]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (
            requests[1].method.as_str(),
            requests[1].header("authorization")
        ),
        ("GET", None)
    );
}

#[tokio::test]
async fn openai_500_then_200_is_retryable() {
    let calls = Arc::new(AtomicUsize::new(0));
    let answer = b64(&test_png("retry"));
    let counter = calls.clone();
    let server = MockServer::start(move |_, _| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(
                500,
                serde_json::json!({"error": {"message": "The server had an error"}}),
            )
        } else {
            Reply::json(200, serde_json::json!({"data": [{"b64_json": answer}]}))
        }
    })
    .await;
    let generator = openai(&server, "dall-e-2");
    let err = generator.generate("x").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        matches!(err, GenerateError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("The server had an error"), "{err}");
    // What the provider loop does next: try again.
    generator.generate("x").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn openai_errors_are_classified() {
    let server = MockServer::start(|req, _| match req.json()["prompt"].as_str().unwrap() {
        "bad request" => Reply::json(
            400,
            serde_json::json!({"error": {"message": "Invalid size"}}),
        ),
        "rate limited" => {
            let mut reply =
                Reply::json(429, serde_json::json!({"error": {"message": "slow down"}}));
            reply.headers.push(("Retry-After", "7".into()));
            reply
        }
        "not an image" => Reply::json(
            200,
            serde_json::json!({"data": [{"b64_json": b64(b"<html>oops</html>")}]}),
        ),
        "not json" => Reply::bytes("text/html", "<html>gateway</html>"),
        "slow" => {
            let mut reply = Reply::json(200, serde_json::json!({"data": []}));
            reply.delay = Duration::from_secs(3);
            reply
        }
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let generator = openai(&server, "dall-e-2");

    let err = generator.generate("bad request").await.unwrap_err();
    assert!(
        !err.is_retryable() && err.to_string().contains("Invalid size"),
        "{err:?}"
    );

    let err = generator.generate("rate limited").await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

    let err = generator.generate("not an image").await.unwrap_err();
    assert!(
        matches!(err, GenerateError::InvalidImage { .. }) && !err.is_retryable(),
        "{err:?}"
    );

    let err = generator.generate("not json").await.unwrap_err();
    assert!(
        matches!(err, GenerateError::BadResponse { .. }) && !err.is_retryable(),
        "{err:?}"
    );

    let quick = OpenAiGenerator::new(
        OpenAiOptions {
            base_url: server.url(),
            model: "dall-e-2".into(),
            size: Size::DEFAULT_REMOTE,
            timeouts: Timeouts {
                overall: Duration::from_millis(500),
                ..fast_timeouts()
            },
        },
        None,
    )
    .unwrap();
    let started = Instant::now();
    let err = quick.generate("slow").await.unwrap_err();
    assert!(
        matches!(err, GenerateError::Timeout { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// bfl generator

fn bfl(server: &MockServer, poll_interval: Duration) -> BflGenerator {
    let options = BflOptions {
        base_url: server.url(),
        model: "flux-dev".into(),
        size: Size {
            width: 512,
            height: 768,
        },
        timeouts: fast_timeouts(),
        poll_interval,
    };
    BflGenerator::new(options, ApiKey::new("bfl-test-key")).unwrap()
}

/// A BFL mock: the task is `Pending` for `pending` polls (the first poll fails with 503 when
/// `flaky`), then ends with `final_status`.
async fn bfl_server(pending: usize, flaky: bool, final_status: &'static str) -> MockServer {
    let png = test_png("bfl");
    let polls = AtomicUsize::new(0);
    MockServer::start(
        move |req, base| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/v1/flux-dev") => {
                let polling_url = format!("{base}/v1/get_result?id=task-1");
                Reply::json(
                    200,
                    serde_json::json!({"id": "task-1", "polling_url": polling_url}),
                )
            }
            ("GET", "/v1/get_result?id=task-1") => {
                let n = polls.fetch_add(1, Ordering::SeqCst);
                if flaky && n == 0 {
                    return Reply::json(503, serde_json::json!({"detail": "busy"}));
                }
                if n < pending {
                    return Reply::json(
                        200,
                        serde_json::json!({"id": "task-1", "status": "Pending"}),
                    );
                }
                match final_status {
                    "Ready" => Reply::json(
                        200,
                        serde_json::json!({"id": "task-1", "status": "Ready",
                        "result": {"sample": format!("{base}/delivery/task-1.png?se=1&sig=x")}}),
                    ),
                    other => Reply::json(
                        200,
                        serde_json::json!({"id": "task-1", "status": other,
                                       "details": {"Moderation Reasons": ["test"]}}),
                    ),
                }
            }
            ("GET", "/delivery/task-1.png?se=1&sig=x") => Reply::bytes("image/png", png.clone()),
            _ => Reply::json(404, serde_json::json!({"detail": "Not Found"})),
        },
    )
    .await
}

#[tokio::test]
async fn bfl_submits_polls_and_downloads() {
    let server = bfl_server(3, true, "Ready").await;
    let generator: Arc<dyn Generator> = Arc::new(bfl(&server, Duration::from_millis(10)));
    let image = generator.generate("a castle").await.unwrap();
    assert_eq!(&image.bytes[..], &test_png("bfl")[..]);
    assert_eq!(
        (image.generator, image.model.as_str()),
        (GeneratorKind::Bfl, "flux-dev")
    );

    let requests = server.requests();
    let submit = &requests[0];
    assert_eq!(submit.header("x-key"), Some("bfl-test-key"));
    assert_eq!(
        submit.json(),
        serde_json::json!({"prompt": "a castle", "width": 512, "height": 768})
    );
    let polls: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/v1/get_result"))
        .collect();
    assert_eq!(polls.len(), 4, "503, 2 x Pending, Ready");
    assert!(
        polls
            .iter()
            .all(|r| r.header("x-key") == Some("bfl-test-key"))
    );
    let download = requests.last().unwrap();
    assert!(download.path.starts_with("/delivery/"));
    assert_eq!(
        download.header("x-key"),
        None,
        "the key must not go to the download URL"
    );
}

#[tokio::test]
async fn bfl_moderation_is_permanent() {
    for status in ["Content Moderated", "Request Moderated"] {
        let server = bfl_server(1, false, status).await;
        let err = bfl(&server, Duration::from_millis(5))
            .generate("x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, GenerateError::Moderated { .. }) && !err.is_retryable(),
            "{err:?}"
        );
        assert!(err.to_string().contains(status), "{err}");
    }
}

#[tokio::test]
async fn bfl_task_error_is_retryable() {
    let server = bfl_server(0, false, "Error").await;
    let err = bfl(&server, Duration::from_millis(5))
        .generate("x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GenerateError::Failed { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn bfl_polling_is_bounded_by_the_overall_timeout() {
    let server = bfl_server(usize::MAX, false, "Ready").await;
    let mut options = BflOptions {
        base_url: server.url(),
        model: "flux-dev".into(),
        size: Size::DEFAULT_REMOTE,
        timeouts: fast_timeouts(),
        poll_interval: Duration::from_millis(20),
    };
    options.timeouts.overall = Duration::from_millis(300);
    let err = BflGenerator::new(options, ApiKey::new("k"))
        .unwrap()
        .generate("x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GenerateError::Timeout { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn bfl_key_is_not_sent_to_a_foreign_polling_url() {
    let server = MockServer::start(|req, _| match req.path.as_str() {
        "/v1/flux-dev" => Reply::json(
            200,
            serde_json::json!({"id": "t", "polling_url": "http://127.0.0.2:9/poll"}),
        ),
        _ => Reply::json(404, serde_json::json!({})),
    })
    .await;
    let err = bfl(&server, Duration::from_millis(5))
        .generate("x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GenerateError::BadResponse { .. }) && !err.is_retryable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("not on the API's site"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// local generator

#[tokio::test]
async fn local_generator_makes_deterministic_pngs() {
    let generator =
        genim::generate::from_config(&GeneratorConfig::new(GeneratorKind::Local)).unwrap();
    assert_eq!(
        generator.size(),
        Size {
            width: 512,
            height: 512
        }
    );
    let a = generator.generate("a lighthouse in a storm").await.unwrap();
    let b = generator.generate("a lighthouse in a storm").await.unwrap();
    let c = generator.generate("a lighthouse in the sun").await.unwrap();
    assert_eq!(a, b);
    assert_ne!(a.bytes, c.bytes);
    for image in [&a, &c] {
        let info = inspect_image(&image.bytes).unwrap();
        assert_eq!(
            (info.mime, info.width, info.height),
            ("image/png", 512, 512)
        );
        assert_eq!(
            (image.width, image.height, image.generator),
            (512, 512, GeneratorKind::Local)
        );
    }
    // A real picture, not a flat colour: many distinct pixels.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&a.bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    let distinct: std::collections::HashSet<_> = pixels.chunks(3).collect();
    assert!(distinct.len() > 1000, "only {} colours", distinct.len());
}

/// Benchmark (release build):
/// `cargo test --release --test it -- --ignored --nocapture stores::speed`
#[tokio::test]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
async fn speed() {
    let generator = LocalGenerator::new(Size::DEFAULT_LOCAL).unwrap();
    let runs = 50;
    let started = Instant::now();
    let mut total = 0;
    for i in 0..runs {
        total += generator
            .generate_blocking(&format!("prompt {i}"))
            .unwrap()
            .bytes
            .len();
    }
    let per = started.elapsed() / runs;
    println!(
        "local 512x512 PNG: {per:?} per image, {} bytes on average",
        total / runs as usize
    );

    let tmp = tempfile::tempdir().unwrap();
    let store = DirStore::open(tmp.path()).unwrap();
    for (label, size) in [
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
        ("16 MiB", 16 << 20),
    ] {
        let runs = 10u32;
        let started = Instant::now();
        for i in 0..runs {
            let mut bytes = vec![0u8; size];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            store.put(bytes.into(), "x").await.unwrap();
        }
        println!(
            "dir store put {label}: {:?} per file (hash + write + 2 fsyncs)",
            started.elapsed() / runs
        );
    }
}
