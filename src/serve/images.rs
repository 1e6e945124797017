//! `POST /v1/images/generations`: the OpenAI images API, paid per request over x402.
//!
//! What the reference x402 stack gets wrong, and how this handler does not:
//! - one authorization, one inference: the ledger leases the payment to one request; others
//!   carrying it wait for that result;
//! - a retry after a lost response replays the stored result (same images, same settlement),
//!   for as long as the authorization could be valid; a different request with the same
//!   payment is refused;
//! - verification simulates the settlement before any work, so a used nonce or a wrong signing
//!   domain is refused before the image is made;
//! - direct mode settles only once the image exists: a failed inference costs nothing;
//! - an authorization someone else executed first counts as paid when the chain shows it;
//! - a settlement whose receipt is late is followed, never answered with a new charge; a
//!   retry follows the same transaction;
//! - killed at any moment, the work survives in the ledger and the store: the retry resumes it.

use super::{AppState, Mode, openai};
use crate::{
    bindings::gen_im_nft::GenImNFT,
    cid,
    generate::GeneratedImage,
    pipeline::{Job, PipelineError, TokenRef},
    retry::ErrorClass,
    x402::{
        self, AuthorizationKey, Payment, PaymentError, Reason, Requirement, SettleError, Settled,
        VerifyError,
        wire::{Resource, TokenDomain, Version, encode_base64_json},
    },
};
use alloy::primitives::{B256, TxHash, U256};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{info, warn};

/// How long a request holds its payment's lease before another instance may take over its work
/// (renewed at every step).
const LEASE: Duration = Duration::from_secs(120);
/// How long a payment's record outlives its authorization: replays within the validity, and a
/// margin for clocks.
const REPLAY_MARGIN: u64 = 24 * 3600;
/// Authorizations may be valid this long (x402 v2 servers' default).
const MAX_TIMEOUT_SECONDS: u64 = 300;
/// Largest payment header accepted (an authorization and a signature are under 2 KB).
const MAX_PAYMENT_HEADER: usize = 16 * 1024;

/// An image kept for the payment: enough to answer again (bytes come from the store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredImage {
    cid: String,
    mime: String,
}

/// The token an escrow payment minted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Minted {
    id: U256,
    mint_tx: TxHash,
}

/// A payment's progress, kept in the ledger so any instance can resume or replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "camelCase")]
enum Progress {
    /// Verified; nothing made or moved yet.
    Claimed,
    /// Direct: the images exist; the payment is still to settle (`pending`: a settlement sent
    /// and not yet seen mined).
    Generated {
        images: Vec<StoredImage>,
        pending: Option<TxHash>,
    },
    /// Escrow: the money is in the contract, the token minted.
    Minted { token: Minted },
    /// Finished: the answer to give every time.
    Done { answer: Answer },
}

/// A finished request's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: u16,
    created: i64,
    /// `b64_json` or `url`, as asked.
    #[serde(default)]
    format: openai::ResponseFormat,
    images: Vec<StoredImage>,
    /// The settlement header's content (x402 `SettleResponse` JSON).
    settlement: serde_json::Value,
    /// Escrow: the token (`id`, `uri`, `contract`, `mintTx`, `deliverTx`), or why it has no
    /// image yet.
    token: Option<serde_json::Value>,
    /// An error message when `status` is not 200.
    error: Option<String>,
}

/// What ended a request early.
struct Failure {
    response: Response,
    outcome: &'static str,
}

fn fail(response: Response, outcome: &'static str) -> Failure {
    Failure { response, outcome }
}

/// The handler.
pub async fn generate(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (response, outcome) = match handle(&state, &uri, &headers, &body).await {
        Ok((response, outcome)) => (response, outcome),
        Err(failure) => (failure.response, failure.outcome),
    };
    state.metrics.request(outcome);
    response
}

