//! Amounts as users write and read them, in the unit of what a contract is priced in: ETH
//! (`0.00003ether`, `30000gwei` or plain wei in; `0.00003 ETH` out) or an ERC-20 token such as
//! USDC (`0.05` or `0.05usdc` in; `0.05 USDC` out). alloy's `parse_units`/`format_units` do the
//! arithmetic; this module adds the checks a user needs (no silent truncation below one unit).

use alloy::primitives::{
    Address, U256,
    utils::{format_units, parse_units},
};
use serde::Serialize;
use std::fmt;

/// What a contract is priced in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Asset {
    /// The chain's native ETH (wei, 18 decimals).
    Eth,
    /// An ERC-20 token such as USDC.
    Token {
        /// The token contract.
        address: Address,
        /// Its symbol (`USDC`).
        symbol: String,
        /// Its decimals (6 for USDC).
        decimals: u8,
    },
}

/// A malformed amount. Carries the text the user typed (amounts are not secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Nothing before the unit, or characters that are not digits.
    #[error("invalid amount '{text}': expected {expected}")]
    Malformed { text: String, expected: String },
    /// A unit this asset does not have.
    #[error("invalid amount '{text}': unknown unit '{unit}' (use {known})")]
    UnknownUnit {
        text: String,
        unit: String,
        known: String,
    },
    /// More decimals than the unit has.
    #[error("invalid amount '{text}': more than {decimals} decimals is less than one {smallest}")]
    TooPrecise {
        text: String,
        decimals: u8,
        smallest: &'static str,
    },
    /// Larger than 2^256 - 1.
    #[error("invalid amount '{0}': too large")]
    Overflow(String),
}

impl Asset {
    /// `ETH`, `USDC`, ...
    pub fn symbol(&self) -> &str {
        match self {
            Self::Eth => "ETH",
            Self::Token { symbol, .. } => symbol,
        }
    }

    /// Decimals of one whole unit.
    pub fn decimals(&self) -> u8 {
        match self {
            Self::Eth => 18,
            Self::Token { decimals, .. } => *decimals,
        }
    }

    /// The token contract, `None` for ETH.
    pub fn token(&self) -> Option<Address> {
        match self {
            Self::Eth => None,
            Self::Token { address, .. } => Some(*address),
        }
    }

    /// `0.00003 ETH`, `0.05 USDC`: whole units without trailing zeros, and the symbol.
    pub fn format(&self, amount: U256) -> String {
        format!(
            "{} {}",
            format_decimal(amount, self.decimals()),
            self.symbol()
        )
    }

    /// Parses an amount in this asset. ETH: `0.00003ether`, `0.00003 eth`, `30000gwei`,
    /// `30000000000000wei` or plain wei. A token: whole units, `0.05` or `0.05 USDC` (the
    /// symbol, case-insensitive). `_` may group digits.
    pub fn parse(&self, text: &str) -> Result<U256, AmountError> {
        match self {
            Self::Eth => parse_eth(text),
            Self::Token {
                symbol, decimals, ..
            } => {
                let (number, unit) = split_unit(text);
                if !unit.is_empty() && !unit.eq_ignore_ascii_case(symbol) {
                    return Err(AmountError::UnknownUnit {
                        text: text.trim().to_owned(),
                        unit: unit.to_owned(),
                        known: symbol.clone(),
                    });
                }
                parse_decimal(text, &number, *decimals, "token unit", || {
                    format!("a number of {symbol}, e.g. 0.05")
                })
            }
        }
    }
}

impl fmt::Display for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Eth => f.write_str("ETH"),
            Self::Token {
                address, symbol, ..
            } => write!(f, "{symbol} ({address})"),
        }
    }
}

/// Parses `0.00003ether`, `0.00003 eth`, `30000gwei`, `30000000000000wei` or plain wei
/// (`30000000000000`) into wei. Units are case-insensitive; `_` may group digits.
pub fn parse_eth(text: &str) -> Result<U256, AmountError> {
    let (number, unit) = split_unit(text);
    let decimals = match unit.to_ascii_lowercase().as_str() {
        "" | "wei" => 0,
        "gwei" => 9,
        "ether" | "eth" => 18,
        other => {
            return Err(AmountError::UnknownUnit {
                text: text.trim().to_owned(),
                unit: other.to_owned(),
                known: "wei, gwei or ether".into(),
            });
        }
    };
    parse_decimal(text, &number, decimals, "wei", || {
        "a number with an optional unit, e.g. 0.00003ether, 30000gwei or 30000000000000 (wei)"
            .into()
    })
}

/// Formats wei as ETH without trailing zeros: `0.00003 ETH`, `1 ETH`, `0 ETH`.
pub fn format_eth(wei: U256) -> String {
    Asset::Eth.format(wei)
}

