//! `local`: a built-in, offline, deterministic generator for demos, tests and CI.
//!
//! The picture is a pure function of the prompt and the size: the prompt's sha-256 seeds a small
//! PRNG that picks a palette, a background gradient and a few soft discs and rings. Only integer
//! and basic IEEE float arithmetic is used (no `sin`/`cos`, whose last bits vary between libms),
//! so every machine draws the same pixels; the encoded bytes are also identical for a given
//! version of the `png` crate. The prompt is stored in the PNG's iTXt `Description`.
//!
//! Any size up to [`MAX_LOCAL_SIDE`] on each side can be asked per request. Speed (release
//! build, on the shared 2-core dev machine): a 512x512 image takes about 5 ms, ~3 ms to draw
//! and ~2 ms to encode (`Compression::Fast`, Paeth filter), and is ~115 KB; time grows with the
//! pixel count. Benchmark: `cargo test --release --test it -- --ignored --nocapture speed`.

use super::{
    BoxFuture, GenerateError, GeneratedImage, Generator, GeneratorKind, ImageRequest, Size,
};
use bytes::Bytes;

/// The model name recorded for local images. Bump it when the picture algorithm changes.
pub const MODEL: &str = "local-v1";

/// Largest width or height the local generator draws (time and memory grow with the pixel
/// count: 4096x4096 is 64 times 512x512).
pub const MAX_LOCAL_SIDE: u32 = 4096;

/// The built-in generator.
#[derive(Clone, Debug)]
pub struct LocalGenerator {
    size: Size,
}

impl LocalGenerator {
    /// A generator of `size` images by default (at most 4096 on each side).
    pub fn new(size: Size) -> Result<Self, GenerateError> {
        check_size(size).map_err(GenerateError::Config)?;
        Ok(Self { size })
    }

    /// Renders and encodes the image on the calling thread: `"a prompt"` at the default size,
    /// or an [`ImageRequest`] with its own size.
    pub fn generate_blocking(
        &self,
        request: impl Into<ImageRequest>,
    ) -> Result<GeneratedImage, GenerateError> {
        let request = request.into();
        self.check(&request)?;
        let size = request.size_or(self.size);
        let bytes = render_png(&request.prompt, size)?;
        Ok(GeneratedImage {
            bytes: Bytes::from(bytes),
            mime: "image/png",
            width: size.width,
            height: size.height,
            model: MODEL.to_string(),
            generator: GeneratorKind::Local,
        })
    }
}

fn check_size(size: Size) -> Result<(), String> {
    let side = 1..=MAX_LOCAL_SIDE;
    if side.contains(&size.width) && side.contains(&size.height) {
        Ok(())
    } else {
        Err(format!(
            "local images are 1x1 to {MAX_LOCAL_SIDE}x{MAX_LOCAL_SIDE}, not {size}"
        ))
    }
}

impl Generator for LocalGenerator {
    fn kind(&self) -> GeneratorKind {
        GeneratorKind::Local
    }

    fn model(&self) -> &str {
        MODEL
    }

    fn size(&self) -> Size {
        self.size
    }

    fn check(&self, request: &ImageRequest) -> Result<(), GenerateError> {
        check_size(request.size_or(self.size))
            .map_err(|reason| GenerateError::Unsupported { reason })
    }

    fn generate(
        &self,
        request: &ImageRequest,
    ) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>> {
        let this = self.clone();
        let request = request.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.generate_blocking(request))
                .await
                .map_err(|e| GenerateError::Config(format!("local generator task failed: {e}")))?
        })
    }
}