async fn handle(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Response, &'static str), Failure> {
    let generator = state.pipeline.generator();
    let generation = openai::GenerationRequest::parse(body)
        .and_then(|request| request.resolve(generator.model(), generator.size()))
        .map_err(|err| fail(invalid_request(&err.message, err.param), "invalid"))?;
    if let Err(err) = generator.check(&generation.image_request()) {
        return Err(fail(
            invalid_request(&err.to_string(), Some("size")),
            "invalid",
        ));
    }
    let (Some(mode), Some(asset)) = (&state.mode, &state.asset) else {
        return Err(fail(
            error_response(
                StatusCode::NOT_FOUND,
                "this server sells no images over x402 (it has no payment token)",
                "invalid_request_error",
            ),
            "invalid",
        ));
    };
    let requirement = requirement(state, mode, asset, uri, &generation);
    let payment = match x402::wire::decode_payment(headers) {
        None => {
            return Err(fail(
                payment_required(&requirement, None, None),
                "payment_required",
            ));
        }
        Some(_)
            if x402::wire::payment_header(headers)
                .is_some_and(|v| v.len() > MAX_PAYMENT_HEADER) =>
        {
            let err = PaymentError::new(Reason::InvalidPayload, "the payment header is too large");
            return Err(refused(state, &requirement, None, &err));
        }
        Some(Err(err)) => return Err(refused(state, &requirement, None, &err)),
        Some(Ok(payment)) => payment,
    };
    if let Err(err) = x402::verify::check_terms(&requirement, &payment) {
        return Err(refused(state, &requirement, Some(&payment), &err));
    }
    let key = AuthorizationKey::of(&requirement, &payment);
    let key_text = format!("{}:{}:{}:{}", key.chain_id, key.asset, key.from, key.nonce);
    let fingerprint = fingerprint(&generation, &requirement);
    let owner = format!("{}-{}", state.instance, B256::random());
    let expires_at = u64::try_from(payment.authorization.valid_before)
        .unwrap_or(u64::MAX / 2)
        .saturating_add(REPLAY_MARGIN) as i64;

    // One request per payment: the others wait for its answer.
    let deadline = tokio::time::Instant::now() + state.wait_for_duplicate;
    let resumed = loop {
        let claim = state
            .ledger
            .claim(&key_text, &fingerprint, &owner, LEASE, expires_at)
            .await
            .map_err(|err| {
                fail(
                    unavailable(&format!("the payment ledger failed: {err}")),
                    "failed",
                )
            })?;
        use super::ledger::Claim;
        match claim {
            Claim::Acquired(previous) => break previous,
            Claim::Done(entry) => return replay(state, &payment, &entry.data).await,
            Claim::Conflict(_) => {
                let err = PaymentError::new(
                    Reason::NonceAlreadyUsed,
                    "this payment was already used for another request",
                );
                return Err(refused(state, &requirement, Some(&payment), &err));
            }
            Claim::Busy(_) => {
                // Another request carries this payment: wait for its answer. The claim stays
                // the authority (leases run on the ledger's clock), so claim again after.
                let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now())
                else {
                    return Err(fail(
                        retry_later(
                            "another request with this payment is still being served; retry \
                             with the same payment to get its result",
                        ),
                        "failed",
                    ));
                };
                let waited = state.ledger.wait(&key_text, left).await.map_err(|err| {
                    fail(
                        unavailable(&format!("the payment ledger failed: {err}")),
                        "failed",
                    )
                })?;
                if let Some(entry) = waited
                    && entry.done
                {
                    return replay(state, &payment, &entry.data).await;
                }
            }
        }
    };
    let progress = match resumed {
        Some(entry) => serde_json::from_value(entry.data).unwrap_or(Progress::Claimed),
        None => Progress::Claimed,
    };
    let work = Work {
        state,
        mode,
        requirement: &requirement,
        payment: &payment,
        generation: &generation,
        key: &key_text,
        owner: &owner,
    };
    work.run(progress).await
}

/// One paid request's work, resumable from any [`Progress`].
struct Work<'a> {
    state: &'a AppState,
    mode: &'a Mode,
    requirement: &'a Requirement,
    payment: &'a Payment,
    generation: &'a openai::Generation,
    key: &'a str,
    owner: &'a str,
}

