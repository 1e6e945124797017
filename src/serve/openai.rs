//! The OpenAI images API (`POST /v1/images/generations`) as `genim serve` speaks it, so any
//! OpenAI-compatible client works once it can pay: the request body, the response, and the
//! error body (`{"error":{"message","type","param","code"}}`).

use crate::{
    generate::{ImageRequest, Size},
    nft::mint::MAX_PROMPT_BYTES,
};
use serde::{Deserialize, Serialize};

/// Most images per request.
pub const MAX_IMAGES: u8 = 4;

/// The request body. Unknown fields (`quality`, `style`, `user`...) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GenerationRequest {
    pub prompt: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub n: Option<u8>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
}

/// How the images come back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Base64 in the JSON (the default of `gpt-image-1`, and genim's).
    #[default]
    B64Json,
    /// A URL of the image on this server (`/files/<cid>`).
    Url,
}

/// A request checked and resolved against the server's generator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    pub prompt: String,
    pub model: String,
    pub size: Size,
    pub n: u8,
    pub response_format: ResponseFormat,
}

impl Generation {
    /// What to ask the generator for, once per image.
    pub fn image_request(&self) -> ImageRequest {
        ImageRequest::new(self.prompt.clone()).with_size(self.size)
    }
}

/// A request the server refuses before any payment (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    pub message: String,
    /// The field at fault (`prompt`, `n`, `size`, `model`).
    pub param: Option<&'static str>,
}

impl InvalidRequest {
    fn new(param: &'static str, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            param: Some(param),
        }
    }
}

impl GenerationRequest {
    /// Parses a request body (JSON).
    pub fn parse(body: &[u8]) -> Result<Self, InvalidRequest> {
        serde_json::from_slice(body).map_err(|err| InvalidRequest {
            message: format!("the body is not a valid images request: {err}"),
            param: None,
        })
    }

    /// Checks the request and fills in the server's defaults (`model`, `size`).
    pub fn resolve(
        self,
        default_model: &str,
        default_size: Size,
    ) -> Result<Generation, InvalidRequest> {
        if self.prompt.trim().is_empty() {
            return Err(InvalidRequest::new(
                "prompt",
                "empty prompt: describe the image to generate",
            ));
        }
        if self.prompt.len() > MAX_PROMPT_BYTES {
            return Err(InvalidRequest::new(
                "prompt",
                format!(
                    "prompt too long: {} bytes, at most {MAX_PROMPT_BYTES} are allowed",
                    self.prompt.len()
                ),
            ));
        }
        let n = self.n.unwrap_or(1);
        if !(1..=MAX_IMAGES).contains(&n) {
            return Err(InvalidRequest::new(
                "n",
                format!("n must be 1 to {MAX_IMAGES}, not {n}"),
            ));
        }
        let size = match self.size.as_deref() {
            None | Some("auto") => default_size,
            Some(text) => text
                .parse::<Size>()
                .map_err(|err| InvalidRequest::new("size", err.to_string()))?,
        };
        let model = match self.model {
            None => default_model.to_owned(),
            Some(model) if model == default_model => model,
            Some(model) => {
                return Err(InvalidRequest::new(
                    "model",
                    format!("unknown model '{model}': this server generates with {default_model}"),
                ));
            }
        };
        Ok(Generation {
            prompt: self.prompt,
            model,
            size,
            n,
            response_format: self.response_format.unwrap_or_default(),
        })
    }
}

/// One image of the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
}

/// The response body: OpenAI's fields, plus genim's (`settlement`, and `token` in escrow mode),
/// which OpenAI clients ignore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesResponse {
    pub created: i64,
    pub data: Vec<ImageData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settlement: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<serde_json::Value>,
}

/// OpenAI's error body.
pub fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> String {
    serde_json::json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(body: &str) -> Result<Generation, InvalidRequest> {
        GenerationRequest::parse(body.as_bytes())?.resolve("local-v1", Size::DEFAULT_LOCAL)
    }

    #[test]
    fn defaults_and_fields() {
        let generation = resolve(r#"{"prompt":"a fox","quality":"hd"}"#).unwrap();
        assert_eq!(generation.model, "local-v1");
        assert_eq!(generation.size, Size::DEFAULT_LOCAL);
        assert_eq!(generation.n, 1);
        assert_eq!(generation.response_format, ResponseFormat::B64Json);
        let generation =
            resolve(r#"{"prompt":"a fox","size":"256x256","n":2,"response_format":"url"}"#)
                .unwrap();
        assert_eq!(generation.size.to_string(), "256x256");
        assert_eq!(
            (generation.n, generation.response_format),
            (2, ResponseFormat::Url)
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert_eq!(
            resolve(r#"{"prompt":"  "}"#).unwrap_err().param,
            Some("prompt")
        );
        let long = format!(r#"{{"prompt":"{}"}}"#, "x".repeat(1001));
        assert_eq!(resolve(&long).unwrap_err().param, Some("prompt"));
        assert_eq!(
            resolve(r#"{"prompt":"a","n":9}"#).unwrap_err().param,
            Some("n")
        );
        assert_eq!(
            resolve(r#"{"prompt":"a","size":"big"}"#).unwrap_err().param,
            Some("size")
        );
        assert_eq!(
            resolve(r#"{"prompt":"a","model":"dall-e-9"}"#)
                .unwrap_err()
                .param,
            Some("model")
        );
        assert_eq!(resolve("not json").unwrap_err().param, None);
    }
}
