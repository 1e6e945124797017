//! Why a payment is refused: x402's standard reasons, with their exact strings.

use super::*;
use serde::Serialize;
use std::{fmt, str::FromStr};

/// The standard reasons a payment is refused, with their exact strings. The strings are those
/// of the pinned reference facilitator (@x402/evm 2.27.0, which serves both generations);
/// [`Reason::from_str`] also reads x402 1.x's older names (`invalid_exact_evm_payload_signature`,
/// `invalid_exact_evm_payload_authorization_value`, `invalid_exact_evm_payload_recipient_mismatch`,
/// `insufficient_funds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The payment header or request is not what x402 says (base64, JSON, fields).
    InvalidPayload,
    /// `x402Version` is missing or neither 1 nor 2.
    InvalidX402Version,
    /// A scheme other than `exact`.
    InvalidScheme,
    /// A network this server or facilitator does not serve.
    InvalidNetwork,
    /// The requirements are malformed, or the payment is for other requirements (another
    /// token).
    InvalidPaymentRequirements,
    /// The payment's network is not the requirement's.
    NetworkMismatch,
    /// The requirement lacks the token's EIP-712 name and version (`extra`).
    MissingEip712Domain,
    /// The authorization pays someone other than the requirement's `payTo`.
    RecipientMismatch,
    /// The signature is not the payer's over this authorization and token.
    InvalidSignature,
    /// `validBefore` is past, or too close (less than 6 s away).
    ValidBefore,
    /// `validAfter` is in the future.
    ValidAfter,
    /// The authorized value is not exactly the price.
    ValueMismatch,
    /// The authorization's nonce was used (or cancelled) already.
    NonceAlreadyUsed,
    /// The payer holds less than the price.
    InsufficientBalance,
    /// The token's `name()` is not the requirement's EIP-712 name.
    TokenNameMismatch,
    /// The token's `version()` is not the requirement's EIP-712 version.
    TokenVersionMismatch,
    /// The settlement would revert for another reason.
    SimulationFailed,
    /// The settlement transaction failed.
    TransactionFailed,
    /// The settlement was sent but not mined in time; the transaction hash says which.
    SettlementPending,
    /// Verification could not run (the chain did not answer).
    UnexpectedVerifyError,
    /// Settlement could not run (the chain did not answer).
    UnexpectedSettleError,
}

impl Reason {
    /// Every reason (for tests and documentation).
    pub const ALL: [Self; 21] = [
        Self::InvalidPayload,
        Self::InvalidX402Version,
        Self::InvalidScheme,
        Self::InvalidNetwork,
        Self::InvalidPaymentRequirements,
        Self::NetworkMismatch,
        Self::MissingEip712Domain,
        Self::RecipientMismatch,
        Self::InvalidSignature,
        Self::ValidBefore,
        Self::ValidAfter,
        Self::ValueMismatch,
        Self::NonceAlreadyUsed,
        Self::InsufficientBalance,
        Self::TokenNameMismatch,
        Self::TokenVersionMismatch,
        Self::SimulationFailed,
        Self::TransactionFailed,
        Self::SettlementPending,
        Self::UnexpectedVerifyError,
        Self::UnexpectedSettleError,
    ];

    /// The string on the wire (v2; see [`Reason::for_version`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidPayload => "invalid_payload",
            Self::InvalidX402Version => "invalid_x402_version",
            Self::InvalidScheme => "invalid_scheme",
            Self::InvalidNetwork => "invalid_network",
            Self::InvalidPaymentRequirements => "invalid_payment_requirements",
            Self::NetworkMismatch => "invalid_exact_evm_network_mismatch",
            Self::MissingEip712Domain => "invalid_exact_evm_missing_eip712_domain",
            Self::RecipientMismatch => "invalid_exact_evm_recipient_mismatch",
            Self::InvalidSignature => "invalid_exact_evm_signature",
            Self::ValidBefore => "invalid_exact_evm_payload_authorization_valid_before",
            Self::ValidAfter => "invalid_exact_evm_payload_authorization_valid_after",
            Self::ValueMismatch => "invalid_exact_evm_payload_authorization_value_mismatch",
            Self::NonceAlreadyUsed => "invalid_exact_evm_nonce_already_used",
            Self::InsufficientBalance => "invalid_exact_evm_insufficient_balance",
            Self::TokenNameMismatch => "invalid_exact_evm_token_name_mismatch",
            Self::TokenVersionMismatch => "invalid_exact_evm_token_version_mismatch",
            Self::SimulationFailed => "invalid_exact_evm_transaction_simulation_failed",
            Self::TransactionFailed => "invalid_exact_evm_transaction_failed",
            Self::SettlementPending => "settlement_pending",
            Self::UnexpectedVerifyError => "unexpected_verify_error",
            Self::UnexpectedSettleError => "unexpected_settle_error",
        }
    }

    /// The string the reference facilitator sends for a payment of `version`: the same as
    /// [`Reason::as_str`] except a wrong value in v1, which @x402/evm's v1 scheme calls
    /// `invalid_exact_evm_authorization_value`.
    pub fn for_version(self, version: Version) -> &'static str {
        match (self, version) {
            (Self::ValueMismatch, Version::V1) => "invalid_exact_evm_authorization_value",
            _ => self.as_str(),
        }
    }

    /// Whether the reason is the payer's doing (as opposed to the server's configuration or
    /// the chain): a server answers these with 402 and the requirements.
    pub fn is_payment_problem(self) -> bool {
        !matches!(
            self,
            Self::SettlementPending | Self::UnexpectedVerifyError | Self::UnexpectedSettleError
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reason string no version of x402 uses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown x402 reason '{0}'")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(reason) = Self::ALL.into_iter().find(|r| r.as_str() == text) {
            return Ok(reason);
        }
        // Older (x402 1.x) and per-generation names of the same reasons.
        Ok(match text {
            "invalid_exact_evm_payload_signature" => Self::InvalidSignature,
            "invalid_exact_evm_payload_authorization_value"
            | "invalid_exact_evm_authorization_value" => Self::ValueMismatch,
            "invalid_exact_evm_payload_recipient_mismatch" => Self::RecipientMismatch,
            "insufficient_funds" => Self::InsufficientBalance,
            "invalid_exact_evm_scheme" | "unsupported_scheme" => Self::InvalidScheme,
            "payment_expired" => Self::ValidBefore,
            _ => return Err(UnknownReason(text.to_owned())),
        })
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A payment refused, with its standard reason and a sentence for people. Never contains a
/// secret: it quotes only what the payer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct PaymentError {
    /// The standard reason.
    pub reason: Reason,
    /// What exactly is wrong.
    pub message: String,
}

impl PaymentError {
    /// A refusal for `reason`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}
