//! Image generators: one [`Generator`] trait, chosen at run time from `--generator KIND`.
//!
//! - `local` ([`LocalGenerator`]): built in, offline, deterministic PNG derived from the prompt.
//! - `openai` ([`OpenAiGenerator`]): any OpenAI-compatible `images/generations` endpoint
//!   (OpenAI, DeepInfra's OpenAI endpoint, IONOS AI Model Hub, ...).
//! - `bfl` ([`BflGenerator`]): Black Forest Labs' FLUX API (submit, poll, download).
//!
//! Every answer is checked to be a decodable PNG, JPEG or WebP ([`inspect_image`]) before it is
//! returned. Errors say whether a retry may help ([`GenerateError::is_retryable`]): the provider
//! loop retries those with backoff and gives up on the others. API keys come from environment
//! variables, are sent only to the API's own host and never appear in logs or errors.

mod bfl;
mod local;
mod openai;

pub use bfl::{BflGenerator, BflOptions};
pub use local::LocalGenerator;
pub use openai::{OpenAiGenerator, OpenAiOptions};

pub use crate::store::BoxFuture;
use crate::store::redact_url;
use bytes::Bytes;
use reqwest::{Client, Response, Url, header::HeaderMap};
use std::{fmt, io::Cursor, str::FromStr, sync::Arc, time::Duration};

/// An image generator, used as `Arc<dyn Generator>`.
pub trait Generator: Send + Sync + fmt::Debug {
    /// Which implementation this is.
    fn kind(&self) -> GeneratorKind;

    /// The model name as recorded in the metadata (e.g. `gpt-image-1`, `flux-pro-1.1`, `local-v1`).
    fn model(&self) -> &str;

    /// The size requested from the model.
    fn size(&self) -> Size;

    /// Generates one image for `prompt`. The result is always a decodable image. The future
    /// borrows only `self`.
    fn generate(&self, prompt: &str) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>>;

    /// A one-line description for logs (kind, model, size, endpoint without credentials).
    fn describe(&self) -> String {
        format!("{} {} {}", self.kind(), self.model(), self.size())
    }
}

/// A generated image, checked to decode.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedImage {
    /// The encoded image as received (or encoded, for `local`).
    pub bytes: Bytes,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime: &'static str,
    /// Width in pixels, read from the image itself.
    pub width: u32,
    /// Height in pixels, read from the image itself.
    pub height: u32,
    /// The model that made it.
    pub model: String,
    /// The generator that made it.
    pub generator: GeneratorKind,
}

impl GeneratedImage {
    /// File extension for the mime type: `png`, `jpg` or `webp`.
    pub fn extension(&self) -> &'static str {
        extension_of(self.mime)
    }

    /// The actual size of the image.
    pub fn size(&self) -> Size {
        Size {
            width: self.width,
            height: self.height,
        }
    }
}

impl fmt::Debug for GeneratedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedImage")
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .field("mime", &self.mime)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("model", &self.model)
            .field("generator", &self.generator)
            .finish()
    }
}

/// The generator implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum GeneratorKind {
    /// Built-in, offline, deterministic PNG from the prompt.
    Local,
    /// An OpenAI-compatible images API (OpenAI, DeepInfra, IONOS AI Model Hub, ...).
    #[value(name = "openai")]
    OpenAi,
    /// Black Forest Labs' FLUX API.
    Bfl,
}

impl GeneratorKind {
    /// The name used on the command line and in metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::OpenAi => "openai",
            Self::Bfl => "bfl",
        }
    }
}

impl fmt::Display for GeneratorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GeneratorKind {
    type Err = GenerateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Self::Local),
            "openai" => Ok(Self::OpenAi),
            "bfl" => Ok(Self::Bfl),
            other => Err(GenerateError::Config(format!(
                "unknown generator `{other}` (known: local, openai, bfl)"
            ))),
        }
    }
}

