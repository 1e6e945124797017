//! Verifying a payment before any work starts: every check the reference facilitator makes,
//! in a fixed order, each with its standard [`Reason`], then a simulation of the exact
//! settlement transaction from the relayer (the server's key), so that what passes here
//! settles unless the chain moves in between. The simulation is an `eth_estimateGas`, whose
//! answer the settlement then uses instead of estimating again.
//!
//! Order: version/scheme/network (decoding, [`crate::x402::wire`]), asset, payTo, value
//! ([`check_terms`], no chain access), then with chain state read concurrently (the simulation
//! too, in the same round trip): window (chain time), EOA signature, balance, nonce,
//! simulation. A used nonce is reported as
//! `nonce_already_used` before the simulation, which would otherwise only say that it fails
//! (or, in escrow mode, succeed: a provider may mint for an authorization executed elsewhere).

use super::wire::{Payment, PaymentError, Reason, Requirement};
use crate::{
    bindings::gen_im_token_nft::GenImTokenNFT::{self, GenImTokenNFTErrors},
    chain::{ChainError, Connection, call_tx, revert::Revert},
    eip3009::{IEIP3009, Kind},
};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use tracing::debug;

/// How far in the future `validBefore` must be for a payment to be accepted: the reference
/// facilitator's 6 s, time for the settlement to be mined.
pub const VALID_BEFORE_MARGIN: u64 = 6;

/// How a payment is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `transferWithAuthorization` on the token: the money goes to `payTo` (an address or a
    /// Splitter).
    Direct,
    /// `mintWithAuthorization` on the GenImTokenNFT at `payTo`: the money is held in escrow
    /// for a token minted to the payer for `prompt`. The relayer must be one of its providers
    /// (x402 clients sign random nonces, which only providers may relay).
    Escrow {
        /// What the payer asked for (1 to 1000 bytes).
        prompt: String,
    },
}

/// The Solidity calls genim makes beyond [`IEIP3009`].
#[allow(clippy::too_many_arguments)]
pub(crate) mod sol {
    alloy::sol! {
        /// FiatTokenV2_2's `v, r, s` overload (what the reference facilitator sends for a
        /// 65-byte signature; a little cheaper than the `bytes` one).
        interface IFiatTokenVrs {
            function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
        }
    }
}

/// A payment that passed every check: who pays, and the key of its authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `authorization.from`.
    pub payer: Address,
    /// The authorization (token, payer, nonce): it moves money at most once, so it is the
    /// natural idempotency key of a paid request.
    pub key: AuthorizationKey,
    /// The chain time the checks used.
    pub checked_at: u64,
    /// The settlement's gas, as the simulation (`eth_estimateGas`) found it.
    pub gas: u64,
}

/// An EIP-3009 authorization's identity: the token enforces one use per `(from, nonce)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthorizationKey {
    /// The chain.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The payer.
    pub from: Address,
    /// The authorization's nonce.
    pub nonce: B256,
}

impl AuthorizationKey {
    /// The key of `payment` made for `requirement`.
    pub fn of(requirement: &Requirement, payment: &Payment) -> Self {
        Self {
            chain_id: requirement.chain_id,
            asset: requirement.asset,
            from: payment.authorization.from,
            nonce: payment.authorization.nonce,
        }
    }
}