/// Draws the picture of `prompt` as 8-bit RGB rows.
pub fn render_rgb(prompt: &str, size: Size) -> Vec<u8> {
    let (w, h) = (size.width as usize, size.height as usize);
    let mut rng = Rng::from_prompt(prompt);
    let hue = rng.unit();
    let light = hsv(hue, 0.35 + 0.3 * rng.unit(), 0.9 + 0.1 * rng.unit());
    let dark = hsv(
        hue + 0.45 + 0.1 * rng.unit(),
        0.6 + 0.3 * rng.unit(),
        0.2 + 0.2 * rng.unit(),
    );

    // Background: a linear gradient along a random direction (normalised with sqrt only).
    let (dx, dy) = (rng.unit() * 2.0 - 1.0, rng.unit() * 2.0 - 1.0);
    let norm = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (dx, dy) = (dx / norm, dy / norm);
    let extent = dx.abs() * w as f32 + dy.abs() * h as f32;
    let origin = dx.min(0.0) * w as f32 + dy.min(0.0) * h as f32;
    // 1024 gradient steps are finer than 8-bit channels can show.
    let ramp: Vec<[u8; 3]> = (0..1024)
        .map(|i| {
            let t = i as f32 / 1023.0;
            [0, 1, 2].map(|c| to_u8(dark[c] + (light[c] - dark[c]) * t))
        })
        .collect();
    // Ramp index in 16.16 fixed point, stepped along each row.
    let scale = 1023.0 * 65536.0 / extent;
    let step = (dx * scale) as i64;
    let mut pixels = vec![0u8; w * h * 3];
    for (y, row) in pixels.chunks_exact_mut(w * 3).enumerate() {
        let mut at = ((y as f32 * dy - origin) * scale) as i64 + step / 2;
        for px in row.chunks_exact_mut(3) {
            let [r, g, b] = ramp[(at >> 16).clamp(0, 1023) as usize];
            px[0] = r;
            px[1] = g;
            px[2] = b;
            at += step;
        }
    }

    // Shapes: soft discs and rings in colours around the golden-ratio hue walk. Each is an
    // annulus from `inner` to `outer` (a disc has no inner edge), antialiased over one pixel:
    // coverage = clamp(min(d - inner, outer - d) + 0.5, 0, 1). Squared distances decide the
    // fully covered and untouched pixels; only the edge band needs a square root.
    let min_side = w.min(h) as f32;
    let shapes = 5 + (rng.next() % 5) as usize;
    for i in 0..shapes {
        let color = hsv(
            hue + 0.618_034 * (i + 1) as f32,
            0.55 + 0.4 * rng.unit(),
            0.6 + 0.4 * rng.unit(),
        )
        .map(|c| to_u8(c) as u32);
        let (cx, cy) = (rng.unit() * w as f32, rng.unit() * h as f32);
        let radius = min_side * (0.06 + 0.3 * rng.unit());
        let alpha = 0.35 + 0.5 * rng.unit();
        let ring = rng.next().is_multiple_of(3);
        let thickness = radius * (0.08 + 0.15 * rng.unit());
        let (inner, outer) = if ring {
            (radius - thickness, radius + thickness)
        } else {
            (f32::NEG_INFINITY, radius)
        };
        let sq = |r: f32| if r > 0.0 { r * r } else { -1.0 };
        let (none_in, full_in, full_out, none_out) = (
            sq(inner - 0.5),
            sq(inner + 0.5),
            sq(outer - 0.5),
            sq(outer + 0.5),
        );
        let full = (alpha * 256.0) as u32;
        let (y0, y1) = (clamp(cy - outer - 1.0, h), clamp(cy + outer + 2.0, h));
        for y in y0..y1 {
            let fy = y as f32 + 0.5 - cy;
            let chord = none_out - fy * fy;
            if chord <= 0.0 {
                continue;
            }
            let half = chord.sqrt() + 1.0;
            let (x0, x1) = (clamp(cx - half, w), clamp(cx + half + 1.0, w));
            let span = &mut pixels[(y * w + x0) * 3..(y * w + x1) * 3];
            for (x, px) in (x0..x1).zip(span.chunks_exact_mut(3)) {
                let fx = x as f32 + 0.5 - cx;
                let d2 = fx * fx + fy * fy;
                if d2 >= none_out || d2 <= none_in {
                    continue;
                }
                let cover = if d2 >= full_in && d2 <= full_out {
                    full
                } else {
                    let d = d2.sqrt();
                    let edge = (d - inner).min(outer - d);
                    ((edge + 0.5).clamp(0.0, 1.0) * alpha * 256.0) as u32
                };
                for c in 0..3 {
                    px[c] = ((px[c] as u32 * (256 - cover) + color[c] * cover + 128) >> 8) as u8;
                }
            }
        }
    }
    pixels
}

