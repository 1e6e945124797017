//! The image pipeline: generate -> store the image -> build the metadata -> store the metadata.
//!
//! `genim provide` runs it for every minted token, `genim serve` for every paid request. Each
//! step is a single attempt ([`Pipeline::generate`], [`Pipeline::store_image`],
//! [`Pipeline::metadata`], [`Pipeline::store_metadata`]), so a caller can decide about retries
//! itself (the provider re-checks on-chain that the token is still pending between attempts);
//! [`Pipeline::run`] chains them with a [`RetryPolicy`].
//!
//! ```text
//!  ImageRequest ──generate──> GeneratedImage ──store──> image CID
//!        │                                                  │
//!  TokenRef (chain, contract, id) ──────────> TokenMetadata JSON ──store──> metadata CID
//!                                                  │                           ║ checked equal
//!                                             sha-256 digest ──raw CIDv1──> expected CID
//! ```
//!
//! The digest is what `deliver` puts on-chain and the contract turns into
//! `ipfs://<raw CIDv1 of the digest>`, so the pipeline refuses a store whose CID for the metadata
//! differs. Without a token (serve's direct mode) there is no metadata: the output carries the
//! image and its CID only.

use crate::{
    cid,
    generate::{GenerateError, GeneratedImage, Generator, GeneratorKind, ImageRequest},
    metadata::{MetadataError, TokenMetadata},
    retry::{ErrorClass, RetryPolicy},
    store::{Store, StoreError},
    time,
};
use alloy::primitives::{Address, B256};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

/// A generator and a store, used together for every image.
#[derive(Clone, Debug)]
pub struct Pipeline {
    generator: Arc<dyn Generator>,
    store: Arc<dyn Store>,
}

/// The token an image is made for: what its metadata names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRef {
    pub chain_id: u64,
    /// The GenImNFT contract.
    pub contract: Address,
    pub token_id: u64,
}

/// One image to make: what to generate and, for an NFT, its token (`None`: no metadata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub request: ImageRequest,
    pub token: Option<TokenRef>,
}

/// Metadata JSON ready to store, with the digest `deliver` puts on-chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataDoc {
    /// The exact bytes to store.
    pub bytes: Bytes,
    /// sha-256 of `bytes`.
    pub digest: B256,
    /// The raw-leaf CIDv1 of `digest`: the CID any store must give `bytes`.
    pub cid: String,
    /// The token it describes.
    pub token: TokenRef,
}

/// What the pipeline made. Serializes to camelCase JSON with the image as base64 (`image`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub image_cid: String,
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub model: String,
    pub generator: GeneratorKind,
    /// The metadata's CID, for a token's image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_cid: Option<String>,
    /// sha-256 of the stored metadata bytes: what `deliver` puts on-chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_digest: Option<B256>,
    /// The image itself (serve returns it as `b64_json`).
    #[serde(with = "base64")]
    pub image: Bytes,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("image_cid", &self.image_cid)
            .field("mime", &self.mime)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("model", &self.model)
            .field("generator", &self.generator)
            .field("metadata_cid", &self.metadata_cid)
            .field("metadata_digest", &self.metadata_digest)
            .field("image", &format_args!("{} bytes", self.image.len()))
            .finish()
    }
}

