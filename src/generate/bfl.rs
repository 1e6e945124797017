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
//! Width and height must suit the model (FLUX: multiples of 32, 256..=1440).

use super::{
    ApiKey, BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorConfig, GeneratorKind,
    Size, Timeouts, checked_image, download, http_client, send, with_deadline,
};
use crate::store::redact_url;
use reqwest::{Client, Url};
use serde::Deserialize;
use std::time::Duration;

/// Options of a [`BflGenerator`].
#[derive(Clone, Debug)]
pub struct BflOptions {
    /// API base URL, `https://api.bfl.ai` by default (regional: `https://api.eu.bfl.ai`, ...).
    pub base_url: Url,
    /// Model endpoint name, `flux-pro-1.1` by default.
    pub model: String,
    /// Requested size, 1024x1024 by default.
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
    client: Client,
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
        let shown = redact_url(&endpoint);
        let client = http_client(&options.timeouts)?;
        Ok(Self {
            options,
            endpoint,
            shown,
            api_key,
            client,
        })
    }

    /// Generates one image (see the module doc).
    pub async fn generate_image(&self, prompt: &str) -> Result<GeneratedImage, GenerateError> {
        let timeouts = &self.options.timeouts;
        with_deadline(
            timeouts.overall,
            || format!("BFL generation at {}", self.shown),
            async {
                let body = serde_json::json!({
                    "prompt": prompt,
                    "width": self.options.size.width,
                    "height": self.options.size.height,
                });
                let request = self
                    .client
                    .post(self.endpoint.clone())
                    .header("x-key", self.api_key.header("")?)
                    .header(reqwest::header::ACCEPT, "application/json")
                    .json(&body);
                let (_, answer) = send(request, &self.shown, timeouts).await?;
                let submitted: Submitted =
                    serde_json::from_slice(&answer).map_err(|e| GenerateError::BadResponse {
                        url: self.shown.clone(),
                        reason: format!("no `id` in the answer: {e}"),
                    })?;
                let sample = self.poll(&submitted).await?;
                let (bytes, origin) = download(&self.client, &sample, timeouts).await?;
                checked_image(bytes, origin, &self.options.model, GeneratorKind::Bfl).await
            },
        )
        .await
    }

    /// Polls until the task is ready and returns the sample URL.
    async fn poll(&self, submitted: &Submitted) -> Result<String, GenerateError> {
        let timeouts = &self.options.timeouts;
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
            let request = self
                .client
                .get(url.clone())
                .header("x-key", self.api_key.header("")?)
                .header(reqwest::header::ACCEPT, "application/json");
            let answer = match send(request, &shown, timeouts).await {
                Ok((_, answer)) => answer,
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
    fn kind(&self) -> GeneratorKind {
        GeneratorKind::Bfl
    }

    fn model(&self) -> &str {
        &self.options.model
    }

    fn size(&self) -> Size {
        self.options.size
    }

    fn generate(&self, prompt: &str) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>> {
        let prompt = prompt.to_string();
        Box::pin(async move { self.generate_image(&prompt).await })
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
