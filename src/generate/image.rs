//! Is it an image? [`inspect_image`] decides for every answer before a generator returns it.
//!
//! "Decodable" means: `imagesize` recognises a PNG, JPEG or WebP and reads a size of at most
//! [`MAX_SIDE`] on each side from its header (checked before any pixel memory is allocated, so
//! a tiny file that claims to be huge cannot exhaust memory), then the format's decoder reads
//! every pixel without an error: `png` (zlib stream and CRCs checked: any damaged byte is
//! found), `zune-jpeg` in strict mode (a truncated file or a malformed segment is an error, not
//! grey blocks; JPEG has no checksum, so damage inside the compressed data that still decodes
//! cannot be told from a picture) and `image-webp` (lossy and lossless; the first frame of an
//! animation).

use super::{GenerateError, GeneratedImage, GeneratorKind};
use bytes::Bytes;
use std::io::Cursor;
use zune_jpeg::{
    JpegDecoder,
    zune_core::{bytestream::ZCursor, options::DecoderOptions},
};

/// Largest accepted width or height.
pub const MAX_SIDE: u32 = 8192;

/// What [`inspect_image`] reads from an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Checks that `bytes` are a decodable PNG, JPEG or WebP (see the module doc) and reads its
/// type and size. The error says why not, in one line. CPU-bound: a 1024x1024 image takes a
/// few milliseconds, so async callers use [`checked_image`].
pub fn inspect_image(bytes: &[u8]) -> Result<ImageInfo, String> {
    let not_an_image = || {
        let start: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!(
            "not a PNG, JPEG or WebP ({} bytes starting {start})",
            bytes.len()
        )
    };
    let mime = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => "image/png",
        Ok(imagesize::ImageType::Jpeg) => "image/jpeg",
        Ok(imagesize::ImageType::Webp) => "image/webp",
        _ => return Err(not_an_image()),
    };
    let header = imagesize::blob_size(bytes).map_err(|e| format!("{mime} header: {e}"))?;
    let (width, height) = (side(header.width)?, side(header.height)?);
    if width == 0 || height == 0 {
        return Err(format!("{mime} with an empty size {width}x{height}"));
    }
    let decoded = match mime {
        "image/png" => decode_png(bytes)?,
        "image/jpeg" => decode_jpeg(bytes)?,
        _ => decode_webp(bytes)?,
    };
    if decoded != (width, height) {
        return Err(format!(
            "{mime} header says {width}x{height}, its data {}x{}",
            decoded.0, decoded.1
        ));
    }
    Ok(ImageInfo {
        mime,
        width,
        height,
    })
}

fn side(pixels: usize) -> Result<u32, String> {
    u32::try_from(pixels)
        .ok()
        .filter(|&p| p <= MAX_SIDE)
        .ok_or_else(|| format!("{pixels} pixels on a side; at most {MAX_SIDE} are accepted"))
}

fn decode_png(bytes: &[u8]) -> Result<(u32, u32), String> {
    let limits = png::Limits { bytes: 512 << 20 };
    let mut reader = png::Decoder::new_with_limits(Cursor::new(bytes), limits)
        .read_info()
        .map_err(|e| format!("PNG header: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or("PNG too large to decode")?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("PNG data: {e}"))?;
    Ok((frame.width, frame.height))
}

fn decode_jpeg(bytes: &[u8]) -> Result<(u32, u32), String> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode().map_err(|e| format!("JPEG data: {e}"))?;
    let (width, height) = decoder.dimensions().ok_or("JPEG: no frame header")?;
    Ok((width as u32, height as u32))
}

fn decode_webp(bytes: &[u8]) -> Result<(u32, u32), String> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes))
        .map_err(|e| format!("WebP header: {e}"))?;
    let size = decoder
        .output_buffer_size()
        .ok_or("WebP too large to decode")?;
    let mut buf = vec![0; size];
    decoder
        .read_image(&mut buf)
        .map_err(|e| format!("WebP data: {e}"))?;
    Ok(decoder.dimensions())
}

/// File extension for a mime type: `png`, `jpg` or `webp`.
pub(crate) fn extension_of(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        _ => "png",
    }
}

