//! The one HTTP layer of the generators and stores: a client with connect and request
//! timeouts, one `send` that turns every failure into a typed [`HttpError`], a bounded body
//! read, and the redaction rules for URLs and error bodies.
//!
//! Secrets never leave through this module: URLs are shown as `scheme://host[:port]/...`
//! ([`redact_url`]: paths and queries often carry API keys), error bodies as a one-line
//! [`excerpt`], and key headers are marked sensitive ([`secret_header`]) so that no log level
//! prints them. Redirects are followed only on the same host, so a key header never follows a
//! redirect to another site (reqwest drops `Authorization` there, but not `x-key`).

use crate::retry::ErrorClass;
use bytes::Bytes;
use reqwest::{
    RequestBuilder, Response, StatusCode, Url,
    header::{HeaderMap, HeaderValue},
    redirect,
};
use std::{error::Error as _, io, time::Duration};

/// Timeouts of one [`Client`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to establish a connection.
    pub connect: Duration,
    /// Time for one whole request, the body of the answer included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(120),
        }
    }
}

/// Bytes of an error body read for its [`excerpt`]; the rest is not needed.
const ERROR_BODY_LIMIT: usize = 16 << 10;
/// Characters of an [`excerpt`].
const EXCERPT_CHARS: usize = 200;

/// An HTTP failure, naming the (redacted) URL involved. [`class`](Self::class) says what a
/// caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No connection: refused, DNS, TLS handshake.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// No complete answer in time.
    #[error("{url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
    /// The connection broke after it was made (reset, truncated answer).
    #[error("connection to {url} broke: {reason}")]
    Broken { url: String, reason: String },
    /// An answer with a status other than 2xx.
    #[error("{url} answered HTTP {status}{}", colon(.message))]
    Status {
        url: String,
        status: u16,
        /// A one-line [`excerpt`] of the body.
        message: String,
        /// The error code of a JSON body (`error.code`, `code`), e.g. `content_policy_violation`.
        code: Option<String>,
        /// What `Retry-After` asked for, if anything.
        retry_after: Option<Duration>,
    },
    /// The answer is larger than the caller accepts.
    #[error("the answer of {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    /// The client could not be built (TLS backend missing, ...).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

fn colon(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl HttpError {
    /// What a caller should do, without knowing more about the request:
    /// - [`Transient`](ErrorClass::Transient): unreachable, timeout, broken connection, HTTP 408,
    ///   425, 429 and 5xx: the same request may work later.
    /// - [`Config`](ErrorClass::Config): HTTP 3xx (a redirect that was not followed), 401, 402,
    ///   403, 404, 405, 407 (key, credit, URL or model wrong), a too large answer, no client:
    ///   every request fails the same way until the operator acts.
    /// - [`Rejected`](ErrorClass::Rejected): other 4xx: this request is refused.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Broken { .. } => {
                ErrorClass::Transient
            }
            Self::Status { status, .. } => status_class(*status),
            Self::TooLarge { .. } | Self::Client(_) => ErrorClass::Config,
        }
    }

    /// The HTTP status, for [`Status`](Self::Status).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked to wait (`Retry-After` of a 429 or 503), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The [`ErrorClass`] of an HTTP status (see [`HttpError::class`]).
pub fn status_class(status: u16) -> ErrorClass {
    match status {
        408 | 425 | 429 | 500..=599 => ErrorClass::Transient,
        300..=399 | 401 | 402 | 403 | 404 | 405 | 407 => ErrorClass::Config,
        _ => ErrorClass::Rejected,
    }
}

/// An HTTP client with timeouts, same-host redirects only, rustls and genim's user agent.
#[derive(Clone, Debug)]
pub struct Client {
    inner: reqwest::Client,
    timeouts: Timeouts,
}

