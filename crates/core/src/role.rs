//! Membership roles, with GitLab's numeric access levels so API clients see the numbers they expect.

use std::fmt;

/// A role held on a group or project. The discriminants are GitLab's `access_level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    Guest = 10,
    Reporter = 20,
    Developer = 30,
    Maintainer = 40,
    Owner = 50,
}

impl AccessLevel {
    pub const ALL: [AccessLevel; 5] = [
        AccessLevel::Guest,
        AccessLevel::Reporter,
        AccessLevel::Developer,
        AccessLevel::Maintainer,
        AccessLevel::Owner,
    ];

    /// The GitLab `access_level` number.
    pub fn value(self) -> i64 {
        self as i64
    }

    /// Parses a GitLab `access_level` number; anything but the five defined levels is rejected.
    pub fn from_value(v: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.value() == v)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AccessLevel::Guest => "guest",
            AccessLevel::Reporter => "reporter",
            AccessLevel::Developer => "developer",
            AccessLevel::Maintainer => "maintainer",
            AccessLevel::Owner => "owner",
        }
    }

    /// Accepts a role name (`developer`) or its number (`30`).
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_value(n);
        }
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for l in AccessLevel::ALL {
            assert_eq!(AccessLevel::from_value(l.value()), Some(l));
            assert_eq!(AccessLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(AccessLevel::from_value(0), None);
        assert_eq!(AccessLevel::from_value(35), None);
        assert_eq!(AccessLevel::parse("30"), Some(AccessLevel::Developer));
    }
}
