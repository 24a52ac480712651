//! Bar times: one time value (ISO-8601 in its common forms, or unix time in any unit) to unix
//! milliseconds UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parses one time value as the loader does, to unix milliseconds UTC.
///
/// ISO-8601 with `T` or a space, optional fractional seconds, optional offset (`Z`, `+02:00`,
/// `+0200`, `+02`; none means UTC), or a date alone (midnight UTC). Plain numbers are unix time
/// in seconds (below 1e11), milliseconds (below 1e14), microseconds (below 1e17) or
/// nanoseconds, decided per value. `None` when the text is none of these or out of range.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let first = text.chars().next()?;
    if !(first.is_ascii_digit() || first == '-' || first == '+' || first == '.') {
        return None;
    }
    let ms = parse_unix(text).or_else(|| parse_iso(text))?;
    DateTime::from_timestamp_millis(ms).map(|_| ms)
}

/// A plain number as unix time, its unit decided by magnitude, in ms; `None` when it is not one.
fn parse_unix(text: &str) -> Option<i64> {
    if let Ok(v) = text.parse::<i64>() {
        let magnitude = v.unsigned_abs();
        return if magnitude >= 100_000_000_000_000_000 {
            Some(v.div_euclid(1_000_000))
        } else if magnitude >= 100_000_000_000_000 {
            Some(v.div_euclid(1000))
        } else if magnitude >= 100_000_000_000 {
            Some(v)
        } else {
            v.checked_mul(1000)
        };
    }
    let v = text.parse::<f64>().ok().filter(|v| v.is_finite())?;
    let magnitude = v.abs();
    let ms = if magnitude >= 1e17 {
        v / 1e6
    } else if magnitude >= 1e14 {
        v / 1e3
    } else if magnitude >= 1e11 {
        v
    } else {
        v * 1e3
    };
    // Beyond ±1e16 ms (year 318,857) nothing is a real bar time; the bound keeps `as` exact.
    (ms.abs() < 1e16).then(|| ms.round() as i64)
}

/// ISO-8601 (and the near forms the module docs list) in ms; `None` when it is not one.
fn parse_iso(text: &str) -> Option<i64> {
    const NAIVE: [&str; 8] = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%Y.%m.%d %H:%M:%S%.f",
        "%Y.%m.%d %H:%M",
    ];
    const OFFSET: [&str; 4] =
        ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z"];
    const DATE: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"];

    // A trailing ` UTC` means what no offset means.
    let text = text.strip_suffix(" UTC").or_else(|| text.strip_suffix("UTC")).unwrap_or(text).trim_end();
    for format in NAIVE {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in OFFSET {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    // An offset of hours alone (`+02`), as databases write it.
    if let Some(sign_at) = text.len().checked_sub(3)
        && sign_at > 10
        && let Some(tail) = text.get(sign_at..)
        && (tail.starts_with('+') || tail.starts_with('-'))
        && tail.get(1..).is_some_and(|h| h.bytes().all(|b| b.is_ascii_digit()))
        && let Some(ms) = parse_iso(&format!("{text}:00"))
    {
        return Some(ms);
    }
    for format in DATE {
        if let Ok(d) = NaiveDate::parse_from_str(text, format) {
            return Some(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_accepted_form() {
        let midnight = 1_506_816_000_000; // 2017-10-01T00:00:00Z
        for text in [
            "2017-10-01 00:00:00",
            "2017-10-01T00:00:00",
            "2017-10-01T00:00:00Z",
            "2017-10-01 00:00:00Z",
            "2017-10-01T02:00:00+02:00",
            "2017-10-01T02:00:00+0200",
            "2017-10-01 02:00:00+02",
            "2017-09-30T22:00:00-02:00",
            "2017-10-01 00:00",
            "2017-10-01",
            "2017/10/01 00:00:00",
            "2017-10-01 00:00:00 UTC",
            "1506816000",
            "1506816000000",
            "1506816000000000",
            "1506816000000000000",
            "1506816000.0",
        ] {
            assert_eq!(parse_timestamp_ms(text), Some(midnight), "{text}");
        }
        assert_eq!(parse_timestamp_ms("2017-10-01T00:00:00.250Z"), Some(midnight + 250));
        assert_eq!(parse_timestamp_ms("2017-10-01 00:00:00.5"), Some(midnight + 500));
        assert_eq!(parse_timestamp_ms("1506816000.5"), Some(midnight + 500));
        for bad in ["", "abc", "2017-13-01", "nan", "inf", "1e300", "2017-10-01T25:00", "-", "+"] {
            assert_eq!(parse_timestamp_ms(bad), None, "{bad}");
        }
    }
}
