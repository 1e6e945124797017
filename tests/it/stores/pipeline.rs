//! The whole pipeline (generate -> store image -> metadata -> store metadata) against the
//! OpenAI and Kubo mocks, with the retry policies the provider and `genim serve` use.

use super::generators::test_png;
use crate::mock::{Fault, MockServer, Route};
use alloy::primitives::Address;
use genim::{
    cid,
    generate::{ApiKey, Generator, ImageRequest, OpenAiGenerator, OpenAiOptions, Size, Timeouts},
    pipeline::{Job, Pipeline, PipelineError, TokenRef},
    retry::{ErrorClass, RetryPolicy},
    store::from_spec,
};
use std::{sync::Arc, time::Duration};

fn generator(api: &MockServer) -> Arc<dyn Generator> {
    let options = OpenAiOptions {
        base_url: api.url(),
        model: "flux-test".into(),
        size: Size::DEFAULT_REMOTE,
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(5),
            overall: Duration::from_secs(10),
        },
    };
    Arc::new(OpenAiGenerator::new(options, Some(ApiKey::new("sk-pipeline"))).unwrap())
}

fn token(token_id: u64) -> TokenRef {
    TokenRef {
        chain_id: 31337,
        contract: Address::repeat_byte(0x5f),
        token_id,
    }
}

fn patient() -> RetryPolicy {
    RetryPolicy::until_success(Duration::from_millis(2), Duration::from_millis(10))
}

#[tokio::test]
async fn token_image_and_metadata_land_on_the_node_under_the_contracts_cid() {
    let api = MockServer::openai(test_png("pipeline")).await;
    let node = MockServer::ipfs().await;
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    let pipeline = Pipeline::new(generator(&api), store.clone());
    let job = Job {
        request: ImageRequest::new("a red fox"),
        token: Some(token(42)),
    };
    let out = pipeline.run(&job, &RetryPolicy::default()).await.unwrap();

    let digest = out.metadata_digest.unwrap();
    let metadata_cid = out.metadata_cid.clone().unwrap();
    // What the contract will show as tokenURI is where the metadata is.
    assert_eq!(cid::raw_cid_from_digest(&digest.0), metadata_cid);
    let metadata = store.get(&metadata_cid).await.unwrap();
    assert_eq!(cid::sha256(&metadata), digest.0);
    let json: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
    assert_eq!(json["name"], "GenIm #42");
    assert_eq!(json["image"], format!("ipfs://{}", out.image_cid));
    assert_eq!(json["attributes"][1]["value"], "flux-test");
    assert_eq!(
        json["attributes"][3]["value"], "64x48",
        "the image's real size"
    );
    assert_eq!(store.get(&out.image_cid).await.unwrap(), out.image);
    // The store got readable names.
    let adds = node.requests_to(Route::Add);
    let bodies: Vec<String> = adds
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body[..200.min(r.body.len())]).into_owned())
        .collect();
    assert!(bodies[0].contains("filename=\"42.png\""), "{}", bodies[0]);
    assert!(bodies[1].contains("filename=\"42.json\""), "{}", bodies[1]);
}

#[tokio::test]
async fn unlimited_retries_outlast_an_outage_of_generator_and_store() {
    let api = MockServer::openai(test_png("outage")).await;
    let node = MockServer::ipfs().await;
    api.fail_next(
        Route::Generate,
        [
            Fault::ServerError(503),
            Fault::RateLimited { retry_after: 0 },
            Fault::HtmlPage(502),
            Fault::ServerError(500),
            Fault::ServerError(503),
            Fault::ServerError(503),
            Fault::ServerError(503),
        ],
    );
    node.fail_next(Route::Add, [Fault::ServerError(502), Fault::HtmlPage(504)]);
    let store = from_spec(&format!("ipfs:{}", node.url())).unwrap();
    let pipeline = Pipeline::new(generator(&api), store);
    let job = Job {
        request: ImageRequest::new("a lighthouse"),
        token: Some(token(1)),
    };
    let out = pipeline.run(&job, &patient()).await.unwrap();
    assert!(out.metadata_cid.is_some());
    // More failures than the default 5 attempts would allow.
    assert_eq!(api.requests_to(Route::Generate).len(), 8);
    assert_eq!(
        node.requests_to(Route::Add).len(),
        4,
        "2 failures, image, metadata"
    );
}

#[tokio::test]
async fn rejected_and_config_errors_are_not_retried() {
    for (fault, class) in [
        (Fault::ContentPolicy, ErrorClass::Rejected),
        (Fault::Unauthorized, ErrorClass::Config),
    ] {
        let api = MockServer::openai(test_png("no retry")).await;
        api.fail_next(Route::Generate, [fault.clone(), fault.clone()]);
        let dir = tempfile::tempdir().unwrap();
        let store = from_spec(&format!("dir:{}", dir.path().display())).unwrap();
        let pipeline = Pipeline::new(generator(&api), store);
        let job = Job {
            request: ImageRequest::new("x"),
            token: Some(token(1)),
        };
        let err = pipeline.run(&job, &patient()).await.unwrap_err();
        assert!(matches!(err, PipelineError::Generate(_)), "{err:?}");
        assert_eq!(err.class(), class, "{fault:?}: {err}");
        assert_eq!(api.requests().len(), 1, "{fault:?}: not retried");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing stored"
        );
    }
}

#[tokio::test]
async fn a_node_with_other_cids_stops_the_pipeline_as_a_config_error() {
    let api = MockServer::openai(test_png("mismatch")).await;
    let node = MockServer::ipfs().await;
    node.fail_next(Route::Add, [Fault::CidMismatch]);
    let pipeline = Pipeline::new(
        generator(&api),
        from_spec(&format!("ipfs:{}", node.url())).unwrap(),
    );
    let job = Job {
        request: ImageRequest::new("x"),
        token: None,
    };
    let err = pipeline.run(&job, &patient()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Config, "{err:?}");
    assert!(err.to_string().starts_with("store: "), "{err}");
    assert_eq!(node.requests_to(Route::Add).len(), 1);
}