/// Draws and encodes the picture of `prompt` as a PNG.
pub fn render_png(prompt: &str, size: Size) -> Result<Vec<u8>, GenerateError> {
    let pixels = render_rgb(prompt, size);
    let mut out = Vec::with_capacity(pixels.len() / 8);
    let encode_error =
        |e: png::EncodingError| GenerateError::Config(format!("PNG encoding failed: {e}"));
    let mut encoder = png::Encoder::new(&mut out, size.width, size.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Paeth);
    encoder
        .add_itxt_chunk("Software".into(), format!("genim {MODEL}"))
        .map_err(encode_error)?;
    encoder
        .add_itxt_chunk("Description".into(), prompt.to_string())
        .map_err(encode_error)?;
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

fn clamp(v: f32, max: usize) -> usize {
    (v.max(0.0) as usize).min(max)
}

fn to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// HSV (hue wraps around 1.0) to RGB in 0..=1, arithmetic only.
fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = (h - h.floor()) * 6.0;
    let sector = h.floor();
    let f = h - sector;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    match sector as u32 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// SplitMix64 seeded by the prompt's sha-256.
struct Rng(u64);

impl Rng {
    fn from_prompt(prompt: &str) -> Self {
        let digest = crate::cid::sha256(prompt.as_bytes());
        Self(u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from 24 random bits (exact in f32).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cid::sha256;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn pixels_are_a_pure_function_of_prompt_and_size() {
        let size = Size {
            width: 64,
            height: 48,
        };
        let a = render_rgb("a lighthouse at dusk", size);
        assert_eq!(a, render_rgb("a lighthouse at dusk", size));
        assert_ne!(a, render_rgb("a lighthouse at dawn", size));
        // Golden value: changing the drawing must come with a new MODEL name.
        assert_eq!(
            hex(&sha256(&a)),
            "8600e9f0179409714e5c274f020ddea2ac45cfeca91aac2ab2f43b6f7d20a90f"
        );
    }

    #[test]
    fn png_decodes_to_the_pixels() {
        let size = Size {
            width: 33,
            height: 17,
        };
        let png = render_png("π ≈ 3.14 \"quoted\"", size).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(&png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (33, 17));
        assert_eq!(
            &buf[..info.buffer_size()],
            render_rgb("π ≈ 3.14 \"quoted\"", size)
        );
        let text = &reader.info().utf8_text;
        assert!(
            text.iter()
                .any(|t| t.keyword == "Description"
                    && t.get_text().unwrap() == "π ≈ 3.14 \"quoted\"")
        );
    }

    #[test]
    fn rejects_huge_sizes() {
        let huge = Size {
            width: 5000,
            height: 10,
        };
        let err = LocalGenerator::new(huge).unwrap_err();
        assert_eq!(err.class(), crate::retry::ErrorClass::Config, "{err:?}");
        // Per request, the same size is this request's problem only.
        let generator = LocalGenerator::new(Size::DEFAULT_LOCAL).unwrap();
        let err = generator
            .generate_blocking(ImageRequest::new("x").with_size(huge))
            .unwrap_err();
        assert_eq!(err.class(), crate::retry::ErrorClass::Rejected, "{err:?}");
        assert!(err.to_string().contains("5000x10"), "{err}");
    }

    #[tokio::test]
    async fn one_generator_serves_every_size() {
        let generator = LocalGenerator::new(Size::DEFAULT_LOCAL).unwrap();
        for (w, h) in [
            (256, 256),
            (1024, 1024),
            (1536, 1024),
            (2048, 2048),
            (300, 700),
        ] {
            let size = Size {
                width: w,
                height: h,
            };
            let request = ImageRequest::new("a harbour at night").with_size(size);
            let image = generator.generate(&request).await.unwrap();
            assert_eq!(image.size(), size);
            let info = crate::generate::inspect_image(&image.bytes).unwrap();
            assert_eq!((info.width, info.height), (w, h));
        }
        let default = generator
            .generate(&"a harbour at night".into())
            .await
            .unwrap();
        assert_eq!(default.size(), Size::DEFAULT_LOCAL);
    }
}