impl Client {
    /// Builds the client (sends nothing).
    pub fn new(timeouts: Timeouts) -> Result<Self, HttpError> {
        let same_host = redirect::Policy::custom(|attempt| {
            let first = attempt.previous().first().and_then(Url::host_str);
            let same = first.is_some() && attempt.url().host_str() == first;
            if attempt.previous().len() > 5 {
                attempt.error("more than 5 redirects")
            } else if same {
                attempt.follow()
            } else {
                // Answered as the 3xx itself: a config error naming the original URL.
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .redirect(same_host)
            .user_agent(concat!("genim/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Client(e.without_url().to_string()))?;
        Ok(Self { inner, timeouts })
    }

    /// The timeouts it was built with.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A GET request to `url`.
    pub fn get(&self, url: Url) -> RequestBuilder {
        self.inner.get(url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: Url) -> RequestBuilder {
        self.inner.post(url)
    }

    /// A request with any method to `url`.
    pub fn request(&self, method: reqwest::Method, url: Url) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends `request` and returns the answer whatever its status (an x402 client reads the
    /// 402 itself); only transport failures are errors.
    pub async fn send_any(
        &self,
        request: RequestBuilder,
        shown: &str,
    ) -> Result<Response, HttpError> {
        request
            .send()
            .await
            .map_err(|e| self.transport_error(&e, shown))
    }

    /// Sends `request`; `shown` names it in errors (a redacted URL). A 2xx answer is returned
    /// with its body unread; any other status becomes [`HttpError::Status`] with an excerpt of
    /// the body.
    pub async fn send(&self, request: RequestBuilder, shown: &str) -> Result<Response, HttpError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(&e, shown))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(parse_retry_after);
        let body = self.read_prefix(response, ERROR_BODY_LIMIT).await;
        let text = String::from_utf8_lossy(&body);
        Err(HttpError::Status {
            url: shown.to_string(),
            status: status.as_u16(),
            message: excerpt_or_reason(&text, status),
            code: error_code(&text),
            retry_after,
        })
    }

    /// Reads the whole body of `response`, refusing more than `limit` bytes.
    pub async fn read(
        &self,
        mut response: Response,
        shown: &str,
        limit: usize,
    ) -> Result<Bytes, HttpError> {
        let too_large = || HttpError::TooLarge {
            url: shown.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e, shown))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.into())
    }

    /// [`send`](Self::send) then [`read`](Self::read): the headers and body of a 2xx answer.
    pub async fn fetch(
        &self,
        request: RequestBuilder,
        shown: &str,
        limit: usize,
    ) -> Result<(HeaderMap, Bytes), HttpError> {
        let response = self.send(request, shown).await?;
        let headers = response.headers().clone();
        Ok((headers, self.read(response, shown, limit).await?))
    }

    /// Up to `limit` bytes of the body, ignoring errors (for error excerpts only).
    async fn read_prefix(&self, mut response: Response, limit: usize) -> Vec<u8> {
        let mut body = Vec::new();
        while body.len() < limit {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(limit);
        body
    }

    fn transport_error(&self, err: &reqwest::Error, shown: &str) -> HttpError {
        let url = shown.to_string();
        if err.is_timeout() {
            let after = if err.is_connect() {
                self.timeouts.connect
            } else {
                self.timeouts.request
            };
            return HttpError::Timeout { url, after };
        }
        let reason = transport_reason(err);
        if err.is_connect() {
            HttpError::Unreachable { url, reason }
        } else {
            HttpError::Broken { url, reason }
        }
    }
}

/// The root cause of a transport failure in a few words, without the URL (reqwest's own
/// messages name it, keys included).
fn transport_reason(err: &reqwest::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.source();
    let mut last = None;
    while let Some(current) = cause {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".into(),
                io::ErrorKind::ConnectionReset => "connection reset".into(),
                io::ErrorKind::ConnectionAborted => "connection aborted".into(),
                io::ErrorKind::UnexpectedEof => "the answer ended early".into(),
                _ => io.to_string(),
            };
        }
        let text = current.to_string();
        if text.contains("dns error") || text.contains("failed to lookup") {
            return "cannot resolve the host name".into();
        }
        last = Some(text);
        cause = current.source();
    }
    last.unwrap_or_else(|| {
        if err.is_body() || err.is_decode() {
            "the answer ended early".into()
        } else {
            "the request failed".into()
        }
    })
}

/// `Retry-After` in seconds or as an HTTP date.
fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.timestamp() - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(wait.max(0) as u64))
}

