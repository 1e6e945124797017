//! Contract reverts as sentences. Revert data is decoded through the generated error enums of
//! GenImNFT and Splitter (plus solady library errors that are not in the ABIs), then phrased for
//! the person who sent the transaction: "wrong payment: the price is 0.00003 ETH, you sent
//! 0.00002 ETH".

use crate::{
    amount::format_eth,
    bindings::{
        gen_im_nft::GenImNFT::GenImNFTErrors, gen_im_token_nft::GenImTokenNFT::GenImTokenNFTErrors,
        splitter::Splitter::SplitterErrors,
    },
    time::format_utc,
};
use alloy::{
    primitives::{Bytes, U256},
    sol_types::{Panic, Revert as RevertReason, SolError, SolInterface},
};
use std::fmt;

alloy::sol! {
    /// Errors raised by solady libraries in assembly, hence absent from the contract ABIs.
    #[derive(Debug)]
    interface SoladyErrors {
        /// SafeTransferLib: an ETH transfer failed.
        error ETHTransferFailed();
        /// LibClone: the clone could not be created (that split and salt already exist).
        error DeploymentFailed();
    }
}

/// A decoded revert.
#[derive(Debug)]
pub enum Revert {
    /// A GenImNFT custom error (including its solady ERC-721 errors).
    Nft(GenImNFTErrors),
    /// A GenImTokenNFT custom error of its own (the shared ones decode as [`Revert::Nft`]).
    TokenNft(GenImTokenNFTErrors),
    /// A Splitter custom error.
    Splitter(SplitterErrors),
    /// A solady library error.
    Solady(SoladyErrors::SoladyErrorsErrors),
    /// `revert("reason")` / `require(cond, "reason")`.
    Reason(String),
    /// A Solidity panic (`Panic(uint256)`).
    Panic(U256),
    /// No revert data (out of gas, `revert()` without data, or a non-contract).
    Empty,
    /// Data that matches no known error.
    Unknown(Bytes),
}

/// What `tokenState` says about a token, to explain `TokenNotPending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPendingBecause {
    /// It was never minted.
    NeverMinted,
    /// A provider delivered it.
    Delivered,
    /// Its owner refunded it.
    Refunded,
}

impl Revert {
    /// Decodes revert data.
    pub fn decode(data: &[u8]) -> Self {
        if data.is_empty() {
            return Self::Empty;
        }
        if let Ok(err) = GenImNFTErrors::abi_decode(data) {
            return Self::Nft(err);
        }
        if let Ok(err) = GenImTokenNFTErrors::abi_decode(data) {
            return Self::TokenNft(err);
        }
        if let Ok(err) = SplitterErrors::abi_decode(data) {
            return Self::Splitter(err);
        }
        if let Ok(err) = SoladyErrors::SoladyErrorsErrors::abi_decode(data) {
            return Self::Solady(err);
        }
        if let Ok(reason) = RevertReason::abi_decode(data) {
            return Self::Reason(reason.reason);
        }
        if let Ok(panic) = Panic::abi_decode(data) {
            return Self::Panic(panic.code);
        }
        Self::Unknown(Bytes::copy_from_slice(data))
    }

    /// The token of a `TokenNotPending` revert, whose state a caller may look up to say why.
    pub fn not_pending_token(&self) -> Option<U256> {
        match self {
            Self::Nft(GenImNFTErrors::TokenNotPending(err)) => Some(err.tokenId),
            _ => None,
        }
    }
}

/// "token 7 is not pending (it was delivered)".
pub fn token_not_pending(token_id: U256, because: Option<NotPendingBecause>) -> String {
    match because {
        Some(NotPendingBecause::Delivered) => {
            format!("token {token_id} is not pending (it was delivered)")
        }
        Some(NotPendingBecause::Refunded) => {
            format!("token {token_id} is not pending (it was refunded)")
        }
        Some(NotPendingBecause::NeverMinted) => {
            format!("token {token_id} is not pending (it was never minted)")
        }
        None => format!("token {token_id} is not pending"),
    }
}

