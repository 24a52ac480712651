//! Durations as people type them on a command line: `30s`, `10m`, `1h30m`, `2.5h`, `1d`. One
//! reading for the CLI's job budget (`skippy-train ppo --duration`) and the trainer's lifetime
//! limits (`skippy-trainer --exit-when-idle`, `--max-runtime`).

/// The seconds in `text`: numbers, each with a unit (`s`, `m`, `h`, `d`, or a word for one:
/// `sec`, `min`, `hours`, …), summed (`1h30m`, `1h 30m 15s`), fractions allowed (`2.5h`); case
/// and spaces do not matter. `None` when it is not of that form (a bare number has no unit), or
/// the total is not a positive, finite number of seconds.
pub fn parse_seconds(text: &str) -> Option<f64> {
    let text = text.trim().to_ascii_lowercase();
    let mut total = 0.0;
    let mut rest = text.as_str();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    (total.is_finite() && total > 0.0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_forms_people_type() {
        assert_eq!(parse_seconds("30s"), Some(30.0));
        assert_eq!(parse_seconds("10m"), Some(600.0));
        assert_eq!(parse_seconds("90m"), Some(5_400.0));
        assert_eq!(parse_seconds("1h30m"), Some(5_400.0));
        assert_eq!(parse_seconds(" 1h 30m 15s "), Some(5_415.0));
        assert_eq!(parse_seconds("2.5h"), Some(9_000.0));
        assert_eq!(parse_seconds("10 Hours"), Some(36_000.0));
        assert_eq!(parse_seconds("1d"), Some(86_400.0));
        assert_eq!(parse_seconds("0.5s"), Some(0.5));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", " ", "10", "h", "10x", "-1h", "1e400", "ten hours", "0m", "0s 0m", "1h-5m", "1..5h", "5s!"] {
            assert_eq!(parse_seconds(bad), None, "{bad:?} should be refused");
        }
    }
}