/// A header value holding a secret (an API key): marked sensitive, so that neither reqwest,
/// hyper nor `Debug` ever print it. `None` when it has characters a header cannot carry.
pub fn secret_header(value: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// `url` safe for logs and errors: `scheme://host[:port]`, plus `/...` when it has a path or
/// a query (they often hold API keys). User name and password are never shown.
pub fn redact_url(url: &Url) -> String {
    // `host_str` brackets IPv6 addresses and never includes the user info.
    let host = url.host_str().unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path().len() > 1 || url.query().is_some() {
        "/..."
    } else {
        ""
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// [`redact_url`] for text that may not be a URL: an unparsable text is cut after its scheme
/// and host-looking start, and never shown with an `@` (it may hold credentials).
pub fn redact_url_str(text: &str) -> String {
    match Url::parse(text.trim()) {
        Ok(url) => redact_url(&url),
        Err(_) => {
            let text = text.trim();
            let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
            let host: String = rest
                .chars()
                .take_while(|c| !matches!(c, '/' | '?' | '#' | '@'))
                .take(60)
                .collect();
            if rest.contains('@') {
                return "(a URL with credentials, hidden)".into();
            }
            let more = if host.len() < rest.len() { "/..." } else { "" };
            match scheme {
                "" => format!("{host}{more}"),
                scheme => format!("{scheme}://{host}{more}"),
            }
        }
    }
}

/// `base` redacted, then `/suffix`: the endpoint path that genim itself appends is not secret
/// and tells which call failed (`http://127.0.0.1:5001/api/v0/add`).
pub fn redact_endpoint(base: &Url, suffix: &str) -> String {
    format!(
        "{}/{}",
        redact_url(base).trim_end_matches('/'),
        suffix.trim_start_matches('/')
    )
}

/// A short one-line excerpt of an error body, for error messages:
/// - JSON: the message it carries (`error.message`, `message`, `Message`, `detail`, `error`);
/// - an HTML page: `(an HTML page)`, never its markup;
/// - other text: its first characters, whitespace collapsed.
///
/// At most 200 characters (cut with `…`), never a line break.
pub fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let candidates = [
            json.pointer("/error/message"),
            json.get("message"),
            json.get("Message"),
            json.get("detail"),
            json.get("error"),
        ];
        let found = candidates.into_iter().flatten().find_map(|v| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            serde_json::Value::Null | serde_json::Value::String(_) => None,
            serde_json::Value::Object(o) if o.is_empty() => None,
            other => Some(other.to_string()),
        });
        if let Some(text) = found {
            return one_line(&text);
        }
        return one_line(body);
    }
    if looks_like_html(body) {
        return "(an HTML page)".into();
    }
    one_line(body)
}

/// [`excerpt`], or the status's reason phrase when the body says nothing.
fn excerpt_or_reason(body: &str, status: StatusCode) -> String {
    let text = excerpt(body);
    if text.is_empty() {
        status.canonical_reason().unwrap_or_default().to_string()
    } else {
        text
    }
}

/// The machine-readable error code of a JSON error body, if any.
fn error_code(body: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    [json.pointer("/error/code"), json.get("code")]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().map(str::to_string))
}

fn looks_like_html(body: &str) -> bool {
    let start: String = body
        .chars()
        .take(256)
        .collect::<String>()
        .to_ascii_lowercase();
    let start = start.trim_start_matches('\u{feff}').trim_start();
    start.starts_with("<!doctype html")
        || start.starts_with("<html")
        || start.starts_with("<?xml") && start.contains("<html")
        || start.starts_with('<') && (start.contains("<body") || start.contains("<head"))
}

