//! The generators: `openai` and `bfl` against the axum mocks of their APIs (requests as the
//! real APIs expect them, every failure class), `local` for real.

use crate::mock::{Fault, MockServer, Route, refused_url, truncated_png};
use genim::{
    generate::{
        ApiKey, BflGenerator, BflOptions, GenerateError, Generator, GeneratorConfig, GeneratorKind,
        ImageRequest, LocalGenerator, OpenAiGenerator, OpenAiOptions, Size, Timeouts,
        inspect_image,
    },
    retry::ErrorClass,
};
use reqwest::Url;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

pub(crate) fn test_png(prompt: &str) -> Vec<u8> {
    let generator = LocalGenerator::new(Size {
        width: 64,
        height: 48,
    })
    .unwrap();
    generator.generate_blocking(prompt).unwrap().bytes.to_vec()
}

fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        request: Duration::from_secs(5),
        overall: Duration::from_secs(10),
    }
}

fn openai_at(url: Url, model: &str) -> OpenAiGenerator {
    let options = OpenAiOptions {
        base_url: url,
        model: model.into(),
        size: Size {
            width: 256,
            height: 256,
        },
        timeouts: fast_timeouts(),
    };
    OpenAiGenerator::new(options, Some(ApiKey::new("sk-test-secret"))).unwrap()
}

fn openai(server: &MockServer, model: &str) -> OpenAiGenerator {
    openai_at(server.url(), model)
}

async fn generate(generator: &dyn Generator, prompt: &str) -> Result<(), GenerateError> {
    generator.generate(&prompt.into()).await.map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// openai

#[tokio::test]
async fn openai_b64_json() {
    let png = test_png("fox");
    let server = MockServer::openai(png.clone()).await;
    let generator: Arc<dyn Generator> = Arc::new(openai(&server, "dall-e-2"));
    let image = generator.generate(&"a red fox".into()).await.unwrap();
    assert_eq!(&image.bytes[..], &png[..]);
    assert_eq!(
        (image.mime, image.width, image.height),
        ("image/png", 64, 48)
    );
    assert_eq!(
        (image.model.as_str(), image.generator),
        ("dall-e-2", GeneratorKind::OpenAi)
    );
    assert_eq!(image.extension(), "png");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/images/generations");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer sk-test-secret")
    );
    assert_eq!(
        requests[0].json(),
        serde_json::json!({"model": "dall-e-2", "prompt": "a red fox", "size": "256x256", "n": 1,
                           "response_format": "b64_json"})
    );
    assert!(!format!("{generator:?} {}", generator.describe()).contains("sk-test-secret"));
}

#[tokio::test]
async fn openai_request_size_overrides_the_default() {
    let server = MockServer::openai(test_png("sizes")).await;
    let generator = openai(&server, "dall-e-3");
    let request = ImageRequest::new("a tall tower").with_size(Size {
        width: 1024,
        height: 1792,
    });
    generator.generate(&request).await.unwrap();
    generator.generate(&"a tall tower".into()).await.unwrap();
    let sizes: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["size"].clone())
        .collect();
    assert_eq!(sizes, ["1024x1792", "256x256"]);
}

#[tokio::test]
async fn openai_gpt_image_models_get_no_response_format() {
    let server = MockServer::openai(test_png("gpt")).await;
    generate(&openai(&server, "gpt-image-1"), "x")
        .await
        .unwrap();
    assert!(server.requests()[0].json().get("response_format").is_none());
}

#[tokio::test]
async fn openai_url_answer_is_downloaded_without_the_key() {
    let png = test_png("url");
    let server = MockServer::openai(png.clone()).await;
    server.answer_with_url();
    let image = openai(&server, "dall-e-3")
        .generate(&"x".into())
        .await
        .unwrap();
    assert_eq!(&image.bytes[..], &png[..]);
    let download = &server.requests_to(Route::Download)[0];
    assert_eq!(download.path, "/files/image.png?sig=abc");
    assert_eq!(download.header("authorization"), None);
}

