//! Human durations as GitLab (ChronicDuration) reads them: `1h 30m`, `3 hours`,
//! `90 minutes`, `3 mins 4 sec`, `1 week`, `2.5h`, a plain number = seconds.

/// Parses a duration to whole seconds; `None` when it is not one.
pub fn parse_seconds(text: &str) -> Option<u64> {
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() || s.len() > 200 {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut total = 0f64;
    let mut seen = false;
    while i < chars.len() {
        while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
            i += 1;
        }
        if i == chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
            i += 1;
        }
        if start == i {
            // Filler words between terms ("1 hour and 5 minutes").
            let w = word(&chars, &mut i);
            if w == "and" {
                continue;
            }
            return None;
        }
        let n: f64 = chars[start..i].iter().collect::<String>().parse().ok()?;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let unit = word(&chars, &mut i);
        total += n * unit_seconds(&unit)?;
        seen = true;
    }
    (seen && total.is_finite() && total < 1e15).then_some(total.round() as u64)
}

fn word(chars: &[char], i: &mut usize) -> String {
    let start = *i;
    while *i < chars.len() && chars[*i].is_ascii_alphabetic() {
        *i += 1;
    }
    chars[start..*i].iter().collect()
}

fn unit_seconds(unit: &str) -> Option<f64> {
    Some(match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        "w" | "wk" | "wks" | "week" | "weeks" => 604_800.0,
        "mo" | "mos" | "month" | "months" => 2_592_000.0,
        "y" | "yr" | "yrs" | "year" | "years" => 31_536_000.0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn forms() {
        assert_eq!(parse_seconds("1h 30m"), Some(5400));
        assert_eq!(parse_seconds("1h30m"), Some(5400));
        assert_eq!(parse_seconds("3 hours"), Some(10_800));
        assert_eq!(parse_seconds("90 minutes"), Some(5400));
        assert_eq!(parse_seconds("3 mins 4 sec"), Some(184));
        assert_eq!(parse_seconds("1 week"), Some(604_800));
        assert_eq!(parse_seconds("2.5h"), Some(9000));
        assert_eq!(parse_seconds("600"), Some(600));
        assert_eq!(parse_seconds("1 hour and 5 minutes"), Some(3900));
        assert_eq!(parse_seconds("30 days"), Some(2_592_000));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("5 parsecs"), None);
        assert_eq!(parse_seconds("never"), None);
    }
}
