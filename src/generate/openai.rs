//! `openai`: any OpenAI-compatible image API.
//!
//! `POST {base}/v1/images/generations` with `{"model", "prompt", "size": "WxH", "n": 1,
//! "response_format": "b64_json"}` and `Authorization: Bearer KEY`; the answer's `data[0]` holds
//! `b64_json` (decoded) or `url` (downloaded without the key). When the base URL already ends in
//! a version segment the path is appended as is, so these bases all work:
//!
//! | service | base URL | model example |
//! | --- | --- | --- |
//! | OpenAI | `https://api.openai.com` | `gpt-image-1`, `dall-e-3` |
//! | DeepInfra | `https://api.deepinfra.com/v1/openai` | `black-forest-labs/FLUX-1-schnell` |
//! | IONOS AI Model Hub | `https://openai.inference.de-txl.ionos.com` | `black-forest-labs/...` |
//!
//! OpenAI's `gpt-image-*` models always answer in base64 and reject `response_format`, so it is
//! left out for them. A content-policy refusal (`content_policy_violation`,
//! `moderation_blocked`) is a [`GenerateError::Moderated`].

use super::{
    ApiKey, BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorConfig, GeneratorKind,
    ImageRequest, Size, Timeouts,
    image::checked_image,
    remote::{self, MAX_BODY, api_error, download, with_deadline},
};
use crate::http::{self, redact_url};
use bytes::Bytes;
use reqwest::Url;
use serde::Deserialize;

/// Options of an [`OpenAiGenerator`].
#[derive(Clone, Debug)]
pub struct OpenAiOptions {
    /// API base URL, `https://api.openai.com` by default.
    pub base_url: Url,
    /// Model, `gpt-image-1` by default.
    pub model: String,
    /// Size when a request names none, 1024x1024 by default (check which sizes the model
    /// accepts).
    pub size: Size,
    pub timeouts: Timeouts,
}

impl Default for OpenAiOptions {
    fn default() -> Self {
        Self {
            base_url: Url::parse("https://api.openai.com").expect("a valid URL"),
            model: "gpt-image-1".into(),
            size: Size::DEFAULT_REMOTE,
            timeouts: Timeouts::default(),
        }
    }
}

impl OpenAiOptions {
    /// Overrides the defaults with what `config` sets.
    pub fn apply(&mut self, config: &GeneratorConfig) {
        if let Some(url) = &config.base_url {
            self.base_url = url.clone();
        }
        if let Some(model) = &config.model {
            self.model = model.clone();
        }
        if let Some(size) = config.size {
            self.size = size;
        }
        self.timeouts = config.timeouts.clone();
    }
}

/// A client of an OpenAI-compatible `images/generations` endpoint.
#[derive(Clone, Debug)]
pub struct OpenAiGenerator {
    options: OpenAiOptions,
    endpoint: Url,
    /// `endpoint` redacted, for messages.
    shown: String,
    api_key: Option<ApiKey>,
    client: http::Client,
}

impl OpenAiGenerator {
    /// A generator for `options`; `api_key` is sent as a bearer token (`None` for servers that
    /// need none). Sends no request.
    pub fn new(options: OpenAiOptions, api_key: Option<ApiKey>) -> Result<Self, GenerateError> {
        if !matches!(options.base_url.scheme(), "http" | "https") {
            return Err(GenerateError::Config(format!(
                "base URL {} is not http(s)",
                redact_url(&options.base_url)
            )));
        }
        if options.model.trim().is_empty() {
            return Err(GenerateError::Config("the model name is empty".into()));
        }
        let endpoint = images_endpoint(&options.base_url);
        let shown = http::redact_endpoint(&options.base_url, "images/generations");
        let client = remote::client(&options.timeouts)?;
        Ok(Self {
            options,
            endpoint,
            shown,
            api_key,
            client,
        })
    }

    /// Generates one image (see the module doc).
    pub async fn generate_image(
        &self,
        request: &ImageRequest,
    ) -> Result<GeneratedImage, GenerateError> {
        with_deadline(
            self.options.timeouts.overall,
            || format!("image generation at {}", self.shown),
            async {
                let mut body = serde_json::json!({
                    "model": self.options.model,
                    "prompt": request.prompt,
                    "size": request.size_or(self.options.size).to_string(),
                    "n": 1,
                });
                if !self.options.model.starts_with("gpt-image") {
                    body["response_format"] = "b64_json".into();
                }
                let mut post = self.client.post(self.endpoint.clone()).json(&body);
                if let Some(key) = &self.api_key {
                    post = post.header(reqwest::header::AUTHORIZATION, key.header("Bearer ")?);
                }
                let (_, answer) = self
                    .client
                    .fetch(post, &self.shown, MAX_BODY)
                    .await
                    .map_err(api_error)?;
                let (bytes, origin) = match parse_answer(&answer, &self.shown)? {
                    Payload::Base64(b64) => (decode_base64(&b64, &self.shown)?, self.shown.clone()),
                    Payload::Url(url) => download(&self.client, &url).await?,
                };
                checked_image(bytes, origin, &self.options.model, GeneratorKind::OpenAi).await
            },
        )
        .await
    }
}