impl fmt::Display for Revert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nft(err) => f.write_str(&nft_message(err)),
            Self::TokenNft(err) => f.write_str(&token_nft_message(err)),
            Self::Splitter(err) => f.write_str(&splitter_message(err)),
            Self::Solady(SoladyErrors::SoladyErrorsErrors::ETHTransferFailed(_)) => {
                f.write_str("the ETH transfer failed: the receiver rejected it")
            }
            Self::Solady(SoladyErrors::SoladyErrorsErrors::DeploymentFailed(_)) => {
                f.write_str("the clone could not be created: that split and salt already exist")
            }
            Self::Reason(reason) => write!(f, "reverted: {reason}"),
            Self::Panic(code) => write!(
                f,
                "reverted with panic 0x{code:02x} ({})",
                panic_reason(*code)
            ),
            Self::Empty => f.write_str("reverted without a reason (out of gas, or not a contract)"),
            Self::Unknown(data) => {
                let selector = data.get(..4).map(alloy::primitives::hex::encode_prefixed);
                write!(
                    f,
                    "reverted with unknown error {}",
                    selector.unwrap_or_else(|| data.to_string())
                )
            }
        }
    }
}

fn nft_message(err: &GenImNFTErrors) -> String {
    use GenImNFTErrors as E;
    match err {
        E::WrongPayment(e) => format!(
            "wrong payment: the price is {}, you sent {}",
            format_eth(e.expected),
            format_eth(e.sent)
        ),
        E::EmptyPrompt(_) => "empty prompt: describe the image to generate".into(),
        E::PromptTooLong(e) => {
            format!(
                "prompt too long: {} bytes, at most {} are allowed",
                e.length, e.max
            )
        }
        E::MintingPaused(_) => "minting is paused by the contract owner".into(),
        E::MintingEnded(_) => {
            "minting has ended: deadlines no longer fit the contract's 32-bit field".into()
        }
        E::TooManyProviders(_) => {
            "too many providers: at most 64 can be authorized at once (remove one first)".into()
        }
        E::NotProvider(e) => format!("not an authorized provider: {}", e.caller),
        E::NotAuthorizedAtMint(e) => format!(
            "{} may not deliver token {}: it was not an authorized provider when the token was \
             minted",
            e.provider, e.tokenId
        ),
        E::UnexpectedValue(e) => format!(
            "this function takes no ETH ({} sent); nothing was paid",
            format_eth(e.value)
        ),
        E::AccrualOverflow(_) => {
            "the provider's accrued amount would overflow: withdraw first".into()
        }
        E::TokenNotPending(e) => token_not_pending(e.tokenId, None),
        E::InvalidDigest(_) => "invalid metadata digest: it must not be zero".into(),
        E::LengthMismatch(e) => {
            format!(
                "batch length mismatch: {} token ids but {} digests",
                e.tokenIds, e.digests
            )
        }
        E::NotTokenOwner(e) => format!(
            "not your token: {} does not own token {}",
            e.caller, e.tokenId
        ),
        E::DeadlineNotReached(e) => format!(
            "refund too early: token {} can be refunded after {}",
            e.tokenId,
            format_utc(e.deadline)
        ),
        E::NotOwner(e) => format!(
            "not the contract owner: {} does not own this GenImNFT",
            e.caller
        ),
        E::NotPendingOwner(e) => format!("not the pending owner: {}", e.caller),
        E::ZeroAddress(_) => "the zero address is not allowed here".into(),
        E::FeeTooHigh(e) => format!(
            "fee too high: {} basis points is above 100% (10000)",
            e.feeBps
        ),
        E::PriceTooHigh(e) => format!(
            "price too high: {} does not fit the 64-bit escrow (at most {})",
            format_eth(e.price),
            format_eth(U256::from(u64::MAX))
        ),
        E::InvalidDeliveryWindow(e) => format!(
            "invalid delivery window: {} s (it must be 1 s to 365 days)",
            e.deliveryWindow
        ),
        E::NothingToWithdraw(_) => "nothing to withdraw".into(),
        E::TokenDoesNotExist(_) => "the token does not exist (never minted, or refunded)".into(),
        E::NotOwnerNorApproved(_) => "not the token's owner nor approved for it".into(),
        E::TransferToZeroAddress(_) => "cannot transfer a token to the zero address".into(),
        E::TransferFromIncorrectOwner(_) => "the token is not owned by the sender given".into(),
        E::TransferToNonERC721ReceiverImplementer(_) => {
            "the receiving contract does not accept ERC-721 tokens".into()
        }
        E::TokenAlreadyExists(_) => "the token already exists".into(),
        E::AccountBalanceOverflow(_) => "the account holds too many tokens".into(),
        E::BalanceQueryForZeroAddress(_) => "balance of the zero address".into(),
    }
}

