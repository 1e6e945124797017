//! The one HTTP layer. (Interim: replaced by the pipeline branch's module.)

use reqwest::Url;

/// The URL without credentials, path or query (which often hold API keys):
/// `https://eth-mainnet.example.com/...`.
pub fn redact_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let rest = if url.path().len() > 1 || url.query().is_some() {
        "/..."
    } else {
        ""
    };
    format!("{}://{host}{port}{rest}", url.scheme())
}

/// [`redact_url`] for text that may not parse.
pub fn redact_url_str(text: &str) -> String {
    match Url::parse(text.trim()) {
        Ok(url) => redact_url(&url),
        Err(_) if text.len() > 40 => format!("{}...", &text[..text.floor_char_boundary(40)]),
        Err(_) => text.to_owned(),
    }
}

/// A short one-line excerpt of an error body; an HTML page becomes `(an HTML page)`.
pub fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    let lower = trimmed
        .get(..trimmed.len().min(200))
        .unwrap_or("")
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype") || lower.starts_with("<html") || lower.contains("<body") {
        return "(an HTML page)".into();
    }
    let line: String = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 160 {
        format!("{}...", line.chars().take(160).collect::<String>())
    } else {
        line
    }
}
