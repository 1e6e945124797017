//! The page's static files, embedded in the binary (no CDN, no build step at run time).

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// Name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
    (
        "gallery.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/gallery.js"),
    ),
    (
        "token.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/token.js"),
    ),
    (
        "wallet.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/wallet.js"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
    (
        "pending.svg",
        "image/svg+xml",
        include_str!("assets/pending.svg"),
    ),
];

/// `GET /assets/{file}`.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                // Short: the files change with the binary and keep their names.
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
