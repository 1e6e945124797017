//! User input as typed on a command line, in a config file or in an HTTP request: addresses
//! and token ids. Errors quote the input (neither is secret).

use alloy::primitives::{Address, U256};

/// Input that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not an address.
    #[error("invalid address '{text}': {reason}")]
    Address { text: String, reason: String },
    /// Not a token id.
    #[error("invalid token id '{0}': expected a whole number")]
    TokenId(String),
}

/// Parses an address, hex with `0x`; mixed case must carry a valid EIP-55 checksum.
pub fn address(text: &str) -> Result<Address, ParseError> {
    let trimmed = text.trim();
    let reason = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        None => "expected 0x followed by 40 hex digits".to_owned(),
        Some(hex) if hex.len() != 40 => {
            format!("expected 40 hex digits after 0x, got {}", hex.len())
        }
        Some(hex) if !hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            "contains characters that are not hex digits".to_owned()
        }
        Some(hex) => {
            let lower = hex.chars().all(|c| !c.is_ascii_uppercase());
            let upper = hex.chars().all(|c| !c.is_ascii_lowercase());
            if lower || upper {
                if let Ok(address) = hex.parse() {
                    return Ok(address);
                }
                "contains characters that are not hex digits".to_owned()
            } else {
                match Address::parse_checksummed(trimmed, None) {
                    Ok(address) => return Ok(address),
                    Err(_) => "bad EIP-55 checksum (mixed case that does not match)".to_owned(),
                }
            }
        }
    };
    Err(ParseError::Address {
        text: trimmed.to_owned(),
        reason,
    })
}

/// Parses a token id (decimal, or hex with `0x`).
pub fn token_id(text: &str) -> Result<U256, ParseError> {
    let trimmed = text.trim();
    let parsed = match trimmed.strip_prefix("0x") {
        Some(hex) => U256::from_str_radix(hex, 16),
        None => U256::from_str_radix(trimmed, 10),
    };
    parsed.map_err(|_| ParseError::TokenId(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8").is_ok());
        assert!(address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").is_ok());
        assert_eq!(
            address("0x12").unwrap_err().to_string(),
            "invalid address '0x12': expected 40 hex digits after 0x, got 2"
        );
        let err = address("0x70997970C51812dc3A010C7d01b50e0d17dc79c8").unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }

    #[test]
    fn token_ids() {
        assert_eq!(token_id("7").unwrap(), U256::from(7));
        assert_eq!(token_id("0x10").unwrap(), U256::from(16));
        assert_eq!(
            token_id("seven").unwrap_err().to_string(),
            "invalid token id 'seven': expected a whole number"
        );
    }
}