impl Work<'_> {
    async fn run(&self, mut progress: Progress) -> Result<(Response, &'static str), Failure> {
        loop {
            progress = match progress {
                Progress::Claimed => match self.mode {
                    Mode::Direct { .. } => self.generate_direct().await?,
                    Mode::Escrow { .. } => self.mint().await?,
                },
                Progress::Generated { images, pending } => {
                    self.settle_direct(images, pending).await?
                }
                Progress::Minted { token } => self.make_and_deliver(token).await?,
                Progress::Done { answer } => {
                    // Stored before it goes out: a retry gets exactly this answer.
                    self.save(&Progress::Done {
                        answer: answer.clone(),
                    })
                    .await?;
                    return Ok((
                        answer_response(self.state, self.payment.version, &answer).await,
                        if answer.status == 200 {
                            "paid"
                        } else {
                            "failed"
                        },
                    ));
                }
            }
        }
    }

    fn x402_mode(&self) -> x402::Mode {
        match self.mode {
            Mode::Direct { .. } => x402::Mode::Direct,
            Mode::Escrow { .. } => x402::Mode::Escrow {
                prompt: self.generation.prompt.clone(),
            },
        }
    }

    /// Verifies with a simulation; a used nonce may mean paid already (front-run, or settled
    /// before a crash): the settler looks at the chain.
    async fn verify(&self) -> Result<Option<Settled>, Failure> {
        match x402::verify::verify(
            &self.state.conn,
            self.requirement,
            self.payment,
            &self.x402_mode(),
        )
        .await
        {
            Ok(_) => {
                self.state.metrics.payments_verified.inc();
                Ok(None)
            }
            Err(VerifyError::Rejected(err)) if err.reason == Reason::NonceAlreadyUsed => match self
                .state
                .facilitator
                .settler()
                .settle(self.requirement, self.payment, &self.x402_mode())
                .await
            {
                Ok(settled) => Ok(Some(settled)),
                Err(_) => Err(self.abandon_refused(&err).await),
            },
            Err(VerifyError::Rejected(err)) => Err(self.abandon_refused(&err).await),
            Err(VerifyError::Chain(err)) => {
                self.abandon().await;
                Err(fail(
                    unavailable(&format!("cannot verify the payment: {err}")),
                    "failed",
                ))
            }
        }
    }

    /// Direct mode: verify, then make the images (nothing charged if that fails).
    async fn generate_direct(&self) -> Result<Progress, Failure> {
        let paid = self.verify().await?;
        let started = Instant::now();
        let mut images = Vec::new();
        for _ in 0..self.generation.n {
            match self.make_image().await {
                Ok(image) => images.push(image),
                Err(err) => {
                    // Nothing was charged: the authorization stays usable for a retry.
                    if paid.is_none() {
                        self.abandon().await;
                    }
                    return Err(fail(generation_failed(&err), "failed"));
                }
            }
        }
        self.state
            .metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Some(settled) = paid {
            return Ok(self.done(images, &settled, None));
        }
        let progress = Progress::Generated {
            images,
            pending: None,
        };
        self.save(&progress).await?;
        Ok(progress)
    }

    /// Generates and stores one image (transient errors retried briefly).
    async fn make_image(&self) -> Result<StoredImage, PipelineError> {
        let pipeline = &self.state.pipeline;
        let request = self.generation.image_request();
        let mut attempt = 0;
        let image: GeneratedImage = loop {
            match pipeline.generate(&request).await {
                Ok(image) => break image,
                Err(err) if err.class() == ErrorClass::Transient && attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(300 * attempt)).await;
                }
                Err(err) => return Err(err),
            }
        };
        let cid = pipeline.store_image(&image, "image").await?;
        Ok(StoredImage {
            cid,
            mime: image.mime.to_owned(),
        })
    }

    /// Direct mode: settle now that the images exist.
    async fn settle_direct(
        &self,
        images: Vec<StoredImage>,
        pending: Option<TxHash>,
    ) -> Result<Progress, Failure> {
        let started = Instant::now();
        let outcome = self
            .state
            .facilitator
            .settler()
            .settle(self.requirement, self.payment, &x402::Mode::Direct)
            .await;
        self.state
            .metrics
            .settlement_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(settled) => Ok(self.done(images, &settled, None)),
            Err(SettleError::Rejected(err)) => {
                // Nothing moved (the payer spent the money meanwhile, say): the image is not
                // served, nothing is charged.
                Err(self.abandon_refused(&err).await)
            }
            Err(SettleError::Pending { tx }) => {
                self.save(&Progress::Generated {
                    images,
                    pending: Some(tx),
                })
                .await?;
                Err(fail(
                    retry_later(&format!(
                        "the settlement {tx} is not mined yet; retry with the same payment to \
                         get the images (you are charged once)"
                    )),
                    "failed",
                ))
            }
            Err(SettleError::Chain(err)) => {
                self.save(&Progress::Generated { images, pending }).await?;
                Err(fail(
                    retry_later(&format!(
                        "the settlement could not be confirmed ({err}); retry with the same \
                         payment to get the images (you are charged once)"
                    )),
                    "failed",
                ))
            }
        }
    }

    /// Escrow mode: verify, then mint (the money goes into escrow for the payer's token).
    async fn mint(&self) -> Result<Progress, Failure> {
        let paid = self.verify().await?;
        let settled = match paid {
            Some(settled) => settled,
            None => {
                let started = Instant::now();
                let outcome = self
                    .state
                    .facilitator
                    .settler()
                    .settle(self.requirement, self.payment, &self.x402_mode())
                    .await;
                self.state
                    .metrics
                    .settlement_seconds
                    .observe(started.elapsed().as_secs_f64());
                match outcome {
                    Ok(settled) => settled,
                    Err(SettleError::Rejected(err)) => {
                        return Err(self.abandon_refused(&err).await);
                    }
                    Err(err) => {
                        return Err(fail(
                            retry_later(&format!(
                                "the mint could not be confirmed ({err}); retry with the same \
                                 payment (you are charged once)"
                            )),
                            "failed",
                        ));
                    }
                }
            }
        };
        self.state.metrics.payments_settled.inc();
        self.state
            .metrics
            .amount_settled
            .inc_by(self.requirement.amount.saturating_to());
        let Some(id) = settled.token_id else {
            return Err(fail(
                unavailable("the escrow payment minted no token; its money is in the contract"),
                "failed",
            ));
        };
        let token = Minted {
            id,
            mint_tx: settled.mint_transaction.unwrap_or(settled.transaction),
        };
        let progress = Progress::Minted { token };
        self.save(&progress).await?;
        Ok(progress)
    }

    /// Escrow mode: make the image and its metadata, deliver; on failure the user keeps a
    /// token that is refunded after its deadline (or delivered later by a provider).
    async fn make_and_deliver(&self, token: Minted) -> Result<Progress, Failure> {
        let Mode::Escrow { nft } = self.mode else {
            unreachable!("minted tokens exist in escrow mode only")
        };
        let conn = &self.state.conn;
        // The embedded provider loop leaves this token to us while we work on it.
        let _claim = self
            .state
            .claims
            .claim(nft.address, token.id.saturating_to());
        let token_ref = TokenRef {
            chain_id: conn.chain_id,
            contract: nft.address,
            token_id: token.id.saturating_to(),
        };
        let job = Job {
            request: self.generation.image_request(),
            token: Some(token_ref),
        };
        let started = Instant::now();
        let output = self
            .state
            .pipeline
            .run(&job, &crate::retry::RetryPolicy::default())
            .await;
        self.state
            .metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        let settlement = settled_json(
            self.payment.version,
            conn.chain_id,
            self.payment,
            token.mint_tx,
        );
        let output = match output {
            Ok(output) => output,
            Err(err) => {
                warn!(token_id = %token.id, error = %err, "generation failed after the mint; the token stays refundable");
                let answer = Answer {
                    status: StatusCode::BAD_GATEWAY.as_u16(),
                    created: now_s(),
                    format: self.generation.response_format,
                    images: Vec::new(),
                    settlement,
                    token: Some(serde_json::json!({
                        "id": token.id.to_string(),
                        "contract": nft.address,
                        "mintTx": token.mint_tx,
                        "state": "pending",
                    })),
                    error: Some(format!(
                        "the image could not be made ({err}); your token {} keeps its escrow: a \
                         provider may still deliver it, else refund it after its deadline with \
                         `genim refund {}`",
                        token.id, token.id
                    )),
                };
                return Ok(Progress::Done { answer });
            }
        };
        let digest = output.metadata_digest.unwrap_or_default();
        let deliver = GenImNFT::new(nft.address, conn.provider.clone())
            .deliver(token.id, digest)
            .into_transaction_request();
        let deliver_tx = match conn.send(deliver).await {
            Ok(receipt) => Some(receipt.transaction_hash),
            // Delivered by another provider meanwhile, say: the token has an image either way.
            Err(err) => {
                warn!(token_id = %token.id, error = %err, "delivery not sent; the provider loop delivers it");
                None
            }
        };
        let images = vec![StoredImage {
            cid: output.image_cid.clone(),
            mime: output.mime.clone(),
        }];
        let answer = Answer {
            status: 200,
            created: now_s(),
            format: self.generation.response_format,
            images,
            settlement,
            token: Some(serde_json::json!({
                "id": token.id.to_string(),
                "contract": nft.address,
                "uri": output.metadata_cid.as_ref().map(|cid| format!("ipfs://{cid}")),
                "mintTx": token.mint_tx,
                "deliverTx": deliver_tx,
                "state": if deliver_tx.is_some() { "delivered" } else { "pending" },
            })),
            error: None,
        };
        Ok(Progress::Done { answer })
    }

    /// The final state of a settled direct payment.
    fn done(
        &self,
        images: Vec<StoredImage>,
        settled: &Settled,
        token: Option<serde_json::Value>,
    ) -> Progress {
        self.state.metrics.payments_settled.inc();
        self.state
            .metrics
            .amount_settled
            .inc_by(self.requirement.amount.saturating_to());
        info!(payer = %settled.payer, tx = %settled.transaction, "settled");
        Progress::Done {
            answer: Answer {
                status: 200,
                created: now_s(),
                format: self.generation.response_format,
                images,
                settlement: serde_json::to_value(settled.response(self.payment.version))
                    .unwrap_or_default(),
                token,
                error: None,
            },
        }
    }

    async fn save(&self, progress: &Progress) -> Result<(), Failure> {
        let data = serde_json::to_value(progress).expect("progress serializes");
        let result = match progress {
            Progress::Done { .. } => {
                self.state
                    .ledger
                    .complete(self.key, self.owner, &data)
                    .await
            }
            _ => {
                self.state
                    .ledger
                    .save(self.key, self.owner, &data, LEASE)
                    .await
            }
        };
        result.map(drop).map_err(|err| {
            fail(
                retry_later(&format!(
                    "the payment ledger failed ({err}); retry with the same payment (you are \
                     charged once)"
                )),
                "failed",
            )
        })
    }

    /// Nothing was charged: the authorization may be used again.
    async fn abandon(&self) {
        if let Err(err) = self.state.ledger.abandon(self.key, self.owner).await {
            warn!(%err, "cannot release the payment's record");
        }
    }

    async fn abandon_refused(&self, err: &PaymentError) -> Failure {
        self.abandon().await;
        refused(self.state, self.requirement, Some(self.payment), err)
    }
}

