//! `GET /images/{cid}`: an image from the store, checked against its CID, with immutable cache
//! headers (a CID never changes its bytes). What `response_format: "url"` answers point to.

use super::AppState;
use crate::{cid, store::StoreError};
use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::sync::Arc;

/// Serves one stored file by CID.
pub async fn image(State(state): State<Arc<AppState>>, Path(cid): Path<String>) -> Response {
    if cid::parse_cid_v1(&cid).is_none() {
        return (StatusCode::BAD_REQUEST, "not a CIDv1").into_response();
    }
    match state.pipeline.store().get(&cid).await {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(sniff(&bytes)),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::HeaderName::from_static("x-content-type-options"),
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(StoreError::NotFound { .. } | StoreError::InvalidCid { .. }) => {
            (StatusCode::NOT_FOUND, "no such image").into_response()
        }
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store failed: {err}"),
        )
            .into_response(),
    }
}

/// The content type of stored bytes: the images genim makes, and its metadata JSON.
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        [b'{', ..] => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_stored_kinds() {
        assert_eq!(sniff(b"\x89PNG\r\n"), "image/png");
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8"), "image/webp");
        assert_eq!(sniff(b"{\"name\":1}"), "application/json");
        assert_eq!(sniff(b"??"), "application/octet-stream");
    }
}
