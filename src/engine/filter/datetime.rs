//! Datetime parsing with the formats Qdrant accepts in payloads and in
//! `range` filters. Instants are compared as microseconds since the Unix
//! epoch (UTC), which is also the key of the datetime payload index.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Parse a datetime the way Qdrant does:
/// - RFC 3339 (`2023-02-08T10:49:00Z`, `2023-02-08T10:49:00.123+01:00`);
/// - a `T` or a space between date and time, with a zone offset written
///   `+01:00`, `+0100` or `+01`;
/// - the same without any zone, read as UTC, with or without seconds;
/// - a date alone (`2023-02-08`), read as midnight UTC.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 10 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%d %H:%M%#z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    // `%#z` does not take a trailing `Z`: RFC 3339 covers `T...Z`; accept
    // the space-separated form too.
    if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        if let Some(naive) = parse_naive(rest) {
            return Some(naive.and_utc());
        }
    }
    parse_naive(s).map(|naive| naive.and_utc())
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Microseconds since the Unix epoch of a datetime string, if it is one.
pub fn parse_micros(s: &str) -> Option<i64> {
    parse_datetime(s).map(|dt| dt.timestamp_micros())
}

/// RFC 3339 text of an instant (UTC, `Z` suffix), as used when echoing a
/// datetime range back.
pub fn format_datetime(dt: &DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(s: &str) -> i64 {
        parse_micros(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn accepts_qdrant_formats() {
        let base = micros("2023-02-08T10:49:00Z");
        assert_eq!(micros("2023-02-08T10:49:00+00:00"), base);
        assert_eq!(micros("2023-02-08T11:49:00+01:00"), base);
        assert_eq!(micros("2023-02-08T11:49:00+0100"), base);
        assert_eq!(micros("2023-02-08T05:49:00-05:00"), base);
        assert_eq!(micros("2023-02-08T10:49:00"), base);
        assert_eq!(micros("2023-02-08 10:49:00"), base);
        assert_eq!(micros("2023-02-08 10:49:00Z"), base);
        assert_eq!(micros("2023-02-08 11:49:00+01:00"), base);
        assert_eq!(micros("2023-02-08T10:49"), base);
        assert_eq!(micros("2023-02-08T10:49:00.000"), base);
        assert_eq!(micros("2023-02-08T10:49:00.5Z"), base + 500_000);
        assert_eq!(micros("2023-02-08"), micros("2023-02-08T00:00:00Z"));
    }

    #[test]
    fn rejects_non_datetimes() {
        for s in [
            "",
            "hello",
            "2023",
            "2023-02",
            "10:49:00",
            "2023-13-01",
            "1675853340",
        ] {
            assert!(parse_micros(s).is_none(), "{s}");
        }
    }

    #[test]
    fn formats_round_trip() {
        let dt = parse_datetime("2023-02-08T11:49:00.25+01:00").unwrap();
        let text = format_datetime(&dt);
        assert_eq!(text, "2023-02-08T10:49:00.250Z");
        assert_eq!(parse_datetime(&text), Some(dt));
    }
}
