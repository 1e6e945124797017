//! What facilitators exchange: `/verify` and `/settle` requests and answers, `/supported`, and
//! the settlement header.

use super::*;
use alloy::primitives::TxHash;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A facilitator's `/verify` and `/settle` request (what both reference servers send).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest {
    /// Usually the payload's `x402Version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x402_version: Option<Value>,
    /// The decoded payment header.
    pub payment_payload: Value,
    /// The requirement the server matched it to.
    pub payment_requirements: Value,
}

/// A facilitator's `/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
}

/// A facilitator's `/settle` answer; also what the settlement headers carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The settlement transaction; `""` when none was sent.
    #[serde(default)]
    pub transaction: String,
    /// As the payment's generation names it.
    #[serde(default)]
    pub network: String,
}

impl SettleResponse {
    /// The transaction hash, when there is one.
    pub fn transaction_hash(&self) -> Option<TxHash> {
        self.transaction.parse().ok()
    }
}

/// `PAYMENT-RESPONSE` (v2): `{success, payer, transaction, network}` (+ reasons on failure).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponseV2<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<&'a str>,
    transaction: &'a str,
    network: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

/// `X-PAYMENT-RESPONSE` (v1): `{success, transaction, network, payer}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentResponseV1<'a> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_reason: Option<&'a str>,
    transaction: &'a str,
    network: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<&'a str>,
}

/// The settlement header for a client of `version`: its name and base64 value.
pub fn settlement_header(version: Version, response: &SettleResponse) -> (&'static str, String) {
    let value = match version {
        Version::V2 => encode_base64_json(&PaymentResponseV2 {
            success: response.success,
            payer: response.payer.as_deref(),
            transaction: &response.transaction,
            network: &response.network,
            error_reason: response.error_reason.as_deref(),
            error_message: response.error_message.as_deref(),
        }),
        Version::V1 => encode_base64_json(&PaymentResponseV1 {
            success: response.success,
            error_reason: response.error_reason.as_deref(),
            transaction: &response.transaction,
            network: &response.network,
            payer: response.payer.as_deref(),
        }),
    };
    (version.response_header(), value)
}

/// Decodes a settlement header of either generation (`PAYMENT-RESPONSE`, `X-PAYMENT-RESPONSE`).
pub fn decode_settlement_header(value: &str) -> Result<SettleResponse, PaymentError> {
    let bytes = decode_base64(value).ok_or_else(|| {
        PaymentError::new(
            Reason::InvalidPayload,
            "the settlement header is not base64",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|err| {
        PaymentError::new(
            Reason::InvalidPayload,
            format!("the settlement header is not x402 JSON: {err}"),
        )
    })
}

/// One payment kind a facilitator serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// A facilitator's `/supported` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportedResponse {
    pub kinds: Vec<SupportedKind>,
    #[serde(default)]
    pub extensions: Vec<String>,
    /// `{"eip155:*": [relayer]}`.
    #[serde(default)]
    pub signers: BTreeMap<String, Vec<String>>,
}