/// Checks `bytes` on the blocking pool and wraps them; `origin` names where they came from.
pub(crate) async fn checked_image(
    bytes: Bytes,
    origin: String,
    model: &str,
    generator: GeneratorKind,
) -> Result<GeneratedImage, GenerateError> {
    let copy = bytes.clone();
    let info = tokio::task::spawn_blocking(move || inspect_image(&copy))
        .await
        .map_err(|e| GenerateError::InvalidImage {
            origin: origin.clone(),
            reason: format!("decoder panicked: {e}"),
        })?
        .map_err(|reason| GenerateError::InvalidImage { origin, reason })?;
    Ok(GeneratedImage {
        bytes,
        mime: info.mime,
        width: info.width,
        height: info.height,
        model: model.to_string(),
        generator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Size, local};

    fn pixels(width: u32, height: u32) -> Vec<u8> {
        local::render_rgb("a red fox", Size { width, height })
    }

    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut out = Vec::new();
        jpeg_encoder::Encoder::new(&mut out, 85)
            .encode(
                &pixels(width.into(), height.into()),
                width,
                height,
                jpeg_encoder::ColorType::Rgb,
            )
            .unwrap();
        out
    }

    fn webp(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image_webp::WebPEncoder::new(&mut out)
            .encode(
                &pixels(width, height),
                width,
                height,
                image_webp::ColorType::Rgb8,
            )
            .unwrap();
        out
    }

    #[test]
    fn reads_type_and_size_of_each_format() {
        let size = Size {
            width: 40,
            height: 30,
        };
        let png = local::render_png("a red fox", size).unwrap();
        let info = |bytes: &[u8]| inspect_image(bytes).unwrap();
        assert_eq!(
            info(&png),
            ImageInfo {
                mime: "image/png",
                width: 40,
                height: 30
            }
        );
        assert_eq!(
            info(&jpeg(48, 32)),
            ImageInfo {
                mime: "image/jpeg",
                width: 48,
                height: 32
            }
        );
        assert_eq!(
            info(&webp(100, 50)),
            ImageInfo {
                mime: "image/webp",
                width: 100,
                height: 50
            }
        );
    }

    #[test]
    fn broken_images_are_not_decodable() {
        let png = local::render_png(
            "a red fox",
            Size {
                width: 64,
                height: 64,
            },
        )
        .unwrap();
        let jpeg = jpeg(64, 64);
        let webp = webp(64, 64);
        for (what, image) in [("png", &png), ("jpeg", &jpeg), ("webp", &webp)] {
            // Cut in the middle of the pixel data: the header alone still looks fine.
            let truncated = &image[..image.len() * 2 / 3];
            assert!(
                imagesize::blob_size(truncated).is_ok(),
                "{what}: header intact"
            );
            let err = inspect_image(truncated).unwrap_err();
            assert!(!err.is_empty(), "{what}");
        }
        // Damage in the middle of the data: PNG's CRCs and WebP's structure catch it (JPEG
        // has no checksum to catch it with).
        for (what, image) in [("png", &png), ("webp", &webp)] {
            let mut corrupt = image.to_vec();
            let middle = corrupt.len() / 2;
            corrupt[middle..middle + 64].fill(0xff);
            assert!(
                inspect_image(&corrupt).is_err(),
                "{what}: corrupt data accepted"
            );
        }
        for bad in [
            &b""[..],
            b"{\"error\":1}",
            b"<html>",
            b"\x89PNG\r\n\x1a\n garbage",
        ] {
            let err = inspect_image(bad).unwrap_err();
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn huge_claimed_sizes_are_refused_before_decoding() {
        // A valid PNG header claiming 100000x100000 pixels, with no data after it.
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend(100_000u32.to_be_bytes());
        png.extend(100_000u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let err = inspect_image(&png).unwrap_err();
        assert!(err.contains("at most 8192"), "{err}");
    }

    #[test]
    fn extensions() {
        assert_eq!(extension_of("image/jpeg"), "jpg");
        assert_eq!(extension_of("image/webp"), "webp");
        assert_eq!(extension_of("image/png"), "png");
    }
}
