//! Times as users read them: `2026-11-23 15:00:00 UTC`, `3h 20m`.
//! (Interim: replaced by the chrono-based module of the pipeline branch.)

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
