//! An incoming payment: the v1 `X-PAYMENT` and v2 `PAYMENT-SIGNATURE` payloads, decoded into
//! a [`Payment`] or a [`PaymentError`] with its standard reason.

use super::*;
use crate::{amount::decimal, eip3009::Authorization};
use alloy::primitives::{Address, B256, Bytes, U256};
use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// strings, a 32-byte hex nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAuthorization {
    #[serde(with = "checksummed")]
    pub from: Address,
    #[serde(with = "checksummed")]
    pub to: Address,
    #[serde(with = "decimal")]
    pub value: U256,
    #[serde(with = "decimal")]
    pub valid_after: U256,
    #[serde(with = "decimal")]
    pub valid_before: U256,
    pub nonce: B256,
}

impl From<&Authorization> for WireAuthorization {
    fn from(auth: &Authorization) -> Self {
        Self {
            from: auth.from,
            to: auth.to,
            value: auth.value,
            valid_after: auth.valid_after,
            valid_before: auth.valid_before,
            nonce: auth.nonce,
        }
    }
}

impl From<WireAuthorization> for Authorization {
    fn from(wire: WireAuthorization) -> Self {
        Self {
            from: wire.from,
            to: wire.to,
            value: wire.value,
            valid_after: wire.valid_after,
            valid_before: wire.valid_before,
            nonce: wire.nonce,
        }
    }
}

/// v1 `payload`: `{signature, authorization}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactPayloadV1 {
    pub signature: Bytes,
    pub authorization: WireAuthorization,
}

/// v2 `payload`: `{authorization, signature}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactPayloadV2 {
    pub authorization: WireAuthorization,
    pub signature: Bytes,
}

/// What `X-PAYMENT` carries (v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
    pub payload: ExactPayloadV1,
}

/// What `PAYMENT-SIGNATURE` carries (v2). `resource` and `accepted` are the 402's, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV2 {
    pub x402_version: u8,
    pub payload: ExactPayloadV2,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Value>,
    pub accepted: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

/// An incoming payment, decoded and checked for form (not yet against a requirement or the
/// chain: see [`crate::x402::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The generation the client used: the settlement goes back in the same.
    pub version: Version,
    /// The chain it pays on (v1: its network name's; v2: `accepted.network`'s).
    pub chain_id: u64,
    /// What the payer signed.
    pub authorization: Authorization,
    /// The payer's signature (65 bytes r‖s‖v from an EOA; anything from a smart wallet).
    pub signature: Bytes,
    /// v2: the requirement the client says it accepted.
    pub accepted: Option<RequirementsV2>,
    /// The decoded JSON object as received (a facilitator's `paymentPayload`).
    pub raw: Value,
}

impl Payment {
    /// The payer (`authorization.from`).
    pub fn payer(&self) -> Address {
        self.authorization.from
    }

    /// The header value that carries this payment (base64 of `raw`).
    pub fn header_value(&self) -> String {
        encode_base64_json(&self.raw)
    }
}

/// The payment header of a request: `PAYMENT-SIGNATURE`, else `X-PAYMENT` (v2 servers read
/// both, and either may carry either generation: the JSON's `x402Version` decides).
pub fn payment_header(headers: &HeaderMap) -> Option<&HeaderValue> {
    headers
        .get(headers::PAYMENT_SIGNATURE)
        .or_else(|| headers.get(headers::X_PAYMENT))
}

/// Decodes the payment header of a request, if it has one.
pub fn decode_payment(request_headers: &HeaderMap) -> Option<Result<Payment, PaymentError>> {
    let value = payment_header(request_headers)?;
    Some(match value.to_str() {
        Ok(text) => decode_payment_header(text),
        Err(_) => Err(PaymentError::new(
            Reason::InvalidPayload,
            "the payment header is not ASCII base64",
        )),
    })
}

/// Decodes a payment header value: base64 (standard, padding optional; URL-safe accepted) of a
/// JSON object of either generation.
pub fn decode_payment_header(value: &str) -> Result<Payment, PaymentError> {
    let bytes = decode_base64(value).ok_or_else(|| {
        PaymentError::new(Reason::InvalidPayload, "the payment header is not base64")
    })?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| {
        PaymentError::new(
            Reason::InvalidPayload,
            "the payment header is not base64 of JSON",
        )
    })?;
    decode_payment_value(json)
}

/// Checks and decodes a payment payload object (the decoded header, or a facilitator's
/// `paymentPayload`).
pub fn decode_payment_value(raw: Value) -> Result<Payment, PaymentError> {
    let object = raw.as_object().ok_or_else(|| {
        PaymentError::new(Reason::InvalidPayload, "the payment is not a JSON object")
    })?;
    let version = match object.get("x402Version") {
        None => {
            return Err(PaymentError::new(
                Reason::InvalidX402Version,
                "the payment has no x402Version",
            ));
        }
        Some(number) => number
            .as_u64()
            .and_then(Version::from_number)
            .ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidX402Version,
                    format!("x402Version {number} is not supported (1 or 2)"),
                )
            })?,
    };
    let (chain_id, accepted, authorization, signature) = match version {
        Version::V1 => {
            check_scheme(object.get("scheme"))?;
            let network = object.get("network").and_then(Value::as_str).unwrap_or("");
            let chain_id = v1_chain_id(network).ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidNetwork,
                    format!("'{network}' is not an x402 v1 EVM network"),
                )
            })?;
            let payload: ExactPayloadV1 = from_value(
                object.get("payload").unwrap_or(&Value::Null),
                Reason::InvalidPayload,
            )
            .map_err(|err| payload_error(&err))?;
            (chain_id, None, payload.authorization, payload.signature)
        }
        Version::V2 => {
            let accepted_value = object.get("accepted").ok_or_else(|| {
                PaymentError::new(Reason::InvalidPayload, "the v2 payment has no 'accepted'")
            })?;
            if !accepted_value.is_object() {
                return Err(PaymentError::new(
                    Reason::InvalidPayload,
                    "'accepted' is not an object",
                ));
            }
            check_scheme(accepted_value.get("scheme"))?;
            let network = accepted_value
                .get("network")
                .and_then(Value::as_str)
                .unwrap_or("");
            let chain_id = parse_caip2(network).ok_or_else(|| {
                PaymentError::new(
                    Reason::InvalidNetwork,
                    format!("network '{network}' is not eip155:<chain id>"),
                )
            })?;
            let accepted: RequirementsV2 = from_value(accepted_value, Reason::InvalidPayload)
                .map_err(|err| {
                    PaymentError::new(err.reason, format!("accepted: {}", err.message))
                })?;
            let payload: ExactPayloadV2 = from_value(
                object.get("payload").unwrap_or(&Value::Null),
                Reason::InvalidPayload,
            )
            .map_err(|err| payload_error(&err))?;
            (
                chain_id,
                Some(accepted),
                payload.authorization,
                payload.signature,
            )
        }
    };
    Ok(Payment {
        version,
        chain_id,
        authorization: authorization.into(),
        signature,
        accepted,
        raw,
    })
}

pub(super) fn payload_error(err: &PaymentError) -> PaymentError {
    PaymentError::new(err.reason, format!("payload: {}", err.message))
}
