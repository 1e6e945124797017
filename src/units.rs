//! Amounts and times as users write and read them: `0.00003ether`, `30000gwei` or plain wei in;
//! `0.00003 ETH` and `2026-11-23 15:00:00 UTC` out.

use alloy::primitives::U256;

/// A malformed amount. Carries the text the user typed (amounts are not secret).
#[derive(Debug, thiserror::Error)]
pub enum AmountError {
    /// Nothing before the unit, or characters that are not digits.
    #[error(
        "invalid amount '{0}': expected a number with an optional unit, e.g. 0.00003ether, 30000gwei or 30000000000000 (wei)"
    )]
    Malformed(String),
    /// A unit other than wei, gwei, ether or eth.
    #[error("invalid amount '{0}': unknown unit '{1}' (use wei, gwei or ether)")]
    UnknownUnit(String, String),
    /// More decimals than the unit has (below one wei).
    #[error("invalid amount '{0}': more than {1} decimals is less than one wei")]
    TooPrecise(String, u8),
    /// Larger than 2^256 - 1 wei.
    #[error("invalid amount '{0}': too large")]
    Overflow(String),
}

/// Parses `0.00003ether`, `0.00003 eth`, `30000gwei`, `30000000000000wei` or plain wei
/// (`30000000000000`) into wei. Units are case-insensitive; `_` may group digits.
pub fn parse_amount(text: &str) -> Result<U256, AmountError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: String = number.trim().chars().filter(|&c| c != '_').collect();
    let decimals: u8 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "wei" => 0,
        "gwei" => 9,
        "ether" | "eth" => 18,
        other => return Err(AmountError::UnknownUnit(text.to_owned(), other.to_owned())),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
        return Err(AmountError::Malformed(text.to_owned()));
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise(text.to_owned(), decimals));
    }
    let padded = format!("{whole}{fraction:0<width$}", width = usize::from(decimals));
    let padded = padded.trim_start_matches('0');
    if padded.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(padded, 10).map_err(|_| AmountError::Overflow(text.to_owned()))
}

/// Formats wei as ETH without trailing zeros: `0.00003 ETH`, `1 ETH`, `0 ETH`.
pub fn format_eth(wei: U256) -> String {
    let one_ether = U256::from(10u64).pow(U256::from(18u64));
    let (whole, fraction) = wei.div_rem(one_ether);
    if fraction.is_zero() {
        return format!("{whole} ETH");
    }
    let fraction = format!("{fraction:0>18}");
    format!("{whole}.{} ETH", fraction.trim_end_matches('0'))
}

/// Formats unix seconds as `2026-11-23 15:00:00 UTC`.
pub fn format_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Formats seconds as a short duration: `45s`, `12m 5s`, `3h 20m`, `1d`, `2d 4h`.
pub fn format_duration(secs: u64) -> String {
    let (big, big_unit, small, small_unit) = match secs {
        0..60 => return format!("{secs}s"),
        60..3600 => (secs / 60, "m", secs % 60, "s"),
        3600..86_400 => (secs / 3600, "h", secs % 3600 / 60, "m"),
        _ => (secs / 86_400, "d", secs % 86_400 / 3600, "h"),
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// A token id for JSON output: a number when it fits 53 bits (safe in JavaScript), else a
/// decimal string.
pub fn json_id(id: U256) -> serde_json::Value {
    match u64::try_from(id) {
        Ok(small) if small < (1 << 53) => small.into(),
        _ => id.to_string().into(),
    }
}

/// Parses a token id (decimal, or hex with `0x`).
pub fn parse_token_id(text: &str) -> eyre::Result<U256> {
    let trimmed = text.trim();
    let parsed = match trimmed.strip_prefix("0x") {
        Some(hex) => U256::from_str_radix(hex, 16),
        None => U256::from_str_radix(trimmed, 10),
    };
    parsed.map_err(|_| eyre::eyre!("invalid token id '{trimmed}': expected a whole number"))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        let wei = U256::from(30_000_000_000_000u64);
        assert_eq!(parse_amount("0.00003ether").unwrap(), wei);
        assert_eq!(parse_amount("0.00003 ETH").unwrap(), wei);
        assert_eq!(parse_amount("30000gwei").unwrap(), wei);
        assert_eq!(parse_amount("30000000000000").unwrap(), wei);
        assert_eq!(parse_amount("30_000_000_000_000wei").unwrap(), wei);
        assert_eq!(
            parse_amount("1ether").unwrap(),
            U256::from(10u64).pow(U256::from(18u64))
        );
        assert_eq!(parse_amount(".5gwei").unwrap(), U256::from(500_000_000u64));
        assert_eq!(parse_amount("0").unwrap(), U256::ZERO);
    }

    #[test]
    fn rejects_bad_amounts() {
        assert!(matches!(
            parse_amount("abc"),
            Err(AmountError::UnknownUnit(..))
        ));
        assert!(matches!(
            parse_amount("1.5"),
            Err(AmountError::TooPrecise(..))
        ));
        assert!(matches!(
            parse_amount("1.2.3ether"),
            Err(AmountError::Malformed(..))
        ));
        assert!(matches!(
            parse_amount("ether"),
            Err(AmountError::Malformed(..))
        ));
        assert!(matches!(
            parse_amount("-1"),
            Err(AmountError::Malformed(..))
        ));
        assert!(matches!(
            parse_amount(&"9".repeat(80)),
            Err(AmountError::Overflow(..))
        ));
    }

    #[test]
    fn formats_eth() {
        assert_eq!(format_eth(U256::from(30_000_000_000_000u64)), "0.00003 ETH");
        assert_eq!(format_eth(U256::from(20_000_000_000_000u64)), "0.00002 ETH");
        assert_eq!(format_eth(U256::ZERO), "0 ETH");
        assert_eq!(format_eth(U256::from(1)), "0.000000000000000001 ETH");
        assert_eq!(
            format_eth(U256::from(1_500_000_000_000_000_000u64)),
            "1.5 ETH"
        );
    }

    #[test]
    fn formats_times() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_446_000), "2026-11-23 15:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(3725), "1h 2m");
        assert_eq!(format_duration(86_400), "1d");
    }
}