/// An image size, written `WIDTHxHEIGHT` (e.g. `512x512`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Size {
    /// 512x512, the default of the local generator.
    pub const DEFAULT_LOCAL: Self = Self {
        width: 512,
        height: 512,
    };
    /// 1024x1024, the default of the remote generators (the smallest size most models accept).
    pub const DEFAULT_REMOTE: Self = Self {
        width: 1024,
        height: 1024,
    };
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = GenerateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            GenerateError::Config(format!(
                "bad size `{s}`: expected WIDTHxHEIGHT, e.g. 512x512"
            ))
        };
        let (w, h) = s.split_once('x').ok_or_else(bad)?;
        let (width, height) = (
            w.parse::<u32>().map_err(|_| bad())?,
            h.parse::<u32>().map_err(|_| bad())?,
        );
        if !(1..=8192).contains(&width) || !(1..=8192).contains(&height) {
            return Err(GenerateError::Config(format!(
                "bad size `{s}`: each side must be 1..=8192"
            )));
        }
        Ok(Self { width, height })
    }
}

/// A secret API key. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace removed).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into().trim().to_string())
    }

    /// Reads the key from the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, GenerateError> {
        match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(Self::new(key)),
            _ => Err(GenerateError::Config(format!(
                "environment variable {var} (the API key) is not set"
            ))),
        }
    }

    /// The key itself, for a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A header value marked sensitive (hyper/reqwest never log it).
    fn header(&self, prefix: &str) -> Result<reqwest::header::HeaderValue, GenerateError> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("{prefix}{}", self.0))
            .map_err(|_| {
                GenerateError::Config("the API key contains characters invalid in a header".into())
            })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// Timeouts shared by the HTTP generators.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// Time to establish a connection.
    pub connect: Duration,
    /// Time for one HTTP request (a synchronous OpenAI generation can take a minute or two).
    pub request: Duration,
    /// Time for a whole generation: every request, polling and download included.
    pub overall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(180),
            overall: Duration::from_secs(300),
        }
    }
}

/// Everything `--generator KIND` and its options say; [`from_config`] builds the generator.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    pub kind: GeneratorKind,
    /// API base URL; `None` for the kind's default (`https://api.openai.com`,
    /// `https://api.bfl.ai`).
    pub base_url: Option<Url>,
    /// Model; `None` for the kind's default (`local-v1`, `gpt-image-1`, `flux-pro-1.1`).
    pub model: Option<String>,
    /// Size; `None` for the kind's default (512x512 local, 1024x1024 remote).
    pub size: Option<Size>,
    /// Environment variable holding the API key; `None` for `OPENAI_API_KEY` / `BFL_API_KEY`.
    pub api_key_env: Option<String>,
    pub timeouts: Timeouts,
}

impl GeneratorConfig {
    /// The defaults of `kind`.
    pub fn new(kind: GeneratorKind) -> Self {
        Self {
            kind,
            base_url: None,
            model: None,
            size: None,
            api_key_env: None,
            timeouts: Timeouts::default(),
        }
    }
}

/// `--generator` and its options, flattened into the commands that generate images.
#[derive(Clone, Debug, clap::Args)]
#[command(next_help_heading = "Generator options")]
pub struct GeneratorOpts {
    /// Image generator: local (built-in, offline), openai (OpenAI-compatible API), bfl (Black
    /// Forest Labs)
    #[arg(
        long = "generator",
        env = "GENIM_GENERATOR",
        value_enum,
        default_value = "local",
        value_name = "KIND"
    )]
    pub kind: GeneratorKind,

    /// Model [default: local-v1 (local), gpt-image-1 (openai), flux-pro-1.1 (bfl)]
    #[arg(long, env = "GENIM_MODEL", value_name = "NAME")]
    pub model: Option<String>,

    /// Image size [default: 512x512 (local), 1024x1024 (openai, bfl)]
    #[arg(long, env = "GENIM_SIZE", value_name = "WxH")]
    pub size: Option<Size>,

    /// API base URL [default: https://api.openai.com (openai), https://api.bfl.ai (bfl)], e.g.
    /// https://api.deepinfra.com/v1/openai or https://openai.inference.de-txl.ionos.com
    #[arg(
        long = "generator-url",
        env = "GENIM_GENERATOR_URL",
        value_name = "URL"
    )]
    pub base_url: Option<Url>,

    /// Name of the environment variable that holds the API key [default: OPENAI_API_KEY
    /// (openai), BFL_API_KEY (bfl)]
    #[arg(long, env = "GENIM_API_KEY_ENV", value_name = "VAR")]
    pub api_key_env: Option<String>,

    /// Seconds one image may take in all (requests, polling, download)
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub generator_timeout: u64,
}

