//! x402: HTTP 402 payments with gasless EIP-3009 USDC authorizations, both generations of the
//! protocol (v1 and v2) on the wire.
//!
//! - [`wire`]: the formats (402s, payment and settlement headers, facilitator bodies), the
//!   generation-agnostic [`Requirement`], the standard [`Reason`]s.
//! - [`verify`]: every check before work starts, ending with a simulation of the settlement.
//! - [`settle`]: settlement at most once per authorization, front-running counted as paid;
//!   direct settlements that queue go out in one Multicall3 transaction (`batch`).
//! - [`facilitator`]: both in one value, and its HTTP routes (`/verify`, `/settle`,
//!   `/supported`) for reference x402 servers.
//! - [`client`]: paying a 402 (`genim pay`).
//!
//! A resource server (`genim serve`) holds one [`Facilitator`] and, per paid request:
//! [`wire::decode_payment`] the header (none: answer [`wire::payment_required`]); check it with
//! [`Facilitator::verify`] before the work; do the work; [`Facilitator::settle`]; answer with
//! [`wire::settlement_header`] in the payment's generation.
//!
//! genim does not use the `x402-types` crate (x402-rs 2.0.2): its reason codes are not the
//! reference strings (`invalid_format`, `chain_id_mismatch`), its settle answers say
//! `error_reason` where the protocol says `errorReason` and drop the payer and transaction on
//! failure, it has no `invalidMessage`/`errorMessage`, and its typed addresses and amounts stop
//! at the first bad field instead of naming a reason. What it would save is a few serde
//! structs.

mod batch;
pub mod client;
pub mod facilitator;
pub mod settle;
pub mod verify;
pub mod wire;

pub use facilitator::{Facilitator, router};
pub use settle::{Executor, SettleError, Settled, Settler};
pub use verify::{AuthorizationKey, Mode, Verified, VerifyError};
pub use wire::{
    Payment, PaymentError, PaymentRequired, Reason, Requirement, Resource, TokenDomain, Version,
};