/// `amount` with `decimals` as a decimal number without trailing zeros (`0.05`, `1`, `0`).
pub fn format_decimal(amount: U256, decimals: u8) -> String {
    let text = format_units(amount, decimals).unwrap_or_else(|_| amount.to_string());
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{fraction}")
            }
        }
        None => text,
    }
}

/// Splits `0.05 usdc` into (`0.05`, `usdc`), digits grouped with `_` joined.
fn split_unit(text: &str) -> (String, &str) {
    let trimmed = text.trim();
    let at = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(at);
    let number = number.trim().chars().filter(|&c| c != '_').collect();
    (number, unit.trim())
}

fn parse_decimal(
    text: &str,
    number: &str,
    decimals: u8,
    smallest: &'static str,
    expected: impl Fn() -> String,
) -> Result<U256, AmountError> {
    let malformed = || AmountError::Malformed {
        text: text.trim().to_owned(),
        expected: expected(),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(malformed());
    }
    // alloy truncates what is below one unit; a user typing it means a mistake.
    if fraction.trim_end_matches('0').len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise {
            text: text.trim().to_owned(),
            decimals,
            smallest,
        });
    }
    let normalized = format!("{}.{fraction}", if whole.is_empty() { "0" } else { whole });
    let normalized = normalized.trim_end_matches('.');
    parse_units(normalized, decimals)
        .map(Into::into)
        .map_err(|_| AmountError::Overflow(text.trim().to_owned()))
}

/// U256 as a decimal string in JSON (wei amounts exceed JavaScript's safe integers).
pub mod decimal {
    use alloy::primitives::U256;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serializes as `"30000000000000"`.
    pub fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    /// Accepts a decimal or `0x` hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usdc() -> Asset {
        Asset::Token {
            address: Address::repeat_byte(1),
            symbol: "USDC".into(),
            decimals: 6,
        }
    }

    #[test]
    fn parses_eth_units() {
        let wei = U256::from(30_000_000_000_000u64);
        assert_eq!(parse_eth("0.00003ether").unwrap(), wei);
        assert_eq!(parse_eth("0.00003 ETH").unwrap(), wei);
        assert_eq!(parse_eth("30000gwei").unwrap(), wei);
        assert_eq!(parse_eth("30000000000000").unwrap(), wei);
        assert_eq!(parse_eth("30_000_000_000_000wei").unwrap(), wei);
        assert_eq!(
            parse_eth("1ether").unwrap(),
            U256::from(10u64).pow(U256::from(18u64))
        );
        assert_eq!(parse_eth(".5gwei").unwrap(), U256::from(500_000_000u64));
        assert_eq!(parse_eth("0").unwrap(), U256::ZERO);
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(
            parse_eth("abc"),
            Err(AmountError::UnknownUnit { .. })
        ));
        assert_eq!(
            parse_eth("1.5").unwrap_err().to_string(),
            "invalid amount '1.5': more than 0 decimals is less than one wei"
        );
        assert!(matches!(
            parse_eth("1.2.3ether"),
            Err(AmountError::Malformed { .. })
        ));
        assert!(matches!(
            parse_eth("ether"),
            Err(AmountError::Malformed { .. })
        ));
        assert!(matches!(
            parse_eth("-1"),
            Err(AmountError::Malformed { .. })
        ));
        assert!(matches!(
            parse_eth(&"9".repeat(80)),
            Err(AmountError::Overflow(..))
        ));
    }

    #[test]
    fn formats() {
        assert_eq!(format_eth(U256::from(30_000_000_000_000u64)), "0.00003 ETH");
        assert_eq!(format_eth(U256::ZERO), "0 ETH");
        assert_eq!(format_eth(U256::from(1)), "0.000000000000000001 ETH");
        assert_eq!(
            format_eth(U256::from(1_500_000_000_000_000_000u64)),
            "1.5 ETH"
        );
        assert_eq!(usdc().format(U256::from(50_000)), "0.05 USDC");
        assert_eq!(usdc().format(U256::from(1_000_000)), "1 USDC");
    }

    #[test]
    fn parses_token_units() {
        assert_eq!(usdc().parse("0.05").unwrap(), U256::from(50_000));
        assert_eq!(usdc().parse("0.05 usdc").unwrap(), U256::from(50_000));
        assert_eq!(usdc().parse("12").unwrap(), U256::from(12_000_000));
        let err = usdc().parse("0.0000001").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid amount '0.0000001': more than 6 decimals is less than one token unit"
        );
        let err = usdc().parse("1ether").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid amount '1ether': unknown unit 'ether' (use USDC)"
        );
    }
}