/// Answers a stored result again.
async fn replay(
    state: &AppState,
    payment: &Payment,
    data: &serde_json::Value,
) -> Result<(Response, &'static str), Failure> {
    match serde_json::from_value::<Progress>(data.clone()) {
        Ok(Progress::Done { answer }) => Ok((
            answer_response(state, payment.version, &answer).await,
            "replayed",
        )),
        _ => Err(fail(
            retry_later("this payment's request is unfinished; retry with the same payment"),
            "failed",
        )),
    }
}

/// The HTTP answer of a finished request: OpenAI's body and the settlement header.
async fn answer_response(state: &AppState, version: Version, answer: &Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let settlement_header = HeaderValue::from_str(&encode_base64_json(&answer.settlement))
        .expect("base64 is a valid header value");
    let body = if status == StatusCode::OK {
        let mut data = Vec::new();
        for image in &answer.images {
            data.push(image_data(state, image, answer.format).await);
        }
        serde_json::to_string(&openai::ImagesResponse {
            created: answer.created,
            data,
            settlement: Some(answer.settlement.clone()),
            token: answer.token.clone(),
        })
        .expect("the response serializes")
    } else {
        let mut error: serde_json::Value = serde_json::from_str(&openai::error_body(
            answer.error.as_deref().unwrap_or("the request failed"),
            "server_error",
            None,
            None,
        ))
        .expect("JSON");
        error["settlement"] = answer.settlement.clone();
        error["token"] = answer.token.clone().unwrap_or_default();
        error.to_string()
    };
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("private")),
        ],
        [(version.response_header(), settlement_header)],
        body,
    )
        .into_response()
}