/// Why a payment did not verify.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The payment is refused, for a standard reason (answer 402 with it).
    #[error(transparent)]
    Rejected(#[from] PaymentError),
    /// The chain could not be asked (answer 503; the payment may be fine).
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl VerifyError {
    /// The standard reason: the refusal's, or `unexpected_verify_error`.
    pub fn reason(&self) -> Reason {
        match self {
            Self::Rejected(err) => err.reason,
            Self::Chain(_) => Reason::UnexpectedVerifyError,
        }
    }
}

/// The checks that need no chain: network, asset, payTo and value against the requirement,
/// in that order, and the requirement's EIP-712 domain.
pub fn check_terms(requirement: &Requirement, payment: &Payment) -> Result<(), PaymentError> {
    let auth = &payment.authorization;
    if payment.chain_id != requirement.chain_id {
        return Err(PaymentError::new(
            Reason::NetworkMismatch,
            format!(
                "the payment is for chain {}, this resource is paid on chain {}",
                payment.chain_id, requirement.chain_id
            ),
        ));
    }
    if let Some(accepted) = &payment.accepted {
        // What the v2 client says it accepted must be what is asked (the reference server
        // matches it field by field before calling its facilitator).
        if accepted.asset != requirement.asset {
            return Err(PaymentError::new(
                Reason::InvalidPaymentRequirements,
                format!(
                    "the payment is in token {}, this resource is paid in {}",
                    accepted.asset, requirement.asset
                ),
            ));
        }
        if accepted.pay_to != requirement.pay_to {
            return Err(PaymentError::new(
                Reason::RecipientMismatch,
                format!(
                    "the payment accepted payTo {}, this resource is paid to {}",
                    accepted.pay_to, requirement.pay_to
                ),
            ));
        }
        if accepted.amount != requirement.amount {
            return Err(PaymentError::new(
                Reason::ValueMismatch,
                format!(
                    "the payment accepted amount {}, the price is {}",
                    accepted.amount, requirement.amount
                ),
            ));
        }
    }
    if auth.to != requirement.pay_to {
        return Err(PaymentError::new(
            Reason::RecipientMismatch,
            format!(
                "the authorization pays {}, this resource is paid to {}",
                auth.to, requirement.pay_to
            ),
        ));
    }
    if auth.value != requirement.amount {
        return Err(PaymentError::new(
            Reason::ValueMismatch,
            format!(
                "the authorization is for {}, the price is exactly {}",
                auth.value, requirement.amount
            ),
        ));
    }
    if requirement.domain.is_none() {
        return Err(PaymentError::new(
            Reason::MissingEip712Domain,
            "the requirement has no extra.name and extra.version (the token's EIP-712 domain)",
        ));
    }
    Ok(())
}

/// Chain time for validity windows: the latest block's timestamp, or the wall clock when it is
/// later (an idle anvil's latest block can be minutes old, while the next block, which the
/// settlement lands in, is stamped now). A chain moved ahead (`evm_increaseTime`) wins.
pub async fn chain_now(conn: &Connection) -> Result<u64, ChainError> {
    let block = conn.chain_time().await?;
    Ok(block.max(crate::time::unix_now()))
}

/// Verifies `payment` against `requirement` on `conn`'s chain, simulating the settlement from
/// `conn`'s signer (the relayer). Nothing is sent.
pub async fn verify(
    conn: &Connection,
    requirement: &Requirement,
    payment: &Payment,
    mode: &Mode,
) -> Result<Verified, VerifyError> {
    if requirement.chain_id != conn.chain_id {
        return Err(PaymentError::new(
            Reason::InvalidNetwork,
            format!(
                "chain {} is not served here (chain {})",
                requirement.chain_id, conn.chain_id
            ),
        )
        .into());
    }
    check_terms(requirement, payment)?;
    let relayer = conn.signer()?;
    let auth = &payment.authorization;
    let token = IEIP3009::new(requirement.asset, conn.provider.clone());
    let balance_call = token.balanceOf(auth.from);
    let state_call = token.authorizationState(auth.from, auth.nonce);
    // The simulation goes with the reads (one round trip); its answer counts only after theirs.
    let call = settlement_call(requirement, payment, mode).from(relayer);
    let (now, code, balance, used, simulated) = tokio::try_join!(
        async { Ok::<_, VerifyError>(chain_now(conn).await?) },
        async {
            conn.provider
                .get_code_at(auth.from)
                .await
                .map_err(|err| VerifyError::Chain(conn.rpc_error(err)))
        },
        async {
            balance_call
                .call()
                .await
                .map_err(|err| token_call_error(conn, requirement, err))
        },
        async {
            state_call
                .call()
                .await
                .map_err(|err| token_call_error(conn, requirement, err))
        },
        async { Ok(conn.provider.estimate_gas(call).await) },
    )?;
    if auth.valid_after > U256::from(now) {
        return Err(PaymentError::new(
            Reason::ValidAfter,
            format!(
                "the authorization is valid only after {}, chain time is {now}",
                auth.valid_after
            ),
        )
        .into());
    }
    if auth.valid_before < U256::from(now + VALID_BEFORE_MARGIN) {
        return Err(PaymentError::new(
            Reason::ValidBefore,
            format!(
                "the authorization expires at {}, chain time is {now} (at least \
                 {VALID_BEFORE_MARGIN} s are needed to settle)",
                auth.valid_before
            ),
        )
        .into());
    }
    // An EOA's signature is checked here; a smart wallet's (ERC-1271) by the token itself, in
    // the simulation below.
    let domain = requirement
        .eip712_domain()
        .expect("check_terms requires the domain");
    if code.is_empty() && !auth.signed_by_from(Kind::Transfer, &domain, &payment.signature) {
        return Err(PaymentError::new(
            Reason::InvalidSignature,
            format!(
                "the signature is not {}'s TransferWithAuthorization under the domain of {} \
                 ({}, version {}, chain {})",
                auth.from,
                requirement.asset,
                domain.name.as_deref().unwrap_or_default(),
                domain.version.as_deref().unwrap_or_default(),
                requirement.chain_id
            ),
        )
        .into());
    }
    if balance < auth.value {
        return Err(PaymentError::new(
            Reason::InsufficientBalance,
            format!(
                "{} holds {balance} of {}, the price is {}",
                auth.from, requirement.asset, auth.value
            ),
        )
        .into());
    }
    if used {
        return Err(PaymentError::new(
            Reason::NonceAlreadyUsed,
            format!(
                "the authorization of {} with nonce {} was used (or cancelled) already",
                auth.from, auth.nonce
            ),
        )
        .into());
    }
    let gas = match simulated {
        Ok(gas) => gas,
        Err(err) => {
            let data = err.as_error_resp().and_then(|resp| resp.as_revert_data());
            if data.is_none() && !is_revert_message(&err.to_string()) {
                return Err(conn.rpc_error(err).into());
            }
            let revert = match &data {
                Some(data) => Revert::decode(data).to_string(),
                None => crate::http::excerpt(&err.to_string()),
            };
            debug!(payer = %auth.from, %revert, "settlement simulation failed");
            return Err(diagnose(
                conn,
                requirement,
                mode,
                data.as_ref().map(|d| &d[..]),
                &revert,
            )
            .await
            .into());
        }
    };
    Ok(Verified {
        payer: auth.from,
        key: AuthorizationKey::of(requirement, payment),
        checked_at: now,
        gas,
    })
}

/// A failed token read: the chain's error, or (no code, another ABI) a refusal of the
/// requirement's asset, which is not the payer's doing but cannot be paid either.
fn token_call_error(
    conn: &Connection,
    requirement: &Requirement,
    err: alloy::contract::Error,
) -> VerifyError {
    match conn.call_error(err) {
        ChainError::Reverted(why) => PaymentError::new(
            Reason::InvalidPaymentRequirements,
            format!(
                "{} does not answer as an EIP-3009 token: {why}",
                requirement.asset
            ),
        )
        .into(),
        other => other.into(),
    }
}

/// Whether an error without revert data still says the call reverted.
fn is_revert_message(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("revert") || text.contains("execution")
}

/// The transaction that settles `payment` in `mode`, without its sender: the token's
/// `transferWithAuthorization` (the `v, r, s` overload for a 65-byte signature, the `bytes`
/// one, which accepts ERC-1271 wallets, otherwise), or the NFT's `mintWithAuthorization`.
pub(crate) fn settlement_call(
    requirement: &Requirement,
    payment: &Payment,
    mode: &Mode,
) -> TransactionRequest {
    let auth = &payment.authorization;
    let signature = &payment.signature;
    let input: Bytes = match mode {
        Mode::Direct => match split_signature(signature) {
            Some((v, r, s)) => sol::IFiatTokenVrs::transferWithAuthorizationCall {
                from: auth.from,
                to: auth.to,
                value: auth.value,
                validAfter: auth.valid_after,
                validBefore: auth.valid_before,
                nonce: auth.nonce,
                v,
                r,
                s,
            }
            .abi_encode()
            .into(),
            None => IEIP3009::transferWithAuthorizationCall {
                from: auth.from,
                to: auth.to,
                value: auth.value,
                validAfter: auth.valid_after,
                validBefore: auth.valid_before,
                nonce: auth.nonce,
                signature: signature.clone(),
            }
            .abi_encode()
            .into(),
        },
        Mode::Escrow { prompt } => GenImTokenNFT::mintWithAuthorizationCall {
            prompt: prompt.clone(),
            from: auth.from,
            validAfter: auth.valid_after,
            validBefore: auth.valid_before,
            nonce: auth.nonce,
            signature: signature.clone(),
        }
        .abi_encode()
        .into(),
    };
    let to = match mode {
        Mode::Direct => requirement.asset,
        Mode::Escrow { .. } => requirement.pay_to,
    };
    call_tx(to, input, U256::ZERO)
}

/// r‖s‖v of a 65-byte signature, v as 27 or 28 (some signers write 0 or 1).
fn split_signature(signature: &[u8]) -> Option<(u8, B256, B256)> {
    if signature.len() != 65 {
        return None;
    }
    let v = match signature[64] {
        v @ (27 | 28) => v,
        v @ (0 | 1) => v + 27,
        _ => return None,
    };
    Some((
        v,
        B256::from_slice(&signature[..32]),
        B256::from_slice(&signature[32..64]),
    ))
}

/// Why a simulated settlement fails, as precisely as the chain can tell: the token's own
/// reason when it gave one; then, since a signature made under another EIP-712 domain only
/// says "invalid signature", the token's actual name and version against the requirement's,
/// and in escrow mode the NFT's price against the amount.
pub(crate) async fn diagnose(
    conn: &Connection,
    requirement: &Requirement,
    mode: &Mode,
    data: Option<&[u8]>,
    revert: &str,
) -> PaymentError {
    let reason = reason_of_revert(data, revert);
    if !matches!(reason, Reason::InvalidSignature | Reason::SimulationFailed) {
        return PaymentError::new(reason, format!("the settlement would fail: {revert}"));
    }
    let token = IEIP3009::new(requirement.asset, conn.provider.clone());
    if let Some(expected) = &requirement.domain {
        if let Ok(name) = token.name().call().await
            && name != expected.name
        {
            return PaymentError::new(
                Reason::TokenNameMismatch,
                format!(
                    "the token's EIP-712 name is '{name}', the requirement says '{}' ({revert})",
                    expected.name
                ),
            );
        }
        if let Ok(version) = token.version().call().await
            && version != expected.version
        {
            return PaymentError::new(
                Reason::TokenVersionMismatch,
                format!(
                    "the token's EIP-712 version is '{version}', the requirement says '{}' \
                     ({revert})",
                    expected.version
                ),
            );
        }
    }
    if let Mode::Escrow { .. } = mode
        && let Ok(price) = GenImTokenNFT::new(requirement.pay_to, conn.provider.clone())
            .price()
            .call()
            .await
        && price != requirement.amount
    {
        return PaymentError::new(
            Reason::SimulationFailed,
            format!(
                "the NFT {} costs {price}, the requirement asks {} (server configuration)",
                requirement.pay_to, requirement.amount
            ),
        );
    }
    PaymentError::new(reason, format!("the settlement would fail: {revert}"))
}

/// The standard reason behind a revert of the token (FiatTokenV2_2's messages) or of the NFT.
pub(crate) fn reason_of_revert(data: Option<&[u8]>, text: &str) -> Reason {
    if let Some(data) = data
        && let Revert::TokenNft(err) = Revert::decode(data)
    {
        return match err {
            GenImTokenNFTErrors::AuthorizationAlreadyMinted(_)
            | GenImTokenNFTErrors::AuthorizationUsedElsewhere(_) => Reason::NonceAlreadyUsed,
            GenImTokenNFTErrors::InvalidSignature(_) => Reason::InvalidSignature,
            _ => Reason::SimulationFailed,
        };
    }
    let text = text.to_ascii_lowercase();
    if text.contains("authorization is used or canceled") {
        Reason::NonceAlreadyUsed
    } else if text.contains("authorization is expired") {
        Reason::ValidBefore
    } else if text.contains("authorization is not yet valid") {
        Reason::ValidAfter
    } else if text.contains("exceeds balance") {
        Reason::InsufficientBalance
    } else if text.contains("invalid signature") {
        Reason::InvalidSignature
    } else {
        Reason::SimulationFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_split_into_v_r_s() {
        let mut sig = [7u8; 65];
        sig[64] = 1;
        let (v, r, s) = split_signature(&sig).unwrap();
        assert_eq!((v, r, s), (28, B256::repeat_byte(7), B256::repeat_byte(7)));
        sig[64] = 29;
        assert!(split_signature(&sig).is_none());
        assert!(split_signature(&[0u8; 64]).is_none());
    }

    #[test]
    fn token_reverts_map_to_reasons() {
        let cases = [
            (
                "reverted: FiatTokenV2: authorization is used or canceled",
                Reason::NonceAlreadyUsed,
            ),
            (
                "reverted: FiatTokenV2: authorization is expired",
                Reason::ValidBefore,
            ),
            (
                "reverted: FiatTokenV2: authorization is not yet valid",
                Reason::ValidAfter,
            ),
            (
                "reverted: ERC20: transfer amount exceeds balance",
                Reason::InsufficientBalance,
            ),
            (
                "reverted: FiatTokenV2: invalid signature",
                Reason::InvalidSignature,
            ),
            ("reverted: Pausable: paused", Reason::SimulationFailed),
        ];
        for (text, reason) in cases {
            assert_eq!(reason_of_revert(None, text), reason, "{text}");
        }
        let minted = GenImTokenNFT::AuthorizationAlreadyMinted {
            from: Address::ZERO,
            nonce: B256::ZERO,
            tokenId: U256::from(1),
        };
        let data = alloy::sol_types::SolError::abi_encode(&minted);
        assert_eq!(reason_of_revert(Some(&data), ""), Reason::NonceAlreadyUsed);
    }
}
