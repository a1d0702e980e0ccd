//! Text encodings of the CI tables: tag lists, status sets bound as one parameter, and pipeline
//! variables as JSON.
//!
//! - Tags are one comma-joined, sorted, deduplicated string (`""` for none), so a runner or job
//!   reads back in one row. "Has tag `t`" is `tag_match!`: a `replace` of `,t,` inside `,tags,`,
//!   which is exact and case-sensitive on both backends (unlike `LIKE` on SQLite).
//! - A set of statuses is bound as `,a,b,` and tested with `status_in!`, the same trick, so a
//!   variable-length `IN` list stays one static SQL text.
//! - Pipeline variables are a JSON array of `[key, value]` string pairs: readable with any JSON
//!   tool and by both backends' JSON functions.

use autogit_store::{Result, StoreError};

use crate::error::corrupt;

/// True when the comma-joined list column `$col` contains the tag bound at `$param`.
macro_rules! tag_match {
    ($col:literal, $param:literal) => {
        concat!("replace(',' || ", $col, " || ',', ',' || ", $param, " || ',', '') <> ',' || ", $col, " || ','")
    };
}
pub(crate) use tag_match;

/// True when `status` is in the set bound at `$param` (see [`status_set`]).
macro_rules! status_in {
    ($param:literal) => {
        concat!("replace(", $param, ", ',' || status || ',', '') <> ", $param)
    };
}
pub(crate) use status_in;

/// Tags as stored: sorted, deduplicated, comma-joined. Invalid for an empty tag or one with a comma.
pub(crate) fn encode_tags(tags: &[String]) -> Result<String> {
    if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.contains(',')) {
        return Err(StoreError::Invalid(format!("tag '{bad}' must be non-empty and hold no comma")));
    }
    let mut sorted: Vec<&str> = tags.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    Ok(sorted.join(","))
}

pub(crate) fn decode_tags(stored: &str) -> Vec<String> {
    stored.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect()
}

/// `,a,b,` for [`status_in!`]. Invalid for a status not in `known`.
pub(crate) fn status_set(statuses: &[&str], known: &[&str]) -> Result<String> {
    let mut out = String::from(",");
    for s in statuses {
        check_status(s, known)?;
        out.push_str(s);
        out.push(',');
    }
    Ok(out)
}

pub(crate) fn check_status(status: &str, known: &[&str]) -> Result<()> {
    if known.contains(&status) { Ok(()) } else { Err(StoreError::Invalid(format!("unknown status '{status}'"))) }
}

/// `[["key","value"],…]`.
pub(crate) fn encode_variables(vars: &[(String, String)]) -> String {
    serde_json::to_string(vars).unwrap_or_else(|_| "[]".to_string())
}

/// Reads what [`encode_variables`] writes.
pub(crate) fn decode_variables(stored: &str) -> Result<Vec<(String, String)>> {
    serde_json::from_str(stored).map_err(|_| corrupt("pipeline variables", stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_round_trip() {
        let vars = vec![
            ("A".to_string(), "plain".to_string()),
            ("Q".to_string(), "say \"hi\"\\ \n\t\r\u{1} ünï 🦀".to_string()),
            (String::new(), String::new()),
        ];
        assert_eq!(decode_variables(&encode_variables(&vars)).expect("valid"), vars);
        assert_eq!(decode_variables("[]").expect("valid"), vec![]);
        let spaced = r#" [ [ "K" , "\u00e9\ud83e\udd80\/" ] ] "#;
        assert_eq!(decode_variables(spaced).expect("valid"), vec![("K".to_string(), "é🦀/".to_string())]);
        for bad in ["", "[", "[[\"a\"]]", "[[\"a\",\"b\"]", "[[\"a\",\"b\"]]x", "[[1,\"b\"]]"] {
            assert!(decode_variables(bad).is_err(), "{bad:?} must not parse");
        }
    }

    #[test]
    fn tags_are_sorted_unique_and_checked() {
        let tags = ["b", "a", "b"].map(String::from);
        assert_eq!(encode_tags(&tags).expect("valid"), "a,b");
        assert_eq!(decode_tags("a,b"), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(decode_tags(""), Vec::<String>::new());
        assert!(encode_tags(&["a,b".to_string()]).is_err());
        assert!(encode_tags(&[String::new()]).is_err());
    }

    #[test]
    fn status_sets() {
        assert_eq!(status_set(&["pending", "running"], &["pending", "running"]).expect("known"), ",pending,running,");
        assert!(status_set(&["bogus"], &["pending"]).is_err());
        assert_eq!(status_in!("$2"), "replace($2, ',' || status || ',', '') <> $2");
    }
}
