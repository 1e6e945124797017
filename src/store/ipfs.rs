//! `ipfs:URL`: a Kubo-compatible RPC API (Kubo, or js-ipfs for tests).
//!
//! `put` sends `POST /api/v0/add?cid-version=1&raw-leaves=true&chunker=size-262144&pin=true&
//! cid-base=base32` as multipart (the part carries a Content-Type: js-ipfs needs it) and checks
//! the returned `Hash` against [`cid::cid_v1`] of the bytes: a node configured with other import
//! settings is refused instead of silently returning a CID nobody else computes. `get` is
//! `POST /api/v0/cat?arg=CID&timeout=...` (the timeout matters: an offline node waits forever for
//! a block it does not have) and checks the bytes against the CID.
//!
//! Answers may come from Kubo or js-ipfs: `Size` as a string or a number, extra fields, several
//! NDJSON lines. Requests go through [`crate::http`] (timeouts, error classes, redaction).
//! Credentials in the URL (`https://user:pass@host`) are sent as basic auth and never shown.

use super::{BoxFuture, Store, StoreError};
use crate::{
    cid,
    http::{self, HttpError, redact_endpoint, redact_url},
};
use bytes::Bytes;
use reqwest::{Url, multipart};
use std::time::Duration;

/// Timeouts and limits of an [`IpfsStore`].
#[derive(Clone, Debug)]
pub struct IpfsOptions {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, upload or download included.
    pub timeout: Duration,
    /// Largest answer `get` accepts.
    pub max_get_bytes: usize,
}

impl Default for IpfsOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_get_bytes: 256 << 20,
        }
    }
}

/// A client of one node's RPC API.
#[derive(Clone, Debug)]
pub struct IpfsStore {
    /// Base URL ending in `/`, credentials included (never printed).
    api: Url,
    /// `api` redacted, for messages.
    shown: String,
    client: http::Client,
    options: IpfsOptions,
}

impl IpfsStore {
    /// A store talking to the RPC API at `api` (e.g. `http://127.0.0.1:5001`; a trailing
    /// `/api/v0` is accepted). Sends no request.
    pub fn new(api: Url, options: IpfsOptions) -> Result<Self, StoreError> {
        let mut api = api;
        let path = api
            .path()
            .trim_end_matches('/')
            .trim_end_matches("/api/v0")
            .to_string();
        api.set_path(&format!("{path}/"));
        let shown = redact_url(&api);
        let client = http::Client::new(http::Timeouts {
            connect: options.connect_timeout,
            request: options.timeout,
        })?;
        Ok(Self {
            api,
            shown,
            client,
            options,
        })
    }

    /// The URL of `command` with `params`, and how to show it.
    fn endpoint(&self, command: &str, params: &[(&str, &str)]) -> (Url, String) {
        let mut url = self
            .api
            .join(&format!("api/v0/{command}"))
            .expect("a relative path joins");
        url.query_pairs_mut().extend_pairs(params);
        (
            url,
            redact_endpoint(&self.api, &format!("api/v0/{command}")),
        )
    }