async fn image_data(
    state: &AppState,
    image: &StoredImage,
    format: openai::ResponseFormat,
) -> openai::ImageData {
    let url = state
        .public_url
        .as_ref()
        .map(|base| format!("{base}/images/{}", image.cid));
    if format == openai::ResponseFormat::Url {
        return openai::ImageData {
            b64_json: None,
            url,
            revised_prompt: None,
        };
    }
    // The store checks the bytes against the CID.
    match state.pipeline.store().get(&image.cid).await {
        Ok(bytes) => openai::ImageData {
            b64_json: Some(BASE64.encode(&bytes)),
            url: None,
            revised_prompt: None,
        },
        Err(err) => {
            warn!(cid = %image.cid, %err, "stored image unreadable; answering with its URL");
            openai::ImageData {
                b64_json: None,
                url,
                revised_prompt: None,
            }
        }
    }
}

fn settled_json(
    version: Version,
    chain_id: u64,
    payment: &Payment,
    tx: TxHash,
) -> serde_json::Value {
    serde_json::json!({
        "success": true,
        "payer": payment.payer().to_checksum(None),
        "transaction": tx.to_string(),
        "network": version.network(chain_id).unwrap_or_else(|| x402::wire::caip2(chain_id)),
    })
}

/// The price of `generation` as an x402 requirement.
fn requirement(
    state: &AppState,
    mode: &Mode,
    asset: &crate::amount::Asset,
    uri: &Uri,
    generation: &openai::Generation,
) -> Requirement {
    let price = state.pricing.price(&generation.model, generation.size) * U256::from(generation.n);
    let base = state.public_url.clone().unwrap_or_default();
    Requirement {
        chain_id: state.conn.chain_id,
        asset: asset.token().expect("x402 is served with a token"),
        pay_to: mode.pay_to(),
        amount: price,
        max_timeout_seconds: MAX_TIMEOUT_SECONDS,
        domain: state.token_domain.clone(),
        resource: Resource {
            url: format!("{base}{uri}"),
            description: format!(
                "{} image{} of {} by {}",
                generation.n,
                if generation.n == 1 { "" } else { "s" },
                generation.size,
                generation.model
            ),
            mime_type: "application/json".into(),
        },
    }
}

