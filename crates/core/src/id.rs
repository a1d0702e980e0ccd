//! Typed ids of the records every layer passes around.
//!
//! The store numbers rows with 64-bit integers; a bare integer says nothing about what it
//! numbers, so a job id handed where a pipeline id belongs compiles and fails at run time (or,
//! worse, finds another record). Each id here is its own type: the store makes them from its
//! rows, HTTP from request paths (serde and `FromStr` read the plain number GitLab's API uses),
//! and everything between passes them on unchanged. `get` gives the number back only where it
//! leaves the program: SQL parameters, JSON, log fields, environment variables.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A text that is not an id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {what} id: {given:?} (a positive whole number is expected)")]
pub struct IdError {
    pub what: &'static str,
    pub given: String,
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $what:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The id numbered `raw` (as the store or a request gave it).
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The number, for where the id leaves the program (SQL, JSON, environment).
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Positive decimal numbers only: no sign, no spaces, no zero (no record has it).
            fn from_str(s: &str) -> Result<Self, IdError> {
                match s.parse::<i64>() {
                    Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
                    _ => Err(IdError { what: $what, given: s.chars().take(40).collect() }),
                }
            }
        }
    )*};
}

ids! {
    /// A user account.
    UserId = "user";
    /// A namespace: a group, or a user's personal namespace.
    NamespaceId = "namespace";
    /// A project (one repository with its CI).
    ProjectId = "project";
    /// A CI pipeline (the instance-wide id, not the per-project `iid`).
    PipelineId = "pipeline";
    /// A CI job (a build).
    JobId = "job";
    /// A registered runner.
    RunnerId = "runner";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_the_plain_number() {
        let id: JobId = serde_json::from_str("42").expect("json number");
        assert_eq!(id, JobId::new(42));
        assert_eq!(serde_json::to_string(&id).expect("json"), "42");
        assert_eq!(id.to_string(), "42");
        assert_eq!(format!("{id:?}"), "JobId(42)");
        assert_eq!("42".parse::<JobId>(), Ok(JobId::new(42)));
    }

    #[test]
    fn refuses_what_is_not_a_positive_number() {
        for bad in ["", "0", "-1", "+1", " 1", "1 ", "1e3", "0x10", "9223372036854775808", "a"] {
            let err = bad.parse::<ProjectId>().expect_err(bad);
            assert_eq!(err.what, "project", "{bad:?}");
            assert!(err.to_string().contains("not a project id"), "{err}");
        }
    }

    #[test]
    fn a_long_bad_input_is_cut_in_the_error() {
        let err = "x".repeat(10_000).parse::<UserId>().expect_err("bad");
        assert_eq!(err.given.len(), 40);
    }
}