impl GeneratorOpts {
    /// The configuration these options describe.
    pub fn config(&self) -> GeneratorConfig {
        let overall = Duration::from_secs(self.generator_timeout.max(1));
        GeneratorConfig {
            kind: self.kind,
            base_url: self.base_url.clone(),
            model: self.model.clone(),
            size: self.size,
            api_key_env: self.api_key_env.clone(),
            timeouts: Timeouts {
                overall,
                request: overall.min(Timeouts::default().request),
                ..Timeouts::default()
            },
        }
    }

    /// Builds the generator (reads the API key from the environment; sends no request).
    pub fn build(&self) -> Result<Arc<dyn Generator>, GenerateError> {
        from_config(&self.config())
    }
}

/// Builds the generator described by `config`, reading its API key from the environment.
pub fn from_config(config: &GeneratorConfig) -> Result<Arc<dyn Generator>, GenerateError> {
    let env = |default: &str| {
        config
            .api_key_env
            .clone()
            .unwrap_or_else(|| default.to_string())
    };
    Ok(match config.kind {
        GeneratorKind::Local => {
            if let Some(model) = config.model.as_deref().filter(|m| *m != local::MODEL) {
                return Err(GenerateError::Config(format!(
                    "the local generator has one model, {}, not {model}",
                    local::MODEL
                )));
            }
            Arc::new(LocalGenerator::new(
                config.size.unwrap_or(Size::DEFAULT_LOCAL),
            )?)
        }
        GeneratorKind::OpenAi => {
            let mut options = OpenAiOptions::default();
            options.apply(config);
            Arc::new(OpenAiGenerator::new(
                options,
                Some(ApiKey::from_env(&env("OPENAI_API_KEY"))?),
            )?)
        }
        GeneratorKind::Bfl => {
            let mut options = BflOptions::default();
            options.apply(config);
            Arc::new(BflGenerator::new(
                options,
                ApiKey::from_env(&env("BFL_API_KEY"))?,
            )?)
        }
    })
}

/// Errors of the generators, each saying whether a retry may help.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Bad or missing configuration (size, model, key, URL).
    #[error("generator configuration: {0}")]
    Config(String),
    /// The connection failed or broke.
    #[error("request to {url} failed")]
    Network {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A request or the whole generation took too long.
    #[error("{what} did not finish within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The API answered with an error status.
    #[error("{url} answered HTTP {status}: {message}")]
    Http {
        url: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The API refused the prompt or the result.
    #[error("the provider moderated this request ({reason})")]
    Moderated { reason: String },
    /// The provider reports that the generation failed.
    #[error("generation failed at {url}: {message}")]
    Failed { url: String, message: String },
    /// The answer is not what the API should send (bad JSON, missing fields, too large).
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// The bytes received are not a decodable PNG, JPEG or WebP.
    #[error("{origin} did not give a decodable image: {reason}")]
    InvalidImage { origin: String, reason: String },
}

impl GenerateError {
    /// Whether the same generation may succeed later: network errors, timeouts, HTTP 408, 429
    /// and 5xx, and failures the provider reports as its own. Configuration errors, other 4xx,
    /// moderation, malformed answers and undecodable images are permanent.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network { .. } | Self::Timeout { .. } | Self::Failed { .. } => true,
            Self::Http { status, .. } => crate::store::is_retryable_status(*status),
            Self::Config(_)
            | Self::Moderated { .. }
            | Self::BadResponse { .. }
            | Self::InvalidImage { .. } => false,
        }
    }

    /// How long the API asked to wait (`Retry-After` of a 429 or 503), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What [`inspect_image`] reads from an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Checks that `bytes` are an image and reads its type and size: PNG is fully decoded; JPEG and
/// WebP are recognised by their signature and their frame header is decoded.
pub fn inspect_image(bytes: &[u8]) -> Result<ImageInfo, String> {
    let info = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        inspect_png(bytes)?
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        inspect_jpeg(bytes)?
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        inspect_webp(bytes)?
    } else {
        let start: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "not a PNG, JPEG or WebP ({} bytes starting {start})",
            bytes.len()
        ));
    };
    if info.width == 0 || info.height == 0 {
        return Err(format!(
            "{} with an empty size {}x{}",
            info.mime, info.width, info.height
        ));
    }
    Ok(info)
}

