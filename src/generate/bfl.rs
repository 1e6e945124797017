//! `bfl`: Black Forest Labs' FLUX API.
//!
//! 1. `POST {base}/v1/{model}` with `x-key: KEY` and `{"prompt", "width", "height"}`; the answer
//!    holds `id` and `polling_url` (older deployments: `{base}/v1/get_result?id=ID`).
//! 2. `GET polling_url` every `poll_interval` until `status` is `Ready`. `Pending` (and any status
//!    not known here) keeps polling; `Request Moderated` / `Content Moderated` are a permanent
//!    [`GenerateError::Moderated`]; `Error`, `Failed` and `Task not found` are a retryable
//!    [`GenerateError::Failed`]. A poll that fails with a retryable error (network, 429, 5xx) is
//!    repeated: the task is already paid for.
//! 3. Download `result.sample` (a signed URL valid for minutes) without the key.
//!
//! The key goes only to the API's own site: the polling URL must be on the base URL's host or a
//! sibling subdomain (`api.bfl.ai` -> `api.us1.bfl.ai`). The overall timeout bounds all of it.
//! Width and height must suit the model (FLUX: multiples of 32, 256..=1440); the API answers
//! 422 otherwise, a rejected request.

use super::{
    ApiKey, BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorConfig, GeneratorKind,
    ImageRequest, Size, Timeouts,
    image::checked_image,
    remote::{self, MAX_BODY, api_error, download, with_deadline},
};
use crate::http::{self, redact_url};
use bytes::Bytes;
use reqwest::{RequestBuilder, Url};
use serde::Deserialize;
use std::time::Duration;

/// Options of a [`BflGenerator`].
#[derive(Clone, Debug)]
pub struct BflOptions {
    /// API base URL, `https://api.bfl.ai` by default (regional: `https://api.eu.bfl.ai`, ...).
    pub base_url: Url,
    /// Model endpoint name, `flux-pro-1.1` by default.
    pub model: String,
    /// Size when a request names none, 1024x1024 by default.
    pub size: Size,
    pub timeouts: Timeouts,
    /// Pause between two polls.
    pub poll_interval: Duration,
}

