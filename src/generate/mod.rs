//! Image generators: one [`Generator`] trait, chosen at run time from `--generator KIND`.
//!
//! - `local` ([`LocalGenerator`]): built in, offline, deterministic PNG derived from the prompt.
//! - `openai` ([`OpenAiGenerator`]): any OpenAI-compatible `images/generations` endpoint
//!   (OpenAI, DeepInfra's OpenAI endpoint, IONOS AI Model Hub, ...).
//! - `bfl` ([`BflGenerator`]): Black Forest Labs' FLUX API (submit, poll, download).
//!
//! A generator makes one image per [`ImageRequest`] (a prompt and, optionally, a size other than
//! its default), so one generator serves every size a caller asks for. Every answer is checked
//! to be a decodable PNG, JPEG or WebP ([`inspect_image`]) before it is returned. Errors carry
//! an [`ErrorClass`](crate::retry::ErrorClass) ([`GenerateError::class`]): transient (retry),
//! rejected (this prompt will not work) or config (nothing will work until the operator acts).
//! API keys come from environment variables, are sent only to the API's own host and never
//! appear in logs or errors.

mod bfl;
mod error;
mod image;
mod local;
mod openai;
mod remote;

pub use bfl::{BflGenerator, BflOptions};
pub use error::GenerateError;
pub use image::{ImageInfo, MAX_SIDE, inspect_image};
pub use local::LocalGenerator;
pub use openai::{OpenAiGenerator, OpenAiOptions};

pub use crate::store::BoxFuture;
use bytes::Bytes;
use reqwest::{Url, header::HeaderValue};
use std::{fmt, str::FromStr, sync::Arc, time::Duration};

/// An image generator, used as `Arc<dyn Generator>`.
pub trait Generator: Send + Sync + fmt::Debug {
    /// Which implementation this is.
    fn kind(&self) -> GeneratorKind;

    /// The model name as recorded in the metadata (e.g. `gpt-image-1`, `flux-pro-1.1`, `local-v1`).
    fn model(&self) -> &str;

    /// The size made when a request names none.
    fn size(&self) -> Size;

    /// Refuses, before any work or payment, a request this generator can never serve (e.g. a
    /// size out of its range) with a [`Rejected`](crate::retry::ErrorClass::Rejected) error.
    /// The remote APIs decide for themselves; by default everything is accepted.
    fn check(&self, request: &ImageRequest) -> Result<(), GenerateError> {
        let _ = request;
        Ok(())
    }

    /// Generates one image. The result is always a decodable image. The future borrows only
    /// `self`.
    fn generate(
        &self,
        request: &ImageRequest,
    ) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>>;

    /// Whether the generator can be reached now (`genim serve`'s `/healthz`); the built-in one
    /// always can. Sends no generation request (they cost money).
    fn health(&self) -> BoxFuture<'_, Result<(), GenerateError>> {
        Box::pin(async { Ok(()) })
    }

    /// A one-line description for logs (kind, model, size, endpoint without credentials).
    fn describe(&self) -> String {
        format!("{} {} {}", self.kind(), self.model(), self.size())
    }
}

/// What to generate: the prompt, and a size when not the generator's default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageRequest {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<Size>,
}

impl ImageRequest {
    /// A request for `prompt` at the generator's default size.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            size: None,
        }
    }

    /// The same request at `size`.
    pub fn with_size(mut self, size: Size) -> Self {
        self.size = Some(size);
        self
    }

    /// The size asked for, else `default`.
    pub fn size_or(&self, default: Size) -> Size {
        self.size.unwrap_or(default)
    }
}

impl From<&str> for ImageRequest {
    fn from(prompt: &str) -> Self {
        Self::new(prompt)
    }
}

impl From<String> for ImageRequest {
    fn from(prompt: String) -> Self {
        Self::new(prompt)
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
        image::extension_of(self.mime)
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

/// The generator implementations. Parsed from and shown as `local`, `openai`, `bfl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GeneratorKind {
    /// Built-in, offline, deterministic PNG from the prompt.
    Local,
    /// An OpenAI-compatible images API (OpenAI, DeepInfra, IONOS AI Model Hub, ...).
    OpenAi,
    /// Black Forest Labs' FLUX API.
    Bfl,
}

impl GeneratorKind {
    /// Every kind, in the order of [`NAMES`](Self::NAMES).
    pub const ALL: [Self; 3] = [Self::Local, Self::OpenAi, Self::Bfl];
    /// The names on the command line and in metadata.
    pub const NAMES: [&'static str; 3] = ["local", "openai", "bfl"];

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
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                GenerateError::Config(format!(
                    "unknown generator `{s}` (known: {})",
                    Self::NAMES.join(", ")
                ))
            })
    }
}

