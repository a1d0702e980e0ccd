//! Project and group visibility levels.

use std::fmt;

/// Who may see a project or group without being a member.
/// Ordered from most to least restrictive, so `a <= b` means "a is at most as visible as b".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Visibility {
    /// Members only.
    Private,
    /// Any signed-in user.
    Internal,
    /// Everyone, including anonymous clients.
    Public,
}

impl Visibility {
    pub const ALL: [Visibility; 3] = [Visibility::Private, Visibility::Internal, Visibility::Public];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    /// Parses the GitLab names, and GitLab's legacy numeric `visibility_level` (0, 10, 20).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "private" | "0" => Some(Visibility::Private),
            "internal" | "10" => Some(Visibility::Internal),
            "public" | "20" => Some(Visibility::Public),
            _ => None,
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