/// A pipeline step that failed; [`class`](Self::class) says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("generator: {0}")]
    Generate(#[from] GenerateError),
    #[error("store: {source}")]
    Store {
        /// `image` or `metadata`.
        what: &'static str,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("the store returned `{cid}` for the image, which is not a CIDv1")]
    BadImageCid { cid: String },
    #[error("the store returned CID {actual} for metadata whose CID is {expected}")]
    MetadataCidMismatch { expected: String, actual: String },
}

impl PipelineError {
    /// The [`ErrorClass`] of the step's error. A metadata document too large for one block is
    /// `Rejected` (the prompt is too long); a store that names things differently than the
    /// contract will is `Config`.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Generate(err) => err.class(),
            Self::Store { source, .. } => source.class(),
            Self::Metadata(MetadataError::TooLarge { .. }) => ErrorClass::Rejected,
            Self::Metadata(_) | Self::BadImageCid { .. } | Self::MetadataCidMismatch { .. } => {
                ErrorClass::Config
            }
        }
    }

    /// How long the other side asked to wait before a retry, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Generate(err) => err.retry_after(),
            Self::Store { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

impl Pipeline {
    /// A pipeline making images with `generator` and keeping them in `store`.
    pub fn new(generator: Arc<dyn Generator>, store: Arc<dyn Store>) -> Self {
        Self { generator, store }
    }

    /// The generator.
    pub fn generator(&self) -> &Arc<dyn Generator> {
        &self.generator
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Step 1, one attempt: the image of `request` (refused early when the generator can never
    /// serve it).
    pub async fn generate(&self, request: &ImageRequest) -> Result<GeneratedImage, PipelineError> {
        self.generator.check(request)?;
        Ok(self.generator.generate(request).await?)
    }

    /// Step 2, one attempt: stores the image as `name` (a label such as `7.png`) and returns its
    /// CID.
    pub async fn store_image(
        &self,
        image: &GeneratedImage,
        name: &str,
    ) -> Result<String, PipelineError> {
        let cid = self
            .store
            .put(image.bytes.clone(), name)
            .await
            .map_err(|source| PipelineError::Store {
                what: "image",
                source,
            })?;
        if cid::parse_cid_v1(&cid).is_none() {
            return Err(PipelineError::BadImageCid { cid });
        }
        Ok(cid)
    }

    /// Step 3: the ERC-721 metadata of `token`'s image, created at `created` (ISO-8601 UTC),
    /// checked as the contract needs it (see [`TokenMetadata::check`]).
    pub fn metadata(
        token: TokenRef,
        prompt: &str,
        image: &GeneratedImage,
        image_cid: &str,
        created: String,
    ) -> Result<MetadataDoc, PipelineError> {
        let metadata = TokenMetadata {
            token_id: token.token_id,
            prompt: prompt.to_string(),
            image_cid: image_cid.to_string(),
            model: image.model.clone(),
            generator: image.generator.to_string(),
            width: image.width,
            height: image.height,
            created,
            chain_id: token.chain_id,
            contract: token.contract,
        };
        metadata.check()?;
        let bytes = Bytes::from(metadata.to_json());
        let digest = B256::from(cid::sha256(&bytes));
        Ok(MetadataDoc {
            cid: cid::raw_cid_from_digest(&digest.0),
            bytes,
            digest,
            token,
        })
    }

    /// Step 4, one attempt: stores the metadata and checks that the store's CID is the one the
    /// contract will derive from the digest.
    pub async fn store_metadata(&self, doc: &MetadataDoc) -> Result<String, PipelineError> {
        let name = format!("{}.json", doc.token.token_id);
        let cid = self
            .store
            .put(doc.bytes.clone(), &name)
            .await
            .map_err(|source| PipelineError::Store {
                what: "metadata",
                source,
            })?;
        if cid != doc.cid {
            return Err(PipelineError::MetadataCidMismatch {
                expected: doc.cid.clone(),
                actual: cid,
            });
        }
        Ok(cid)
    }

    /// Every step for `job`, each retried by `policy` while its error is transient; the first
    /// error that is not (or the last one, once attempts are used up) ends the job.
    pub async fn run(&self, job: &Job, policy: &RetryPolicy) -> Result<Output, PipelineError> {
        let salt = job.token.map_or(0, |t| t.token_id);
        let image = policy
            .run("generating the image", salt, || self.generate(&job.request))
            .await?;
        let label = job
            .token
            .map_or_else(|| "image".to_string(), |t| t.token_id.to_string());
        let name = format!("{label}.{}", image.extension());
        let image_cid = policy
            .run("storing the image", salt, || {
                self.store_image(&image, &name)
            })
            .await?;
        let mut output = Output {
            image_cid,
            mime: image.mime.to_string(),
            width: image.width,
            height: image.height,
            model: image.model.clone(),
            generator: image.generator,
            metadata_cid: None,
            metadata_digest: None,
            image: image.bytes.clone(),
        };
        if let Some(token) = job.token {
            let doc = Self::metadata(
                token,
                &job.request.prompt,
                &image,
                &output.image_cid,
                time::now_iso8601(),
            )?;
            let cid = policy
                .run("storing the metadata", salt, || self.store_metadata(&doc))
                .await?;
            output.metadata_cid = Some(cid);
            output.metadata_digest = Some(doc.digest);
        }
        Ok(output)
    }
}

/// Bytes as standard base64 in JSON.
mod base64 {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&data_encoding::BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(deserializer)?;
        data_encoding::BASE64
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        generate::{BoxFuture, LocalGenerator, Size},
        store::DirStore,
    };
    use std::sync::atomic::{AtomicU32, Ordering};

    fn local() -> Arc<dyn Generator> {
        Arc::new(
            LocalGenerator::new(Size {
                width: 32,
                height: 32,
            })
            .unwrap(),
        )
    }

    fn token() -> TokenRef {
        TokenRef {
            chain_id: 31337,
            contract: Address::repeat_byte(0x5f),
            token_id: 7,
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn a_token_image_gets_metadata_whose_cid_is_its_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(DirStore::open(dir.path()).unwrap());
        let pipeline = Pipeline::new(local(), store.clone());
        let job = Job {
            request: ImageRequest::new("a red fox"),
            token: Some(token()),
        };
        let out = pipeline.run(&job, &quick()).await.unwrap();
        assert_eq!(
            (out.width, out.height, out.mime.as_str()),
            (32, 32, "image/png")
        );
        assert_eq!(out.image_cid, cid::cid_v1(&out.image));
        let metadata = store
            .get_blocking(out.metadata_cid.as_ref().unwrap())
            .unwrap();
        assert_eq!(
            cid::raw_cid_from_digest(&out.metadata_digest.unwrap().0),
            *out.metadata_cid.as_ref().unwrap()
        );
        assert_eq!(cid::sha256(&metadata), out.metadata_digest.unwrap().0);
        let json: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
        assert_eq!(json["name"], "GenIm #7");
        assert_eq!(json["image"], format!("ipfs://{}", out.image_cid));
        assert_eq!(store.get_blocking(&out.image_cid).unwrap(), out.image);
    }

    #[tokio::test]
    async fn without_a_token_there_is_no_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = Pipeline::new(local(), Arc::new(DirStore::open(dir.path()).unwrap()));
        let size = Size {
            width: 64,
            height: 48,
        };
        let job = Job {
            request: ImageRequest::new("a red fox").with_size(size),
            token: None,
        };
        let out = pipeline.run(&job, &quick()).await.unwrap();
        assert_eq!((out.width, out.height), (64, 48));
        assert_eq!((out.metadata_cid, out.metadata_digest), (None, None));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the image"
        );
    }

    #[test]
    fn output_serializes_with_the_image_in_base64() {
        let out = Output {
            image_cid: "bafkrei".into(),
            mime: "image/png".into(),
            width: 1,
            height: 2,
            model: "local-v1".into(),
            generator: GeneratorKind::Local,
            metadata_cid: None,
            metadata_digest: Some(B256::repeat_byte(0xab)),
            image: Bytes::from_static(b"hello"),
        };
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["image"], "aGVsbG8=");
        assert_eq!(json["generator"], "local");
        assert_eq!(json["metadataDigest"], format!("0x{}", "ab".repeat(32)));
        assert!(json.get("metadataCid").is_none());
        assert_eq!(serde_json::from_value::<Output>(json).unwrap(), out);
        assert!(!format!("{out:?}").contains("hello"));
    }

    /// A store that answers with the CID of other bytes, as a misconfigured node would.
    #[derive(Debug)]
    struct Lying;
    impl Store for Lying {
        fn put(&self, _: Bytes, _: &str) -> BoxFuture<'_, Result<String, StoreError>> {
            Box::pin(async { Ok(cid::cid_v1(b"something else")) })
        }
        fn get(&self, cid: &str) -> BoxFuture<'_, Result<Bytes, StoreError>> {
            let cid = cid.to_string();
            Box::pin(async move {
                Err(StoreError::NotFound {
                    cid,
                    store: "lying".into(),
                })
            })
        }
        fn describe(&self) -> String {
            "lying".into()
        }
    }

    #[tokio::test]
    async fn a_store_that_disagrees_about_the_metadata_cid_is_a_config_error() {
        let pipeline = Pipeline::new(local(), Arc::new(Lying));
        let job = Job {
            request: ImageRequest::new("x"),
            token: Some(token()),
        };
        let err = pipeline.run(&job, &quick()).await.unwrap_err();
        assert!(
            matches!(err, PipelineError::MetadataCidMismatch { .. }),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Config);
    }

    /// Fails with a 503 for the first `failures` calls.
    #[derive(Debug)]
    struct Flaky {
        inner: Arc<dyn Generator>,
        failures: u32,
        calls: AtomicU32,
    }
    impl Generator for Flaky {
        fn kind(&self) -> GeneratorKind {
            self.inner.kind()
        }
        fn model(&self) -> &str {
            self.inner.model()
        }
        fn size(&self) -> Size {
            self.inner.size()
        }
        fn generate(
            &self,
            request: &ImageRequest,
        ) -> BoxFuture<'_, Result<GeneratedImage, GenerateError>> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
                return Box::pin(async {
                    Err(GenerateError::Http(crate::http::HttpError::Status {
                        url: "http://api.test".into(),
                        status: 503,
                        message: "overloaded".into(),
                        code: None,
                        retry_after: None,
                    }))
                });
            }
            self.inner.generate(request)
        }
    }

    #[tokio::test]
    async fn single_steps_do_not_retry_and_run_does() {
        let dir = tempfile::tempdir().unwrap();
        let flaky = Arc::new(Flaky {
            inner: local(),
            failures: 2,
            calls: AtomicU32::new(0),
        });
        let pipeline = Pipeline::new(flaky.clone(), Arc::new(DirStore::open(dir.path()).unwrap()));
        let err = pipeline.generate(&"x".into()).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Transient);
        assert!(err.to_string().starts_with("generator: "), "{err}");
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
        let job = Job {
            request: "x".into(),
            token: Some(token()),
        };
        pipeline.run(&job, &quick()).await.unwrap();
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            3,
            "one more failure, then success"
        );
    }

    #[tokio::test]
    async fn a_size_the_generator_cannot_make_is_rejected_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let pipeline = Pipeline::new(local(), Arc::new(DirStore::open(dir.path()).unwrap()));
        let huge = ImageRequest::new("x").with_size(Size {
            width: 8000,
            height: 8000,
        });
        let err = pipeline.generate(&huge).await.unwrap_err();
        assert_eq!(err.class(), ErrorClass::Rejected, "{err:?}");
    }

    #[test]
    fn metadata_too_large_for_one_block_is_rejected() {
        let image = LocalGenerator::new(Size {
            width: 8,
            height: 8,
        })
        .unwrap()
        .generate_blocking("x")
        .unwrap();
        let long = "a".repeat(cid::CHUNK_SIZE);
        let err = Pipeline::metadata(
            token(),
            &long,
            &image,
            &cid::cid_v1(&image.bytes),
            time::now_iso8601(),
        )
        .unwrap_err();
        assert_eq!(err.class(), ErrorClass::Rejected, "{err:?}");
    }
}