    /// Adds `bytes` and pins them; returns the CID, checked against the local computation.
    pub async fn add(&self, bytes: Bytes, name_hint: &str) -> Result<String, StoreError> {
        let expected = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || cid::cid_v1(&bytes))
                .await
                .map_err(|e| StoreError::BadResponse {
                    url: self.shown.clone(),
                    reason: format!("hashing failed: {e}"),
                })?
        };
        let (url, shown) = self.endpoint(
            "add",
            &[
                ("cid-version", "1"),
                ("raw-leaves", "true"),
                ("chunker", "size-262144"),
                ("pin", "true"),
                ("cid-base", "base32"),
                ("progress", "false"),
            ],
        );
        let part = multipart::Part::stream_with_length(bytes.clone(), bytes.len() as u64)
            .file_name(file_name(name_hint))
            .mime_str("application/octet-stream")
            .expect("a valid mime type");
        let form = multipart::Form::new().part("file", part);
        let (_, body) = self
            .client
            .fetch(self.client.post(url).multipart(form), &shown, 1 << 20)
            .await?;
        let actual = parse_add_answer(&body).map_err(|reason| StoreError::BadResponse {
            url: shown.clone(),
            reason,
        })?;
        if actual != expected {
            return Err(StoreError::CidMismatch {
                url: shown,
                expected,
                actual,
            });
        }
        tracing::debug!(cid = %actual, bytes = bytes.len(), api = %self.shown, "added and pinned");
        Ok(actual)
    }

    /// Reads the file of `cid` (`cat`), checked against the CID.
    pub async fn cat(&self, cid: &str) -> Result<Bytes, StoreError> {
        cid::parse_cid_v1(cid).ok_or_else(|| StoreError::InvalidCid {
            cid: cid.to_string(),
        })?;
        let node_timeout = format!("{}ms", self.options.timeout.as_millis());
        let (url, shown) = self.endpoint("cat", &[("arg", cid), ("timeout", &node_timeout)]);
        let response = match self.client.send(self.client.post(url), &shown).await {
            Ok(response) => response,
            // Kubo says "context deadline exceeded" / js-ipfs "request timed out" for a block
            // it cannot find, and "not found" when offline.
            Err(HttpError::Status { message, .. }) if is_not_found(&message) => {
                return Err(StoreError::NotFound {
                    cid: cid.to_string(),
                    store: self.describe(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        let bytes = self
            .client
            .read(response, &shown, self.options.max_get_bytes)
            .await?;
        let owned = bytes.clone();
        let actual = tokio::task::spawn_blocking(move || cid::cid_v1(&owned))
            .await
            .map_err(|e| StoreError::BadResponse {
                url: shown.clone(),
                reason: format!("hashing failed: {e}"),
            })?;
        if actual != cid {
            return Err(StoreError::Corrupt {
                cid: cid.to_string(),
                actual,
                location: shown,
            });
        }
        Ok(bytes)
    }
}

impl Store for IpfsStore {
    fn health(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let (url, shown) = self.endpoint("version", &[]);
            self.client
                .fetch(self.client.post(url), &shown, 64 << 10)
                .await?;
            Ok(())
        })
    }

    fn put(&self, bytes: Bytes, name_hint: &str) -> BoxFuture<'_, Result<String, StoreError>> {
        let name = name_hint.to_string();
        Box::pin(async move { self.add(bytes, &name).await })
    }

    fn get(&self, cid: &str) -> BoxFuture<'_, Result<Bytes, StoreError>> {
        let cid = cid.to_string();
        Box::pin(async move { self.cat(&cid).await })
    }

    fn describe(&self) -> String {
        format!("ipfs {}", self.shown)
    }
}

fn is_not_found(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["not found", "deadline exceeded", "timed out", "timeout"]
        .iter()
        .any(|s| lower.contains(s))
}

/// A file name for the multipart part: the hint's safe characters, or `file`.
fn file_name(hint: &str) -> String {
    let name: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.trim_matches('.').is_empty() {
        "file".into()
    } else {
        name
    }
}

/// The `Hash` of the last NDJSON object that has one (Kubo and js-ipfs print one per file,
/// possibly after progress lines).
fn parse_add_answer(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "answer is not UTF-8".to_string())?;
    let mut hash = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|_| format!("not JSON: {}", http::excerpt(text)))?;
        if let Some(h) = value.get("Hash").and_then(|h| h.as_str()) {
            hash = Some(h.to_string());
        }
    }
    hash.ok_or_else(|| format!("no Hash in the answer: {}", http::excerpt(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubo_and_js_ipfs_answers() {
        let kubo = br#"{"Name":"a.png","Hash":"bafkreiabc","Size":"12"}"#;
        let js = b"{\"Name\":\"a.png\",\"Hash\":\"bafkreiabc\",\"Size\":12,\"Mode\":\"0644\"}\n";
        let progress = concat!(
            r#"{"Name":"a.png","Bytes":12}"#,
            "\n",
            r#"{"Name":"a.png","Hash":"bafkreiabc","Size":"12"}"#,
            "\n"
        )
        .as_bytes();
        for body in [&kubo[..], js, progress] {
            assert_eq!(parse_add_answer(body).unwrap(), "bafkreiabc");
        }
        assert!(parse_add_answer(b"").is_err());
        let err = parse_add_answer(b"<html><body>\n<h1>502</h1>").unwrap_err();
        assert_eq!(err, "not JSON: (an HTML page)");
    }

    #[test]
    fn missing_blocks_are_recognised() {
        assert!(is_not_found("context deadline exceeded"));
        assert!(is_not_found("request timed out"));
        assert!(!is_not_found("pin: boom"));
    }

    #[test]
    fn endpoints_and_names() {
        let with_creds = Url::parse("https://u:p@node.example/api/v0/").unwrap();
        let store = IpfsStore::new(with_creds, IpfsOptions::default()).unwrap();
        let (url, shown) = store.endpoint("add", &[("pin", "true")]);
        assert_eq!(url.as_str(), "https://u:p@node.example/api/v0/add?pin=true");
        assert_eq!(shown, "https://node.example/api/v0/add");
        assert_eq!(store.describe(), "ipfs https://node.example");
        let with_path = Url::parse("https://node.example/KEY/").unwrap();
        let store = IpfsStore::new(with_path, IpfsOptions::default()).unwrap();
        assert_eq!(
            store.endpoint("cat", &[]).1,
            "https://node.example/.../api/v0/cat"
        );
        assert_eq!(file_name("42.png"), "42.png");
        assert_eq!(file_name("../a b"), ".._a_b");
        assert_eq!(file_name(".."), "file");
    }
}
