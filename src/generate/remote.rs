//! What the HTTP generators share: the client, image downloads, the overall deadline and the
//! mapping of API errors.

use super::{GenerateError, Timeouts, error::MODERATION_CODES};
use crate::http::{self, HttpError, redact_url};
use bytes::Bytes;
use reqwest::Url;
use std::time::Duration;

/// Largest body accepted from an API: images are a few MB, base64 a third more.
pub(crate) const MAX_BODY: usize = 64 << 20;

/// The HTTP client of a remote generator.
pub(crate) fn client(timeouts: &Timeouts) -> Result<http::Client, GenerateError> {
    http::Client::new(http::Timeouts {
        connect: timeouts.connect,
        request: timeouts.request,
    })
    .map_err(|e| GenerateError::Config(e.to_string()))
}

/// An API error as a [`GenerateError`]: a content-policy refusal becomes
/// [`GenerateError::Moderated`], so that callers see it for what it is.
pub(crate) fn api_error(err: HttpError) -> GenerateError {
    match err {
        HttpError::Status {
            status: 400 | 403 | 422,
            code: Some(code),
            message,
            ..
        } if MODERATION_CODES.contains(&code.as_str()) => {
            GenerateError::Moderated { reason: message }
        }
        other => GenerateError::Http(other),
    }
}

/// Downloads an image from `url` (an OpenAI `url` answer or BFL's `result.sample`), without any
/// API key: these are signed URLs, often on another host. Returns the bytes and how to name the
/// URL in messages.
pub(crate) async fn download(
    client: &http::Client,
    url: &str,
) -> Result<(Bytes, String), GenerateError> {
    let parsed = Url::parse(url).map_err(|e| GenerateError::BadResponse {
        url: "image URL".into(),
        reason: format!("bad URL: {e}"),
    })?;
    let shown = redact_url(&parsed);
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(GenerateError::BadResponse {
            url: shown,
            reason: format!("image URL scheme {} is not http(s)", parsed.scheme()),
        });
    }
    let (_, body) = client
        .fetch(client.get(parsed), &shown, MAX_BODY)
        .await
        .map_err(api_error)?;
    Ok((body, shown))
}

/// Runs `fut` within `after`, else a [`GenerateError::Timeout`] for the whole generation.
pub(crate) async fn with_deadline<T>(
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

/// Whether the API's host answers at all: any HTTP status, even 401 or 405, means reachable
/// (a health check must not spend a generation, nor send the key).
pub(crate) async fn reachable(
    client: &http::Client,
    url: &Url,
    shown: &str,
) -> Result<(), GenerateError> {
    match client.send(client.get(url.clone()), shown).await {
        Ok(_) | Err(HttpError::Status { .. }) => Ok(()),
        Err(err) => Err(GenerateError::Http(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_policy_refusals_are_moderation() {
        let status = |status, code: Option<&str>| HttpError::Status {
            url: "u".into(),
            status,
            message: "Your request was rejected by the safety system".into(),
            code: code.map(str::to_string),
            retry_after: None,
        };
        let err = api_error(status(400, Some("content_policy_violation")));
        assert!(matches!(err, GenerateError::Moderated { .. }), "{err:?}");
        assert!(err.to_string().contains("safety system"), "{err}");
        let err = api_error(status(400, Some("invalid_size")));
        assert!(matches!(err, GenerateError::Http(_)), "{err:?}");
    }

    #[tokio::test]
    async fn downloads_refuse_other_schemes() {
        let client = client(&Timeouts::default()).unwrap();
        let err = download(&client, "file:///etc/passwd").await.unwrap_err();
        assert!(matches!(err, GenerateError::BadResponse { .. }), "{err:?}");
        let err = download(&client, "not a url").await.unwrap_err();
        assert!(matches!(err, GenerateError::BadResponse { .. }), "{err:?}");
    }
}
