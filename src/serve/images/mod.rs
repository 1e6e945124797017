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

use super::{AppState, openai};
use crate::x402::{self, AuthorizationKey, PaymentError, Reason};
use alloy::primitives::{B256, TxHash, U256};
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};
use serde::{Deserialize, Serialize};
use std::{sync::Arc, time::Duration};

mod respond;
mod work;

pub use respond::token_domain;
use respond::*;
use work::Work;

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