fn token_nft_message(err: &GenImTokenNFTErrors) -> String {
    use GenImTokenNFTErrors as E;
    match err {
        E::InvalidToken(e) => format!("{} is not a token contract", e.token),
        E::PromptNotCommitted(e) => format!(
            "the authorization's nonce {} does not commit to this prompt (expected {}): only \
             the contract's providers may relay it",
            e.nonce, e.expected
        ),
        E::AuthorizationAlreadyMinted(e) => format!(
            "this authorization of {} (nonce {}) already minted token {}",
            e.from, e.nonce, e.tokenId
        ),
        E::AuthorizationUsedElsewhere(e) => format!(
            "the authorization of {} (nonce {}) was already used outside this contract: only a \
             provider can mint for it, after checking the token's logs",
            e.from, e.nonce
        ),
        E::InvalidSignature(_) => {
            "invalid signature: it is not the payer's authorization of this payment".into()
        }
        E::PaymentNotReceived(e) => format!(
            "the payment did not arrive: the contract holds {} but owes {}",
            e.balance, e.accounted
        ),
        // The shared errors decode as GenImNFT's first (same selectors); this is a fallback.
        other => format!("reverted: {other:?}"),
    }
}

fn splitter_message(err: &SplitterErrors) -> String {
    use SplitterErrors as E;
    match err {
        E::InvalidSplit(_) => "invalid split: give 1 to 32 recipients, each with a share".into(),
        E::InvalidRecipient(e) => {
            format!(
                "invalid split recipient {}: zero or listed twice",
                e.recipient
            )
        }
        E::ZeroShare(e) => format!("invalid split: {} has a zero share", e.recipient),
        E::AlreadyInitialized(_) => "the splitter is already initialized".into(),
        E::NotRecipient(e) => format!("{} is not a recipient of this splitter", e.account),
        E::NothingToRelease(e) => format!("nothing to release to {}", e.account),
    }
}

fn panic_reason(code: U256) -> &'static str {
    match code.to::<u64>() {
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow or underflow",
        0x12 => "division by zero",
        0x21 => "invalid enum value",
        0x22 => "corrupt storage byte array",
        0x31 => "pop on an empty array",
        0x32 => "array index out of bounds",
        0x41 => "out of memory",
        0x51 => "call to an uninitialized function",
        _ => "unknown panic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::gen_im_nft::GenImNFT;

    #[test]
    fn wrong_payment_sentence() {
        let data = GenImNFT::WrongPayment {
            expected: U256::from(30_000_000_000_000u64),
            sent: U256::from(20_000_000_000_000u64),
        }
        .abi_encode();
        assert_eq!(
            Revert::decode(&data).to_string(),
            "wrong payment: the price is 0.00003 ETH, you sent 0.00002 ETH"
        );
    }

    #[test]
    fn refund_too_early_sentence() {
        let data = GenImNFT::DeadlineNotReached {
            tokenId: U256::from(3),
            deadline: 1_795_446_000,
        }
        .abi_encode();
        assert_eq!(
            Revert::decode(&data).to_string(),
            "refund too early: token 3 can be refunded after 2026-11-23 15:00:00 UTC"
        );
    }

    #[test]
    fn not_pending_carries_the_token() {
        let data = GenImNFT::TokenNotPending {
            tokenId: U256::from(7),
        }
        .abi_encode();
        let revert = Revert::decode(&data);
        assert_eq!(revert.not_pending_token(), Some(U256::from(7)));
        assert_eq!(
            token_not_pending(U256::from(7), Some(NotPendingBecause::Delivered)),
            "token 7 is not pending (it was delivered)"
        );
    }

    #[test]
    fn reasons_panics_and_unknown() {
        let data = RevertReason::from("nope").abi_encode();
        assert_eq!(Revert::decode(&data).to_string(), "reverted: nope");
        let data = Panic::from(0x11u64).abi_encode();
        assert!(Revert::decode(&data).to_string().contains("overflow"));
        assert!(matches!(
            Revert::decode(&[1, 2, 3, 4, 5]),
            Revert::Unknown(_)
        ));
        assert!(matches!(Revert::decode(&[]), Revert::Empty));
    }
}
