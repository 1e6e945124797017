//! One paid request's work: verify, generate, settle or mint and deliver, each step saved in
//! the ledger so that a retry (on any instance) resumes it.

use super::*;
use crate::serve::{AppState, Mode, openai};
use crate::{
    bindings::gen_im_nft::GenImNFT,
    generate::GeneratedImage,
    pipeline::{Job, PipelineError, TokenRef},
    retry::ErrorClass,
    x402::{self, Payment, PaymentError, Reason, Requirement, SettleError, Settled, VerifyError},
};
use alloy::primitives::TxHash;
use axum::{http::StatusCode, response::Response};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// One paid request's work, resumable from any [`Progress`].
pub(super) struct Work<'a> {
    pub(super) state: &'a AppState,
    pub(super) mode: &'a Mode,
    pub(super) requirement: &'a Requirement,
    pub(super) payment: &'a Payment,
    pub(super) generation: &'a openai::Generation,
    pub(super) key: &'a str,
    pub(super) owner: &'a str,
}

impl Work<'_> {
    pub(super) async fn run(
        &self,
        mut progress: Progress,
    ) -> Result<(Response, &'static str), Failure> {
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
        match self
            .state
            .facilitator
            .verify(self.requirement, self.payment, &self.x402_mode())
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
        // Not fsynced: if a crash loses it, the retry makes the images again, and a settlement
        // already sent counts as paid (the settler finds it on chain).
        self.stage(&progress).await?;
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
                    created: crate::time::unix_now() as i64,
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
            created: crate::time::unix_now() as i64,
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
                created: crate::time::unix_now() as i64,
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
        self.write(progress, true).await
    }

    /// [`Self::save`] without waiting for the disk (see [`crate::serve::ledger::Ledger::stage`]).
    async fn stage(&self, progress: &Progress) -> Result<(), Failure> {
        self.write(progress, false).await
    }

    async fn write(&self, progress: &Progress, durable: bool) -> Result<(), Failure> {
        let data = serde_json::to_value(progress).expect("progress serializes");
        let ledger = &self.state.ledger;
        let result = match progress {
            Progress::Done { .. } => ledger.complete(self.key, self.owner, &data).await,
            _ if durable => ledger.save(self.key, self.owner, &data, LEASE).await,
            _ => ledger.stage(self.key, self.owner, &data, LEASE).await,
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