impl Default for BflOptions {
    fn default() -> Self {
        Self {
            base_url: Url::parse("https://api.bfl.ai").expect("a valid URL"),
            model: "flux-pro-1.1".into(),
            size: Size::DEFAULT_REMOTE,
            timeouts: Timeouts::default(),
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl BflOptions {
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

/// A client of the BFL API.
#[derive(Clone, Debug)]
pub struct BflGenerator {
    options: BflOptions,
    endpoint: Url,
    shown: String,
    api_key: ApiKey,
    client: http::Client,
}

#[derive(Deserialize)]
struct Submitted {
    id: String,
    polling_url: Option<String>,
}

#[derive(Deserialize)]
struct Polled {
    status: String,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    details: Option<serde_json::Value>,
}

impl BflGenerator {
    /// A generator for `options`, authenticated with `api_key`. Sends no request.
    pub fn new(options: BflOptions, api_key: ApiKey) -> Result<Self, GenerateError> {
        if !matches!(options.base_url.scheme(), "http" | "https") {
            return Err(GenerateError::Config(format!(
                "base URL {} is not http(s)",
                redact_url(&options.base_url)
            )));
        }
        let model = options.model.trim();
        if model.is_empty()
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(GenerateError::Config(format!(
                "bad BFL model name {:?}",
                options.model
            )));
        }
        let mut endpoint = options.base_url.clone();
        let path = endpoint
            .path()
            .trim_end_matches('/')
            .trim_end_matches("/v1")
            .to_string();
        endpoint.set_path(&format!("{path}/v1/{model}"));
        let shown = http::redact_endpoint(&options.base_url, &format!("v1/{model}"));
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
            || format!("BFL generation at {}", self.shown),
            async {
                let size = request.size_or(self.options.size);
                let body = serde_json::json!({
                    "prompt": request.prompt,
                    "width": size.width,
                    "height": size.height,
                });
                let submit = self.client.post(self.endpoint.clone()).json(&body);
                let answer = self.call(submit, &self.shown).await?;
                let submitted: Submitted =
                    serde_json::from_slice(&answer).map_err(|e| GenerateError::BadResponse {
                        url: self.shown.clone(),
                        reason: format!("no `id` in the answer: {e}"),
                    })?;
                let sample = self.poll(&submitted).await?;
                let (bytes, origin) = download(&self.client, &sample).await?;
                checked_image(bytes, origin, &self.options.model, GeneratorKind::Bfl).await
            },
        )
        .await
    }

    /// Sends an API request with the key and returns the answer's body.
    async fn call(&self, request: RequestBuilder, shown: &str) -> Result<Bytes, GenerateError> {
        let request = request
            .header("x-key", self.api_key.header("")?)
            .header(reqwest::header::ACCEPT, "application/json");
        let (_, body) = self
            .client
            .fetch(request, shown, MAX_BODY)
            .await
            .map_err(api_error)?;
        Ok(body)
    }

    /// Polls until the task is ready and returns the sample URL.
    async fn poll(&self, submitted: &Submitted) -> Result<String, GenerateError> {
        let url = match &submitted.polling_url {
            Some(url) => Url::parse(url).map_err(|e| GenerateError::BadResponse {
                url: self.shown.clone(),
                reason: format!("bad polling_url: {e}"),
            })?,
            None => {
                let mut url = self.options.base_url.clone();
                let path = url
                    .path()
                    .trim_end_matches('/')
                    .trim_end_matches("/v1")
                    .to_string();
                url.set_path(&format!("{path}/v1/get_result"));
                url.query_pairs_mut().append_pair("id", &submitted.id);
                url
            }
        };
        let shown = redact_url(&url);
        if !same_site(&self.options.base_url, &url) {
            return Err(GenerateError::BadResponse {
                url: self.shown.clone(),
                reason: format!(
                    "polling_url {shown} is not on the API's site; the key is not sent there"
                ),
            });
        }
        let mut warned_status = None::<String>;
        loop {
            let answer = match self.call(self.client.get(url.clone()), &shown).await {
                Ok(answer) => answer,
                Err(e) if e.is_retryable() => {
                    let task = &submitted.id;
                    tracing::debug!(%task, error = %e, "BFL poll failed; polling again");
                    tokio::time::sleep(e.retry_after().unwrap_or(self.options.poll_interval)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let polled: Polled =
                serde_json::from_slice(&answer).map_err(|e| GenerateError::BadResponse {
                    url: shown.clone(),
                    reason: format!("no `status` in the answer: {e}"),
                })?;
            let details = || {
                polled
                    .details
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            };
            match polled.status.as_str() {
                "Ready" => {
                    return polled
                        .result
                        .as_ref()
                        .and_then(|r| r.get("sample"))
                        .and_then(|s| s.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| GenerateError::BadResponse {
                            url: shown.clone(),
                            reason: "status Ready without `result.sample`".into(),
                        });
                }
                "Request Moderated" | "Content Moderated" => {
                    return Err(GenerateError::Moderated {
                        reason: format!("{}{}", polled.status, details()),
                    });
                }
                "Error" | "Failed" | "Task not found" => {
                    return Err(GenerateError::Failed {
                        url: shown,
                        message: format!("{}{}", polled.status, details()),
                    });
                }
                "Pending" => {}
                other => {
                    if warned_status.as_deref() != Some(other) {
                        let task = &submitted.id;
                        tracing::warn!(%task, status = other, "unknown BFL status; polling on");
                        warned_status = Some(other.to_string());
                    }
                }
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
    }
}

impl Generator for BflGenerator {
    fn health(&self) -> BoxFuture<'_, Result<(), GenerateError>> {
        Box::pin(super::remote::reachable(
            &self.client,
            &self.endpoint,
            &self.shown,
        ))
    }

    fn kind(&self) -> GeneratorKind {
        GeneratorKind::Bfl
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
            "bfl {} {} at {}",
            self.options.model, self.options.size, self.shown
        )
    }
}

/// Whether `other` is on the same host as `base`, or on a sibling subdomain of the same
/// two-label domain (`api.bfl.ai` and `api.us1.bfl.ai`), without a downgrade to http.
fn same_site(base: &Url, other: &Url) -> bool {
    if base.scheme() == "https" && other.scheme() != "https" {
        return false;
    }
    let (Some(b), Some(o)) = (base.host_str(), other.host_str()) else {
        return false;
    };
    if b == o {
        return base.port_or_known_default() == other.port_or_known_default();
    }
    let is_ip = b.starts_with('[') || b.parse::<std::net::IpAddr>().is_ok();
    let labels: Vec<&str> = b.rsplitn(3, '.').collect();
    if is_ip || labels.len() < 2 {
        return false;
    }
    let site = format!("{}.{}", labels[1], labels[0]);
    o == site || o.ends_with(&format!(".{site}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_stays_on_site() {
        let base = Url::parse("https://api.bfl.ai").unwrap();
        let ok = |u: &str| same_site(&base, &Url::parse(u).unwrap());
        assert!(ok("https://api.bfl.ai/v1/get_result?id=1"));
        assert!(ok("https://api.us1.bfl.ai/v1/get_result?id=1"));
        assert!(!ok("http://api.us1.bfl.ai/v1/get_result"));
        assert!(!ok("https://evil.example/bfl.ai"));
        assert!(!ok("https://notbfl.ai/x"));
        let local = Url::parse("http://127.0.0.1:8080").unwrap();
        assert!(same_site(
            &local,
            &Url::parse("http://127.0.0.1:8080/poll").unwrap()
        ));
        assert!(!same_site(
            &local,
            &Url::parse("http://127.0.0.2:8080/poll").unwrap()
        ));
    }

    #[test]
    fn endpoint() {
        let make = |base: &str| {
            let options = BflOptions {
                base_url: Url::parse(base).unwrap(),
                ..BflOptions::default()
            };
            BflGenerator::new(options, ApiKey::new("k"))
                .unwrap()
                .endpoint
                .to_string()
        };
        assert_eq!(
            make("https://api.bfl.ai"),
            "https://api.bfl.ai/v1/flux-pro-1.1"
        );
        assert_eq!(
            make("https://api.eu.bfl.ai/v1/"),
            "https://api.eu.bfl.ai/v1/flux-pro-1.1"
        );
        let bad = BflOptions {
            model: "../x".into(),
            ..BflOptions::default()
        };
        assert!(BflGenerator::new(bad, ApiKey::new("k")).is_err());
    }
}