fn inspect_png(bytes: &[u8]) -> Result<ImageInfo, String> {
    let limits = png::Limits { bytes: 512 << 20 };
    let mut reader = png::Decoder::new_with_limits(Cursor::new(bytes), limits)
        .read_info()
        .map_err(|e| format!("PNG header: {e}"))?;
    let (width, height) = reader.info().size();
    let size = reader
        .output_buffer_size()
        .ok_or("PNG too large to decode")?;
    let mut buf = vec![0; size];
    reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG data: {e}"))?;
    Ok(ImageInfo {
        mime: "image/png",
        width,
        height,
    })
}

fn inspect_jpeg(bytes: &[u8]) -> Result<ImageInfo, String> {
    let mut pos = 2;
    loop {
        // Markers may be preceded by fill bytes 0xff.
        while bytes.get(pos) == Some(&0xff) && bytes.get(pos + 1) == Some(&0xff) {
            pos += 1;
        }
        let (Some(&0xff), Some(&marker)) = (bytes.get(pos), bytes.get(pos + 1)) else {
            return Err("JPEG: no frame header before the end".into());
        };
        pos += 2;
        match marker {
            0xd8 | 0x01 | 0xd0..=0xd7 => continue,
            0xd9 | 0xda => return Err("JPEG: no frame header before the scan".into()),
            _ => {}
        }
        let len = match bytes.get(pos..pos + 2) {
            Some(l) => u16::from_be_bytes([l[0], l[1]]) as usize,
            None => return Err("JPEG: truncated segment".into()),
        };
        if len < 2 || pos + len > bytes.len() {
            return Err("JPEG: truncated segment".into());
        }
        // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc).
        if (0xc0..=0xcf).contains(&marker) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let seg = &bytes[pos..pos + len];
            if seg.len() < 8 {
                return Err("JPEG: short frame header".into());
            }
            let height = u16::from_be_bytes([seg[3], seg[4]]) as u32;
            let width = u16::from_be_bytes([seg[5], seg[6]]) as u32;
            let components = seg[7] as usize;
            if !matches!(components, 1 | 3 | 4) || seg.len() < 8 + 3 * components {
                return Err(format!("JPEG: bad frame header ({components} components)"));
            }
            if !bytes[pos + len..].windows(2).any(|w| w == [0xff, 0xda]) {
                return Err("JPEG: no scan data".into());
            }
            return Ok(ImageInfo {
                mime: "image/jpeg",
                width,
                height,
            });
        }
        pos += len;
    }
}