/// The same request always hashes the same: what the payment was first used for.
fn fingerprint(generation: &openai::Generation, requirement: &Requirement) -> String {
    let canonical = serde_json::json!({
        "generation": generation,
        "payTo": requirement.pay_to,
        "amount": requirement.amount.to_string(),
    });
    alloy::primitives::hex::encode(cid::sha256(canonical.to_string().as_bytes()))
}

fn payment_required(
    requirement: &Requirement,
    error: Option<&PaymentError>,
    payment: Option<&Payment>,
) -> Response {
    let reason = error.map(|err| match payment {
        Some(payment) => err.reason.for_version(payment.version),
        None => err.reason.as_str(),
    });
    let mut response = x402::wire::payment_required(
        std::slice::from_ref(requirement),
        reason,
        payment.map(Payment::payer),
    )
    .into_response();
    if let Some(err) = error
        && let Ok(value) = HeaderValue::from_str(&err.message.replace(['\r', '\n'], " "))
    {
        response.headers_mut().insert("x-genim-error", value);
    }
    response
}

fn refused(
    state: &AppState,
    requirement: &Requirement,
    payment: Option<&Payment>,
    err: &PaymentError,
) -> Failure {
    state.metrics.payment_failed(err.reason.as_str());
    fail(
        payment_required(requirement, Some(err), payment),
        "rejected",
    )
}

fn invalid_request(message: &str, param: Option<&str>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        openai::error_body(message, "invalid_request_error", param, None),
    )
        .into_response()
}

fn error_response(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        openai::error_body(message, kind, None, None),
    )
        .into_response()
}

fn unavailable(message: &str) -> Response {
    error_response(StatusCode::SERVICE_UNAVAILABLE, message, "server_error")
}

fn retry_later(message: &str) -> Response {
    let mut response = unavailable(message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

/// A generation that failed before any charge: the client's fault (400), the generator's
/// outage (503) or the server's configuration (500).
fn generation_failed(err: &PipelineError) -> Response {
    let message = format!("the image could not be made, nothing was charged: {err}");
    match err.class() {
        ErrorClass::Rejected => invalid_request(&message, Some("prompt")),
        ErrorClass::Transient => {
            let mut response =
                error_response(StatusCode::SERVICE_UNAVAILABLE, &message, "server_error");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
        ErrorClass::Config => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, &message, "server_error")
        }
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The token's EIP-712 name and version, sent as x402's `extra`.
pub async fn token_domain(
    conn: &crate::chain::Connection,
    token: alloy::primitives::Address,
) -> Result<TokenDomain, crate::chain::ChainError> {
    let contract = crate::eip3009::IEIP3009::new(token, conn.provider.clone());
    let name = contract
        .name()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    let version = contract
        .version()
        .call()
        .await
        .map_err(|err| conn.call_error(err))?;
    Ok(TokenDomain { name, version })
}