impl serde::Serialize for GeneratorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for GeneratorKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(GenerateError::Config(format!(
                "bad size `{s}`: each side must be 1..={MAX_SIDE}"
            )));
        }
        Ok(Self { width, height })
    }
}

impl serde::Serialize for Size {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A secret API key. Its `Debug` never shows it.
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

    /// `prefix` + the key as a header value marked sensitive (no log level prints it).
    fn header(&self, prefix: &str) -> Result<HeaderValue, GenerateError> {
        crate::http::secret_header(&format!("{prefix}{}", self.0)).ok_or_else(|| {
            GenerateError::Config("the API key contains characters invalid in a header".into())
        })
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

impl Timeouts {
    /// The defaults with `overall` as the limit of a whole generation (no request longer).
    pub fn with_overall(overall: Duration) -> Self {
        let overall = overall.max(Duration::from_secs(1));
        Self {
            overall,
            request: overall.min(Self::default().request),
            ..Self::default()
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
    /// Default size; `None` for the kind's default (512x512 local, 1024x1024 remote).
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
        let json = serde_json::to_string(&ImageRequest::new("fox").with_size(Size {
            width: 256,
            height: 512,
        }))
        .unwrap();
        assert_eq!(json, r#"{"prompt":"fox","size":"256x512"}"#);
        let back: ImageRequest = serde_json::from_str(r#"{"prompt":"fox"}"#).unwrap();
        assert_eq!(back, ImageRequest::new("fox"));
        assert!(serde_json::from_str::<ImageRequest>(r#"{"prompt":"x","size":"big"}"#).is_err());
    }

    #[test]
    fn kinds_parse_and_print_their_names() {
        for (kind, name) in GeneratorKind::ALL.into_iter().zip(GeneratorKind::NAMES) {
            assert_eq!(kind.to_string(), name);
            assert_eq!(name.parse::<GeneratorKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
        let err = "dalle".parse::<GeneratorKind>().unwrap_err().to_string();
        assert!(
            err.contains("unknown generator `dalle` (known: local, openai, bfl)"),
            "{err}"
        );
    }

    #[test]
    fn api_key_is_never_shown() {
        let key = ApiKey::new(" sk-secret-0123 \n");
        assert_eq!(key.expose(), "sk-secret-0123");
        assert_eq!(format!("{key:?}"), "ApiKey(***)");
        let header = key.header("Bearer ").unwrap();
        assert!(header.is_sensitive() && !format!("{header:?}").contains("sk-secret"));
        // The generators that hold it: neither Debug nor describe() show it.
        let openai = OpenAiGenerator::new(OpenAiOptions::default(), Some(key.clone())).unwrap();
        let bfl = BflGenerator::new(BflOptions::default(), key).unwrap();
        for shown in [
            format!("{openai:?} {}", openai.describe()),
            format!("{bfl:?} {}", bfl.describe()),
        ] {
            assert!(!shown.contains("sk-secret"), "{shown}");
            assert!(shown.contains("ApiKey(***)"), "{shown}");
        }
        let err = ApiKey::from_env("GENIM_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert!(
            err.to_string().contains("GENIM_TEST_SURELY_UNSET_VAR"),
            "{err}"
        );
        assert_eq!(err.class(), crate::retry::ErrorClass::Config);
    }

    #[test]
    fn overall_timeout_bounds_each_request() {
        let t = Timeouts::with_overall(Duration::from_secs(30));
        assert_eq!(
            (t.overall, t.request),
            (Duration::from_secs(30), Duration::from_secs(30))
        );
        let t = Timeouts::with_overall(Duration::from_secs(600));
        assert_eq!(t.request, Timeouts::default().request);
        assert_eq!(
            Timeouts::with_overall(Duration::ZERO).overall,
            Duration::from_secs(1)
        );
    }
}