fn inspect_webp(bytes: &[u8]) -> Result<ImageInfo, String> {
    let riff_len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    if riff_len + 8 > bytes.len() {
        return Err(format!(
            "WebP: truncated ({} of {} bytes)",
            bytes.len(),
            riff_len + 8
        ));
    }
    let chunk = bytes.get(12..16).ok_or("WebP: no chunk")?;
    let data = bytes.get(20..).ok_or("WebP: truncated chunk")?;
    let (width, height) = match chunk {
        b"VP8 " => {
            if data.len() < 10 || data[3..6] != [0x9d, 0x01, 0x2a] {
                return Err("WebP: bad VP8 frame header".into());
            }
            let w = u16::from_le_bytes([data[6], data[7]]) & 0x3fff;
            let h = u16::from_le_bytes([data[8], data[9]]) & 0x3fff;
            (w as u32, h as u32)
        }
        b"VP8L" => {
            if data.len() < 5 || data[0] != 0x2f {
                return Err("WebP: bad VP8L header".into());
            }
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            ((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
        }
        b"VP8X" => {
            if data.len() < 10 {
                return Err("WebP: bad VP8X header".into());
            }
            let w = u32::from_le_bytes([data[4], data[5], data[6], 0]) + 1;
            let h = u32::from_le_bytes([data[7], data[8], data[9], 0]) + 1;
            (w, h)
        }
        other => {
            return Err(format!(
                "WebP: unknown chunk {:?}",
                String::from_utf8_lossy(other)
            ));
        }
    };
    Ok(ImageInfo {
        mime: "image/webp",
        width,
        height,
    })
}

fn extension_of(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        _ => "png",
    }
}

/// Checks `bytes` on the blocking pool (a full PNG decode takes a few ms) and wraps them.
async fn checked_image(
    bytes: Bytes,
    origin: String,
    model: &str,
    generator: GeneratorKind,
) -> Result<GeneratedImage, GenerateError> {
    let copy = bytes.clone();
    let info = tokio::task::spawn_blocking(move || inspect_image(&copy))
        .await
        .map_err(|e| GenerateError::InvalidImage {
            origin: origin.clone(),
            reason: format!("decoder panicked: {e}"),
        })?
        .map_err(|reason| GenerateError::InvalidImage { origin, reason })?;
    Ok(GeneratedImage {
        bytes,
        mime: info.mime,
        width: info.width,
        height: info.height,
        model: model.to_string(),
        generator,
    })
}

/// Largest body accepted from an API: images are a few MB, base64 a third more.
const MAX_BODY: usize = 64 << 20;

/// The HTTP client of the remote generators: connect and per-request timeouts, no redirects to
/// other schemes, rustls.
fn http_client(timeouts: &Timeouts) -> Result<Client, GenerateError> {
    Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .user_agent(concat!("genim/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| GenerateError::Config(format!("cannot build the HTTP client: {e}")))
}

/// Sends `request`, turning failures into [`GenerateError`]s that name `shown` (a redacted URL),
/// and reads the body (at most [`MAX_BODY`] bytes) of a successful answer.
async fn send(
    request: reqwest::RequestBuilder,
    shown: &str,
    timeouts: &Timeouts,
) -> Result<(HeaderMap, Bytes), GenerateError> {
    let response = request
        .send()
        .await
        .map_err(|e| request_error(e, shown, timeouts))?;
    let status = response.status();
    let headers = response.headers().clone();
    if status.is_success() {
        let body = read_body(response, shown, timeouts).await?;
        return Ok((headers, body));
    }
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_body(response, shown, timeouts)
        .await
        .unwrap_or_default();
    Err(GenerateError::Http {
        url: shown.to_string(),
        status: status.as_u16(),
        message: error_message(&body),
        retry_after,
    })
}

async fn read_body(
    mut response: Response,
    shown: &str,
    timeouts: &Timeouts,
) -> Result<Bytes, GenerateError> {
    let too_large = || GenerateError::BadResponse {
        url: shown.to_string(),
        reason: format!("answer larger than {MAX_BODY} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| request_error(e, shown, timeouts))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

fn request_error(e: reqwest::Error, shown: &str, timeouts: &Timeouts) -> GenerateError {
    if e.is_timeout() {
        GenerateError::Timeout {
            what: format!("request to {shown}"),
            after: timeouts.request,
        }
    } else {
        GenerateError::Network {
            url: shown.to_string(),
            source: e.without_url(),
        }
    }
}

/// The error text of an API error body: OpenAI's `error.message`, BFL's `detail`, a `message`,
/// or the body's start.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let field = json.as_ref().and_then(|v| {
        let candidates = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("detail"),
            v.get("message"),
        ];
        candidates.into_iter().flatten().find_map(|m| match m {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
    });
    let message = field.unwrap_or_else(|| text.trim().to_string());
    match message.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &message[..i]),
        None => message,
    }
}

/// Downloads an image from `url` (an OpenAI `url` answer or BFL's `result.sample`), without any
/// API key: these are signed URLs, often on another host.
async fn download(
    client: &Client,
    url: &str,
    timeouts: &Timeouts,
) -> Result<(Bytes, String), GenerateError> {
    let parsed = Url::parse(url).map_err(|e| GenerateError::BadResponse {
        url: "image URL".into(),
        reason: format!("bad URL: {e}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(GenerateError::BadResponse {
            url: redact_url(&parsed),
            reason: format!("image URL scheme {} is not http(s)", parsed.scheme()),
        });
    }
    let shown = redact_url(&parsed);
    let (_, body) = send(client.get(parsed), &shown, timeouts).await?;
    Ok((body, shown))
}

/// Runs `fut` within `after`, else a [`GenerateError::Timeout`] for the whole generation.
async fn with_deadline<T>(
    after: Duration,
    what: impl FnOnce() -> String,
    fut: impl std::future::Future<Output = Result<T, GenerateError>>,
) -> Result<T, GenerateError> {
    tokio::time::timeout(after, fut).await.unwrap_or_else(|_| {
        Err(GenerateError::Timeout {
            what: what(),
            after,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("512x512".parse::<Size>().unwrap(), Size::DEFAULT_LOCAL);
        assert_eq!(
            "1536x1024".parse::<Size>().unwrap().to_string(),
            "1536x1024"
        );
        for bad in [
            "",
            "512",
            "512x",
            "x512",
            "0x512",
            "512x99999",
            "512X512",
            "-1x5",
        ] {
            assert!(bad.parse::<Size>().is_err(), "{bad}");
        }
    }

    #[test]
    fn api_key_is_never_shown() {
        let key = ApiKey::new(" sk-secret \n");
        assert_eq!(key.expose(), "sk-secret");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let config = GeneratorConfig::new(GeneratorKind::OpenAi);
        assert!(!format!("{config:?}").contains("sk-"));
        let err = ApiKey::from_env("GENIM_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(err.to_string().contains("GENIM_TEST_SURELY_UNSET_VAR") && !err.is_retryable());
    }

    #[test]
    fn retryable_classes() {
        let http = |status| GenerateError::Http {
            url: "u".into(),
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(http(500).is_retryable() && http(503).is_retryable() && http(429).is_retryable());
        assert!(
            !http(400).is_retryable() && !http(401).is_retryable() && !http(404).is_retryable()
        );
        assert!(!GenerateError::Moderated { reason: "x".into() }.is_retryable());
        assert!(
            !GenerateError::InvalidImage {
                origin: "x".into(),
                reason: "y".into()
            }
            .is_retryable()
        );
        assert!(
            GenerateError::Timeout {
                what: "x".into(),
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
    }

    #[test]
    fn inspects_images() {
        let png = local::render_png(
            "a red fox",
            Size {
                width: 40,
                height: 30,
            },
        )
        .unwrap();
        assert_eq!(
            inspect_image(&png).unwrap(),
            ImageInfo {
                mime: "image/png",
                width: 40,
                height: 30
            }
        );
        // Truncated PNG data is rejected.
        assert!(inspect_image(&png[..png.len() - 20]).is_err());

        // A minimal baseline JPEG header: SOI, SOF0 (8 bit, 48x32, 3 components), SOS.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x4a, 0x46];
        jpeg.extend([0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x20, 0x00, 0x30, 0x03]);
        jpeg.extend([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend([0xff, 0xda, 0x00, 0x02, 0xff, 0xd9]);
        assert_eq!(
            inspect_image(&jpeg).unwrap(),
            ImageInfo {
                mime: "image/jpeg",
                width: 48,
                height: 32
            }
        );
        assert!(inspect_image(&jpeg[..12]).is_err());

        // WebP lossless header: 0x2f, then 14-bit width-1 and height-1.
        let bits: u32 = (100 - 1) | ((50 - 1) << 14);
        let mut webp = b"RIFF\x00\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f".to_vec();
        webp.extend(bits.to_le_bytes());
        let len = (webp.len() - 8) as u32;
        webp[4..8].copy_from_slice(&len.to_le_bytes());
        assert_eq!(
            inspect_image(&webp).unwrap(),
            ImageInfo {
                mime: "image/webp",
                width: 100,
                height: 50
            }
        );

        for bad in [
            &b""[..],
            b"{\"error\":1}",
            b"<html>",
            b"\x89PNG\r\n\x1a\n garbage",
        ] {
            assert!(inspect_image(bad).is_err());
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(br#"{"error":{"message":"Invalid size","type":"x"}}"#),
            "Invalid size"
        );
        assert_eq!(
            error_message(br#"{"detail":"Not authenticated"}"#),
            "Not authenticated"
        );
        assert_eq!(error_message(b"Bad Gateway"), "Bad Gateway");
    }
}