fn one_line(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(EXCERPT_CHARS) {
        Some((at, _)) => format!("{}…", &collapsed[..at]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_path_query_and_credentials() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            redact_url(&url("https://user:pw@rpc.example.com/v2/SECRETKEY?x=1")),
            "https://rpc.example.com/..."
        );
        assert_eq!(
            redact_url(&url("http://127.0.0.1:8545")),
            "http://127.0.0.1:8545"
        );
        assert_eq!(
            redact_url(&url("http://127.0.0.1:5001/")),
            "http://127.0.0.1:5001"
        );
        assert_eq!(
            redact_url(&url("https://h.example/?key=k")),
            "https://h.example/..."
        );
        assert_eq!(
            redact_url(&url("http://[::1]:5001/x")),
            "http://[::1]:5001/..."
        );
        assert_eq!(
            redact_endpoint(&url("https://u:p@node.example/KEY/"), "api/v0/add"),
            "https://node.example/.../api/v0/add"
        );
        assert_eq!(
            redact_endpoint(&url("http://127.0.0.1:5001"), "/api/v0/cat"),
            "http://127.0.0.1:5001/api/v0/cat"
        );
    }

    #[test]
    fn redacts_unparsable_text() {
        assert_eq!(
            redact_url_str(" https://rpc.example.com/v2/KEY "),
            "https://rpc.example.com/..."
        );
        let shown = redact_url_str("https://alice:s3cret@[bad/x");
        assert!(
            !shown.contains("s3cret") && !shown.contains("alice"),
            "{shown}"
        );
        assert_eq!(redact_url_str("not a url/KEY"), "not a url/...");
    }

    #[test]
    fn excerpts_are_short_single_lines() {
        let json = r#"{"error":{"message":"Invalid size","type":"x","code":"invalid_size"}}"#;
        assert_eq!(excerpt(json), "Invalid size");
        assert_eq!(error_code(json).as_deref(), Some("invalid_size"));
        assert_eq!(
            excerpt(r#"{"detail":"Not authenticated"}"#),
            "Not authenticated"
        );
        assert_eq!(excerpt(r#"{"Message":"pin: boom","Code":0}"#), "pin: boom");
        assert_eq!(excerpt(r#"{"message":"a\nb"}"#), "a b");
        assert_eq!(excerpt("Bad Gateway\n"), "Bad Gateway");
        assert_eq!(excerpt(""), "");
        let page = "<!DOCTYPE html>\n<html><head><title>502</title></head><body>x</body></html>";
        assert_eq!(excerpt(page), "(an HTML page)");
        assert_eq!(excerpt("  <html>\n<body>oops"), "(an HTML page)");
        let long = "x".repeat(1000);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn statuses_have_classes() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert_eq!(status_class(s), ErrorClass::Transient, "{s}");
        }
        for s in [301, 401, 402, 403, 404, 405] {
            assert_eq!(status_class(s), ErrorClass::Config, "{s}");
        }
        for s in [400, 409, 413, 422] {
            assert_eq!(status_class(s), ErrorClass::Rejected, "{s}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let secs = HeaderValue::from_static("7");
        assert_eq!(parse_retry_after(&secs), Some(Duration::from_secs(7)));
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn secret_headers_are_sensitive() {
        let header = secret_header("Bearer sk-secret").unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("sk-secret"));
        assert!(secret_header("bad\nvalue").is_none());
    }

    #[tokio::test]
    async fn unreachable_hosts_are_transient_and_named_without_secrets() {
        // Port 9 (discard) on loopback: nothing listens there.
        let client = Client::new(Timeouts::default()).unwrap();
        let url = Url::parse("http://alice:s3cret@127.0.0.1:9/KEY").unwrap();
        let shown = redact_url(&url);
        let err = client.send(client.get(url), &shown).await.unwrap_err();
        assert!(matches!(err, HttpError::Unreachable { .. }), "{err:?}");
        assert_eq!(err.class(), ErrorClass::Transient);
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("cannot reach http://127.0.0.1:9/...: connection refused"),
            "{text}"
        );
        assert!(!text.contains("s3cret") && !text.contains("KEY"), "{text}");
    }
}
