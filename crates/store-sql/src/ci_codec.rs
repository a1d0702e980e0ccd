//! Text encodings of the CI tables: tag lists, status sets bound as one parameter, pipeline
//! variables as JSON, and the CI words (statuses, `when`, failure reasons) as GitLab spells them.
//!
//! - Tags are one comma-joined, sorted, deduplicated string (`""` for none), so a runner or job
//!   reads back in one row. "Has tag `t`" is `tag_match!`: a `replace` of `,t,` inside `,tags,`,
//!   which is exact and case-sensitive on both backends (unlike `LIKE` on SQLite).
//! - A set of statuses is bound as `,a,b,` and tested with `status_in!`, the same trick, so a
//!   variable-length `IN` list stays one static SQL text.
//! - Pipeline variables are a JSON array of `[key, value]` string pairs: readable with any JSON
//!   tool and by both backends' JSON functions.
//! - A CI word is written with `as_str()` and read with its parser: a stored spelling that does
//!   not parse is a corrupt row (naming the column and the value), never a default.

use std::str::FromStr;

use autogit_core::ci::{JobStatus, ParseError};
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

/// `,a,b,` for [`status_in!`].
pub(crate) fn status_set(statuses: &[JobStatus]) -> String {
    let mut out = String::from(",");
    for s in statuses {
        out.push_str(s.as_str());
        out.push(',');
    }
    out
}

/// Reads a CI word from column `column` (`table.column`, for the message).
pub(crate) fn decode_word<T: FromStr<Err = ParseError>>(column: &str, stored: &str) -> Result<T> {
    stored.parse().map_err(|e| StoreError::Unavailable(format!("corrupt row: {column}: {e}")))
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
        assert_eq!(status_set(&[JobStatus::Pending, JobStatus::Running]), ",pending,running,");
        assert_eq!(status_set(&[]), ",");
        assert_eq!(status_in!("$2"), "replace($2, ',' || status || ',', '') <> $2");
    }

    #[test]
    fn an_unknown_word_is_a_corrupt_row_naming_column_and_value() {
        assert_eq!(decode_word::<JobStatus>("jobs.status", "manual").expect("known"), JobStatus::Manual);
        let err = decode_word::<JobStatus>("jobs.status", "canceling").expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("jobs.status") && text.contains("'canceling'") && text.contains("created"), "{text}");
    }
}
