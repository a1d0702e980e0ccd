//! Personal access token scopes and what each one permits.

use std::fmt;

/// A token scope, named as GitLab names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Full read/write API access, and git read/write.
    Api,
    /// Read-only API access.
    ReadApi,
    /// git clone/fetch.
    ReadRepository,
    /// git push (and clone/fetch).
    WriteRepository,
}

/// What a request is trying to do, at the granularity scopes care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeUse {
    ApiRead,
    ApiWrite,
    GitRead,
    GitWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Api, Scope::ReadApi, Scope::ReadRepository, Scope::WriteRepository];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Api => "api",
            Scope::ReadApi => "read_api",
            Scope::ReadRepository => "read_repository",
            Scope::WriteRepository => "write_repository",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sc| sc.as_str() == s)
    }

    /// Whether this one scope grants `usage`.
    pub fn grants(self, usage: ScopeUse) -> bool {
        matches!(
            (self, usage),
            (Scope::Api, _)
                | (Scope::ReadApi, ScopeUse::ApiRead)
                | (Scope::ReadRepository, ScopeUse::GitRead)
                | (Scope::WriteRepository, ScopeUse::GitRead | ScopeUse::GitWrite)
        )
    }
}

/// Whether any scope in `scopes` grants `usage`.
pub fn allows(scopes: &[Scope], usage: ScopeUse) -> bool {
    scopes.iter().any(|s| s.grants(usage))
}

/// Parses a list of scope names; the first unknown one is returned as the error.
pub fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for n in names {
        let s = Scope::parse(n.trim()).ok_or_else(|| n.to_string())?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort();
    Ok(out)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_table() {
        use ScopeUse::*;
        assert!(allows(&[Scope::Api], GitWrite));
        assert!(allows(&[Scope::ReadApi], ApiRead));
        assert!(!allows(&[Scope::ReadApi], ApiWrite));
        assert!(!allows(&[Scope::ReadApi], GitRead));
        assert!(allows(&[Scope::ReadRepository], GitRead));
        assert!(!allows(&[Scope::ReadRepository], GitWrite));
        assert!(allows(&[Scope::WriteRepository], GitRead));
        assert!(!allows(&[Scope::WriteRepository], ApiRead));
        assert!(!allows(&[], ApiRead));
    }

    #[test]
    fn parse_list_rejects_unknown() {
        assert_eq!(parse_list(["api", "read_api", "api"]), Ok(vec![Scope::Api, Scope::ReadApi]));
        assert_eq!(parse_list(["sudo"]), Err("sudo".to_string()));
    }
}
