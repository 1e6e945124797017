//! [`GenerateError`] and its [`ErrorClass`].

use crate::{http::HttpError, retry::ErrorClass};
use std::time::Duration;

/// Error codes of API error bodies that mean the model or the key is wrong: every request
/// fails the same way.
const CONFIG_CODES: &[&str] = &["model_not_found", "invalid_api_key", "insufficient_quota"];

/// Error codes of API error bodies that mean the prompt was refused by moderation.
pub(crate) const MODERATION_CODES: &[&str] = &[
    "content_policy_violation",
    "moderation_blocked",
    "content_filter",
];

/// Errors of the generators. [`class`](Self::class) tells callers what to do about each.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Bad or missing configuration (model, key, URL, a default size out of range).
    #[error("generator configuration: {0}")]
    Config(String),
    /// The API could not be reached or answered with an error status.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The whole generation (requests, polling, download) took too long.
    #[error("{what} did not finish within {after:?}")]
    Timeout { what: String, after: Duration },
    /// The API refused the prompt or the result (content policy, moderation).
    #[error("the image API refused this prompt ({reason})")]
    Moderated { reason: String },
    /// This generator cannot serve the request (e.g. a size out of its range).
    #[error("cannot generate this request: {reason}")]
    Unsupported { reason: String },
    /// The API reports that the generation failed on its side.
    #[error("generation failed at {url}: {message}")]
    Failed { url: String, message: String },
    /// The answer is not what the API should send (bad JSON, missing fields).
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// The bytes received are not a decodable PNG, JPEG or WebP.
    #[error("{origin} did not give a decodable image: {reason}")]
    InvalidImage { origin: String, reason: String },
}

impl GenerateError {
    /// What a caller should do about it:
    /// - `Transient`: connection refused, timeouts, HTTP 408/425/429/5xx, a generation the API
    ///   reports as failed on its side: retry with capped backoff.
    /// - `Rejected`: moderation, a request this generator cannot serve, another 4xx (an invalid
    ///   request for this prompt), an undecodable image (not retried: every attempt is paid,
    ///   and a model that drew garbage for a prompt tends to do it again).
    /// - `Config`: bad configuration, HTTP 401/402/403/404 or an unknown model, an API that
    ///   answers something else than its protocol: every request fails the same way.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Http(HttpError::Status {
                code: Some(code), ..
            }) if CONFIG_CODES.contains(&code.as_str()) => ErrorClass::Config,
            Self::Http(HttpError::Status {
                code: Some(code), ..
            }) if MODERATION_CODES.contains(&code.as_str()) => ErrorClass::Rejected,
            Self::Http(err) => err.class(),
            Self::Timeout { .. } | Self::Failed { .. } => ErrorClass::Transient,
            Self::Moderated { .. } | Self::Unsupported { .. } | Self::InvalidImage { .. } => {
                ErrorClass::Rejected
            }
            Self::Config(_) | Self::BadResponse { .. } => ErrorClass::Config,
        }
    }

    /// Whether the same generation may succeed later ([`ErrorClass::Transient`]).
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// How long the API asked to wait (`Retry-After` of a 429 or 503), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http(err) => err.retry_after(),
            _ => None,
        }
    }

    /// The HTTP status of an API error, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http(err) => err.status(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: Option<&str>) -> GenerateError {
        GenerateError::Http(HttpError::Status {
            url: "u".into(),
            status,
            message: String::new(),
            code: code.map(str::to_string),
            retry_after: None,
        })
    }

    #[test]
    fn classes() {
        use ErrorClass::*;
        for (err, class) in [
            (http(500, None), Transient),
            (http(503, None), Transient),
            (http(429, None), Transient),
            (http(400, None), Rejected),
            (http(400, Some("content_policy_violation")), Rejected),
            (http(422, None), Rejected),
            (http(401, None), Config),
            (http(403, None), Config),
            (http(404, None), Config),
            (http(400, Some("model_not_found")), Config),
            (
                GenerateError::Http(HttpError::Unreachable {
                    url: "u".into(),
                    reason: "connection refused".into(),
                }),
                Transient,
            ),
            (
                GenerateError::Timeout {
                    what: "x".into(),
                    after: Duration::from_secs(1),
                },
                Transient,
            ),
            (
                GenerateError::Failed {
                    url: "u".into(),
                    message: "Error".into(),
                },
                Transient,
            ),
            (GenerateError::Moderated { reason: "x".into() }, Rejected),
            (
                GenerateError::InvalidImage {
                    origin: "x".into(),
                    reason: "y".into(),
                },
                Rejected,
            ),
            (
                GenerateError::Unsupported {
                    reason: "size".into(),
                },
                Rejected,
            ),
            (GenerateError::Config("bad key".into()), Config),
            (
                GenerateError::BadResponse {
                    url: "u".into(),
                    reason: "not JSON".into(),
                },
                Config,
            ),
        ] {
            assert_eq!(err.class(), class, "{err:?}");
            assert_eq!(err.is_retryable(), class == Transient, "{err:?}");
        }
    }

    #[test]
    fn retry_after_comes_from_the_answer() {
        let err = GenerateError::Http(HttpError::Status {
            url: "u".into(),
            status: 429,
            message: "slow down".into(),
            code: None,
            retry_after: Some(Duration::from_secs(7)),
        });
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.to_string(), "u answered HTTP 429: slow down");
    }
}
