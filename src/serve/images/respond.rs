//! Answers: the 402 with its requirements, refusals with their x402 reason, OpenAI-shaped
//! errors, and a finished request's images with its settlement header.

use super::*;
use crate::serve::{AppState, Mode, openai};
use crate::{
    cid,
    pipeline::PipelineError,
    retry::ErrorClass,
    x402::{
        self, Payment, PaymentError, Requirement,
        wire::{Resource, TokenDomain, Version, encode_base64_json},
    },
};
use alloy::primitives::{TxHash, U256};
use axum::{
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use data_encoding::BASE64;
use tracing::warn;

/// Answers a stored result again.
pub(super) async fn replay(
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
pub(super) async fn answer_response(
    state: &AppState,
    version: Version,
    answer: &Answer,
) -> Response {
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

pub(super) async fn image_data(
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

pub(super) fn settled_json(
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
pub(super) fn requirement(
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
pub(super) fn fingerprint(generation: &openai::Generation, requirement: &Requirement) -> String {
    let canonical = serde_json::json!({
        "generation": generation,
        "payTo": requirement.pay_to,
        "amount": requirement.amount.to_string(),
    });
    alloy::primitives::hex::encode(cid::sha256(canonical.to_string().as_bytes()))
}

pub(super) fn payment_required(
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

pub(super) fn refused(
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

pub(super) fn invalid_request(message: &str, param: Option<&str>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        openai::error_body(message, "invalid_request_error", param, None),
    )
        .into_response()
}

pub(super) fn error_response(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        openai::error_body(message, kind, None, None),
    )
        .into_response()
}

pub(super) fn unavailable(message: &str) -> Response {
    error_response(StatusCode::SERVICE_UNAVAILABLE, message, "server_error")
}

pub(super) fn retry_later(message: &str) -> Response {
    let mut response = unavailable(message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response
}

/// A generation that failed before any charge: the client's fault (400), the generator's
/// outage (503) or the server's configuration (500).
pub(super) fn generation_failed(err: &PipelineError) -> Response {
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
