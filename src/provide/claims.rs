//! Tokens another part of the process is delivering right now (`genim serve`'s paid escrow
//! requests), which the provider loop leaves alone until they are released: one image per
//! token, never two made in a race. If the other part fails, its claim is dropped and the loop
//! delivers the token as usual.

use alloy::primitives::Address;
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

/// A shared set of claimed tokens. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Claims(Arc<Mutex<HashSet<(Address, u64)>>>);

/// Holds a claim until dropped.
#[derive(Debug)]
pub struct ClaimGuard {
    claims: Claims,
    token: (Address, u64),
}

impl Claims {
    /// Claims `token_id` of `nft` until the guard is dropped.
    pub fn claim(&self, nft: Address, token_id: u64) -> ClaimGuard {
        self.set().insert((nft, token_id));
        ClaimGuard {
            claims: self.clone(),
            token: (nft, token_id),
        }
    }

    /// Whether someone holds a claim on the token.
    pub fn is_claimed(&self, nft: Address, token_id: u64) -> bool {
        self.set().contains(&(nft, token_id))
    }

    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<(Address, u64)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.claims.set().remove(&self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_lasts_as_long_as_its_guard() {
        let claims = Claims::default();
        let nft = Address::repeat_byte(1);
        let guard = claims.claim(nft, 7);
        assert!(claims.clone().is_claimed(nft, 7));
        assert!(!claims.is_claimed(nft, 8));
        drop(guard);
        assert!(!claims.is_claimed(nft, 7));
    }
}
