//! Times as genim writes them: `2026-11-23 15:00:00 UTC` for people, ISO-8601 UTC
//! (`2026-11-05T12:00:00Z`) in token metadata, `3h 20m` for durations. The calendar is
//! chrono's; all times are UTC (no local time zone is ever read).

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};

/// The ISO-8601 form used in metadata: seconds, `Z`, nothing else.
const ISO8601_UTC: &str = "%Y-%m-%dT%H:%M:%SZ";

fn datetime(unix: u64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(i64::try_from(unix).ok()?, 0)
}

/// Unix seconds as `2026-11-23 15:00:00 UTC` (a block timestamp, a refund deadline).
pub fn format_utc(unix: u64) -> String {
    match datetime(unix) {
        Some(at) => at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        // Beyond chrono's range (year 262143): no real timestamp gets here.
        None => format!("{unix} (unix time)"),
    }
}

/// Unix seconds as ISO-8601 UTC (`1970-01-01T00:00:00Z`).
pub fn format_iso8601(unix: u64) -> String {
    match datetime(unix) {
        Some(at) => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => format!("{unix} (unix time)"),
    }
}

/// The current time in unix seconds (the wall clock; chain time is the caller's to compare).
pub fn unix_now() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

/// The current time as ISO-8601 UTC with seconds (`2026-11-05T12:00:00Z`).
pub fn now_iso8601() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` (a real calendar date, UTC) into unix seconds;
/// `None` for anything else (other offsets, fractions, missing `Z`).
pub fn parse_iso8601(text: &str) -> Option<i64> {
    // chrono's `%Y` and `%S` are lenient (a sign, one-digit fields): check the shape first.
    let shape = text.len() == 20
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(text, ISO8601_UTC).ok()?;
    Some(at.and_utc().timestamp())
}

/// Whether `text` is ISO-8601 UTC as [`format_iso8601`] writes it.
pub fn is_iso8601_utc(text: &str) -> bool {
    parse_iso8601(text).is_some()
}

/// Seconds as a short duration: `45s`, `12m 5s`, `3h 20m`, `1d`, `2d 4h`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_before() {
        // The outputs of the hand-written calendar this replaces, byte for byte.
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_446_000), "2026-11-23 15:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_iso8601(1_793_880_000), "2026-11-05T12:00:00Z");
        assert_eq!(format_iso8601(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(format_utc(u64::MAX), format!("{} (unix time)", u64::MAX));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(725), "12m 5s");
        assert_eq!(format_duration(3725), "1h 2m");
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(187_200), "2d 4h");
    }

    #[test]
    fn parses_only_the_metadata_form() {
        assert_eq!(parse_iso8601("2026-11-05T12:00:00Z"), Some(1_793_880_000));
        assert!(is_iso8601_utc(&now_iso8601()));
        let now = parse_iso8601(&now_iso8601()).unwrap();
        assert!((now - Utc::now().timestamp()).abs() < 5);
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-05T24:00:00Z",
            "2026-11-05T12:00:00",
            "2026-11-05T12:00:00+00:00",
            "2026-11-05T12:00:00.5Z",
            "2026-11-05 12:00:00Z",
            "+2026-11-05T12:00:0Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