impl Generator for OpenAiGenerator {
    fn health(&self) -> BoxFuture<'_, Result<(), GenerateError>> {
        Box::pin(super::remote::reachable(
            &self.client,
            &self.endpoint,
            &self.shown,
        ))
    }

    fn kind(&self) -> GeneratorKind {
        GeneratorKind::OpenAi
    }

    fn model(&self) -> &str {
        &self.options.model
    }

    fn size(&self) -> Size {
        self.options.size
    }

    fn generate(
        &self,
        request: &ImageRequest,
    ) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>> {
        let request = request.clone();
        Box::pin(async move { self.generate_image(&request).await })
    }

    fn describe(&self) -> String {
        format!(
            "openai {} {} at {}",
            self.options.model, self.options.size, self.shown
        )
    }
}

/// `{base}/v1/images/generations`, or `{base}/images/generations` when `base` already has a
/// `v1` path segment (DeepInfra's `/v1/openai`, a base given as `.../v1`).
fn images_endpoint(base: &Url) -> Url {
    let mut url = base.clone();
    let path = url.path().trim_end_matches('/').to_string();
    let has_version = path.split('/').any(|segment| segment == "v1");
    let suffix = if has_version {
        "images/generations"
    } else {
        "v1/images/generations"
    };
    url.set_path(&format!("{path}/{suffix}"));
    url
}

enum Payload {
    Base64(String),
    Url(String),
}

fn parse_answer(body: &[u8], shown: &str) -> Result<Payload, GenerateError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        data: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        b64_json: Option<String>,
        url: Option<String>,
    }
    let bad = |reason: String| GenerateError::BadResponse {
        url: shown.to_string(),
        reason,
    };
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        let text = String::from_utf8_lossy(body);
        bad(format!(
            "not the expected JSON ({e}): {}",
            http::excerpt(&text)
        ))
    })?;
    let item = answer
        .data
        .into_iter()
        .next()
        .ok_or_else(|| bad("no image in `data`".into()))?;
    match (item.b64_json, item.url) {
        (Some(b64), _) if !b64.is_empty() => Ok(Payload::Base64(b64)),
        (_, Some(url)) if !url.is_empty() => Ok(Payload::Url(url)),
        _ => Err(bad("`data[0]` has neither `b64_json` nor `url`".into())),
    }
}

fn decode_base64(b64: &str, shown: &str) -> Result<Bytes, GenerateError> {
    // Tolerate a data URL prefix and line breaks, which some compatible servers add.
    let b64 = b64.rsplit_once(";base64,").map_or(b64, |(_, data)| data);
    let clean: Vec<u8> = b64.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let decoded = if clean.len().is_multiple_of(4) {
        data_encoding::BASE64.decode(&clean)
    } else {
        data_encoding::BASE64_NOPAD.decode(&clean)
    };
    decoded
        .map(Bytes::from)
        .map_err(|e| GenerateError::InvalidImage {
            origin: shown.to_string(),
            reason: format!("`b64_json` is not base64: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ep = |base: &str| images_endpoint(&Url::parse(base).unwrap()).to_string();
        assert_eq!(
            ep("https://api.openai.com"),
            "https://api.openai.com/v1/images/generations"
        );
        assert_eq!(
            ep("https://api.openai.com/v1/"),
            "https://api.openai.com/v1/images/generations"
        );
        assert_eq!(
            ep("https://api.deepinfra.com/v1/openai"),
            "https://api.deepinfra.com/v1/openai/images/generations"
        );
        assert_eq!(
            ep("http://127.0.0.1:9/proxy"),
            "http://127.0.0.1:9/proxy/v1/images/generations"
        );
    }

    #[test]
    fn base64_variants() {
        for b64 in [
            "aGVsbG8=",
            "aGVsbG8",
            "aGVs\nbG8=",
            "data:image/png;base64,aGVsbG8=",
        ] {
            assert_eq!(&decode_base64(b64, "u").unwrap()[..], b"hello", "{b64}");
        }
        assert!(matches!(
            decode_base64("*not*", "u"),
            Err(GenerateError::InvalidImage { .. })
        ));
    }

    #[test]
    fn answers() {
        assert!(matches!(
            parse_answer(br#"{"data":[{"b64_json":"aGk="}]}"#, "u"),
            Ok(Payload::Base64(_))
        ));
        assert!(matches!(
            parse_answer(br#"{"data":[{"url":"https://x/y.png"}]}"#, "u"),
            Ok(Payload::Url(_))
        ));
        for bad in [
            &br#"{"data":[]}"#[..],
            br#"{"data":[{}]}"#,
            b"<html>",
            br#"{"error":{}}"#,
        ] {
            assert!(matches!(
                parse_answer(bad, "u"),
                Err(GenerateError::BadResponse { .. })
            ));
        }
    }
}