#[tokio::test]
async fn openai_outage_is_transient_and_recovers() {
    let server = MockServer::openai(test_png("retry")).await;
    server.fail_next(
        Route::Generate,
        [Fault::ServerError(500), Fault::HtmlPage(502)],
    );
    let generator = openai(&server, "dall-e-2");
    let err = generate(&generator, "x").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    assert_eq!(err.status(), Some(500));
    assert!(
        err.to_string().ends_with("answered HTTP 500: mock failure"),
        "{err}"
    );
    let err = generate(&generator, "x").await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("answered HTTP 502: (an HTML page)"),
        "{err}"
    );
    // What a caller does next: try again.
    generate(&generator, "x").await.unwrap();
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn openai_errors_have_the_class_callers_act_on() {
    let server = MockServer::openai(test_png("classes")).await;
    let cases = [
        ("refused", Fault::ContentPolicy, ErrorClass::Rejected),
        ("bad request", Fault::BadRequest, ErrorClass::Rejected),
        ("not an image", Fault::InvalidImage, ErrorClass::Rejected),
        (
            "rate limited",
            Fault::RateLimited { retry_after: 7 },
            ErrorClass::Transient,
        ),
        ("bad key", Fault::Unauthorized, ErrorClass::Config),
        ("no model", Fault::UnknownModel, ErrorClass::Config),
        ("a web page", Fault::HtmlPage(200), ErrorClass::Config),
    ];
    for (prompt, fault, _) in &cases {
        server.fail_prompt(prompt, fault.clone());
    }
    let generator = openai(&server, "dall-e-2");
    for (prompt, fault, class) in cases {
        let err = generate(&generator, prompt).await.unwrap_err();
        assert_eq!(err.class(), class, "{fault:?}: {err:?}");
        let text = err.to_string();
        assert!(!text.contains('\n') && !text.contains("<html"), "{text}");
        assert!(!text.contains("sk-test-secret"), "{text}");
        match fault {
            Fault::ContentPolicy => {
                assert!(matches!(err, GenerateError::Moderated { .. }), "{err:?}");
                assert!(text.contains("safety system"), "{text}");
            }
            Fault::RateLimited { .. } => {
                assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
            }
            Fault::InvalidImage => {
                assert!(matches!(err, GenerateError::InvalidImage { .. }), "{err:?}");
            }
            Fault::HtmlPage(_) => {
                assert!(matches!(err, GenerateError::BadResponse { .. }), "{err:?}");
                assert!(text.contains("(an HTML page)"), "{text}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn openai_unreachable_is_transient() {
    let generator = openai_at(refused_url().await, "dall-e-2");
    let err = generate(&generator, "x").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err:?}");
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn openai_slow_answer_hits_the_overall_timeout() {
    let server = MockServer::openai(test_png("slow")).await;
    server.fail_next(Route::Generate, [Fault::Slow(Duration::from_secs(3))]);
    let quick = OpenAiGenerator::new(
        OpenAiOptions {
            base_url: server.url(),
            model: "dall-e-2".into(),
            size: Size::DEFAULT_REMOTE,
            timeouts: Timeouts {
                overall: Duration::from_millis(500),
                ..fast_timeouts()
            },
        },
        None,
    )
    .unwrap();
    let started = Instant::now();
    let err = generate(&quick, "x").await.unwrap_err();
    assert!(
        matches!(err, GenerateError::Timeout { .. }) && err.is_retryable(),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// bfl

fn bfl(server: &MockServer, poll_interval: Duration) -> BflGenerator {
    let options = BflOptions {
        base_url: server.url(),
        model: "flux-dev".into(),
        size: Size {
            width: 512,
            height: 768,
        },
        timeouts: fast_timeouts(),
        poll_interval,
    };
    BflGenerator::new(options, ApiKey::new("bfl-test-key")).unwrap()
}

#[tokio::test]
async fn bfl_submits_polls_and_downloads() {
    let png = test_png("bfl");
    let server = MockServer::bfl(png.clone()).await;
    server.pending_polls(3);
    server.fail_next(Route::Poll, [Fault::ServerError(503)]);
    let generator: Arc<dyn Generator> = Arc::new(bfl(&server, Duration::from_millis(10)));
    let image = generator.generate(&"a castle".into()).await.unwrap();
    assert_eq!(&image.bytes[..], &png[..]);
    assert_eq!(
        (image.generator, image.model.as_str()),
        (GeneratorKind::Bfl, "flux-dev")
    );

    let submit = &server.requests_to(Route::Generate)[0];
    assert_eq!(submit.path, "/v1/flux-dev");
    assert_eq!(submit.header("x-key"), Some("bfl-test-key"));
    assert_eq!(
        submit.json(),
        serde_json::json!({"prompt": "a castle", "width": 512, "height": 768})
    );
    let polls = server.requests_to(Route::Poll);
    assert_eq!(polls.len(), 5, "503, 3 x Pending, Ready");
    assert!(
        polls
            .iter()
            .all(|r| r.header("x-key") == Some("bfl-test-key"))
    );
    let download = &server.requests_to(Route::Download)[0];
    assert_eq!(
        download.header("x-key"),
        None,
        "the key must not go to the download URL"
    );
}

#[tokio::test]
async fn bfl_request_size_is_sent_as_width_and_height() {
    let server = MockServer::bfl(test_png("bfl size")).await;
    let request = ImageRequest::new("wide").with_size(Size {
        width: 1440,
        height: 768,
    });
    bfl(&server, Duration::from_millis(5))
        .generate(&request)
        .await
        .unwrap();
    let body = server.requests_to(Route::Generate)[0].json();
    assert_eq!(
        (body["width"].as_u64(), body["height"].as_u64()),
        (Some(1440), Some(768))
    );
}

#[tokio::test]
async fn bfl_moderation_is_rejected_and_task_errors_are_transient() {
    let server = MockServer::bfl(test_png("bfl")).await;
    server.pending_polls(1);
    let generator = bfl(&server, Duration::from_millis(5));
    server.fail_next(Route::Generate, [Fault::ContentPolicy, Fault::TaskFailed]);
    let err = generate(&generator, "x").await.unwrap_err();
    assert!(matches!(err, GenerateError::Moderated { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Rejected);
    assert!(err.to_string().contains("Content Moderated"), "{err}");
    let err = generate(&generator, "x").await.unwrap_err();
    assert!(matches!(err, GenerateError::Failed { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn bfl_bad_key_is_config_and_a_broken_sample_is_rejected() {
    let png = test_png("bfl");
    let server = MockServer::bfl(png.clone()).await;
    let generator = bfl(&server, Duration::from_millis(5));
    server.fail_next(Route::Generate, [Fault::Unauthorized]);
    let err = generate(&generator, "x").await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Config, "{err:?}");
    assert!(
        err.to_string()
            .ends_with("answered HTTP 401: Not authenticated"),
        "{err}"
    );
    assert!(!err.to_string().contains("bfl-test-key"));

    server.fail_next(Route::Download, [Fault::InvalidImage]);
    let err = generate(&generator, "x").await.unwrap_err();
    assert!(matches!(err, GenerateError::InvalidImage { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Rejected);
    assert!(inspect_image(&truncated_png(&png)).is_err());
}

#[tokio::test]
async fn bfl_polling_is_bounded_by_the_overall_timeout() {
    let server = MockServer::bfl(test_png("bfl")).await;
    server.pending_polls(usize::MAX);
    let mut options = BflOptions {
        base_url: server.url(),
        model: "flux-dev".into(),
        size: Size::DEFAULT_REMOTE,
        timeouts: fast_timeouts(),
        poll_interval: Duration::from_millis(20),
    };
    options.timeouts.overall = Duration::from_millis(300);
    let generator = BflGenerator::new(options, ApiKey::new("k")).unwrap();
    let err = generate(&generator, "x").await.unwrap_err();
    assert!(
        matches!(err, GenerateError::Timeout { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn bfl_key_is_not_sent_to_a_foreign_polling_url() {
    let server = MockServer::bfl(test_png("bfl")).await;
    server.polling_url("http://127.0.0.2:9/poll");
    let err = generate(&bfl(&server, Duration::from_millis(5)), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GenerateError::BadResponse { .. }) && !err.is_retryable(),
        "{err:?}"
    );
    assert!(err.to_string().contains("not on the API's site"), "{err}");
    assert!(server.requests_to(Route::Poll).is_empty());
}

// ---------------------------------------------------------------------------------------------
// local

#[tokio::test]
async fn local_generator_makes_deterministic_pngs() {
    let generator =
        genim::generate::from_config(&GeneratorConfig::new(GeneratorKind::Local)).unwrap();
    assert_eq!(generator.size(), Size::DEFAULT_LOCAL);
    let a = generator
        .generate(&"a lighthouse in a storm".into())
        .await
        .unwrap();
    let b = generator
        .generate(&"a lighthouse in a storm".into())
        .await
        .unwrap();
    let c = generator
        .generate(&"a lighthouse in the sun".into())
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a.bytes, c.bytes);
    for image in [&a, &c] {
        let info = inspect_image(&image.bytes).unwrap();
        assert_eq!(
            (info.mime, info.width, info.height),
            ("image/png", 512, 512)
        );
        assert_eq!(
            (image.width, image.height, image.generator),
            (512, 512, GeneratorKind::Local)
        );
    }
    // A real picture, not a flat colour: many distinct pixels.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&a.bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap();
    let distinct: std::collections::HashSet<_> = pixels.chunks(3).collect();
    assert!(distinct.len() > 1000, "only {} colours", distinct.len());
}

/// Benchmark (release build):
/// `cargo test --release --test it -- --ignored --nocapture speed`
#[tokio::test]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
async fn speed() {
    let generator = LocalGenerator::new(Size::DEFAULT_LOCAL).unwrap();
    for side in [256, 512, 1024, 2048] {
        let runs = (4096 / side).max(4);
        let started = Instant::now();
        let mut total = 0;
        for i in 0..runs {
            let request = ImageRequest::new(format!("prompt {i}")).with_size(Size {
                width: side,
                height: side,
            });
            total += generator.generate_blocking(request).unwrap().bytes.len();
        }
        let per = started.elapsed() / runs;
        println!(
            "local {side}x{side} PNG: {per:?} per image, {} bytes on average",
            total / runs as usize
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let store = genim::store::DirStore::open(tmp.path()).unwrap();
    for (label, size) in [
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
        ("16 MiB", 16 << 20),
    ] {
        let runs = 10u32;
        let started = Instant::now();
        for i in 0..runs {
            let mut bytes = vec![0u8; size];
            bytes[..4].copy_from_slice(&i.to_le_bytes());
            genim::store::Store::put(&store, bytes.into(), "x")
                .await
                .unwrap();
        }
        println!(
            "dir store put {label}: {:?} per file (hash + write + 2 fsyncs)",
            started.elapsed() / runs
        );
    }
}
