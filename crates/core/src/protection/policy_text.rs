//! [`PushPolicy`] as text, for the environment of the pre-receive hook. One record per line, the
//! rule name last so that it is taken whole:
//!
//! ```text
//! autogit-push-policy 1
//! pusher 30 0
//! default main
//! rule 0 40 40 main
//! rule 1 30,40 - release/*
//! tag 40 v*
//! ```
//!
//! `pusher <role number or -> <admin 0|1>`; `rule <force 0|1> <push levels> <merge levels> <name>`
//! for a protected branch, `tag <create levels> <name>` for a protected tag, with levels as comma-separated GitLab numbers, `-` for none. Decoding is strict: the hook
//! refuses the push on anything it does not understand.

use super::{BranchPolicy, BranchRule, PushPolicy, Pusher, RefAccessLevel, TagPolicy, TagRule};
use crate::AccessLevel;

const HEADER: &str = "autogit-push-policy 1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyTextError {
    #[error("push policy: {0}")]
    Malformed(String),
    #[error("push policy: a name contains a line break or NUL")]
    Unencodable,
}

fn malformed(what: impl Into<String>) -> PolicyTextError {
    PolicyTextError::Malformed(what.into())
}

fn levels(list: &[RefAccessLevel]) -> String {
    if list.is_empty() {
        return "-".into();
    }
    list.iter().map(|l| l.value().to_string()).collect::<Vec<_>>().join(",")
}

fn parse_levels(s: &str) -> Result<Vec<RefAccessLevel>, PolicyTextError> {
    if s == "-" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|n| {
            n.parse::<i64>().ok().and_then(RefAccessLevel::from_value).ok_or_else(|| malformed(format!("level {n:?}")))
        })
        .collect()
}

fn flag(s: &str) -> Result<bool, PolicyTextError> {
    match s {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(malformed(format!("flag {s:?}"))),
    }
}

fn encodable(name: &str) -> Result<&str, PolicyTextError> {
    if name.contains(['\n', '\r', '\0']) { Err(PolicyTextError::Unencodable) } else { Ok(name) }
}

impl PushPolicy {
    /// The text form; fails only for names with line breaks (which validation never lets in).
    pub fn encode(&self) -> Result<String, PolicyTextError> {
        let mut out = String::from(HEADER);
        let level = self.pusher.level.map_or("-".to_string(), |l| l.value().to_string());
        out.push_str(&format!("\npusher {level} {}", u8::from(self.pusher.admin)));
        if let Some(d) = &self.branches.default_branch {
            out.push_str(&format!("\ndefault {}", encodable(d)?));
        }
        for r in &self.branches.rules {
            out.push_str(&format!(
                "\nrule {} {} {} {}",
                u8::from(r.allow_force_push),
                levels(&r.push),
                levels(&r.merge),
                encodable(&r.name)?
            ));
        }
        for r in &self.tags.rules {
            out.push_str(&format!("\ntag {} {}", levels(&r.create), encodable(&r.name)?));
        }
        out.push('\n');
        Ok(out)
    }

    pub fn decode(text: &str) -> Result<PushPolicy, PolicyTextError> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(malformed("missing or unknown header"));
        }
        let mut pusher = None;
        let mut branches = BranchPolicy::default();
        let mut tags = TagPolicy::default();
        for line in lines {
            let (kind, rest) = line.split_once(' ').ok_or_else(|| malformed(format!("line {line:?}")))?;
            match kind {
                "pusher" if pusher.is_none() => {
                    let (level, admin) = rest.split_once(' ').ok_or_else(|| malformed("pusher line"))?;
                    let level = match level {
                        "-" => None,
                        n => Some(
                            n.parse::<i64>()
                                .ok()
                                .and_then(AccessLevel::from_value)
                                .ok_or_else(|| malformed(format!("role {n:?}")))?,
                        ),
                    };
                    pusher = Some(Pusher { level, admin: flag(admin)? });
                }
                "default" if branches.default_branch.is_none() && !rest.is_empty() => {
                    branches.default_branch = Some(encodable(rest)?.to_string());
                }
                "rule" => {
                    let mut f = rest.splitn(4, ' ');
                    let (Some(force), Some(push), Some(merge), Some(name)) = (f.next(), f.next(), f.next(), f.next())
                    else {
                        return Err(malformed("rule line"));
                    };
                    if name.is_empty() {
                        return Err(malformed("rule without a name"));
                    }
                    branches.rules.push(BranchRule {
                        name: encodable(name)?.to_string(),
                        push: parse_levels(push)?,
                        merge: parse_levels(merge)?,
                        allow_force_push: flag(force)?,
                    });
                }
                "tag" => {
                    let (create, name) = rest.split_once(' ').ok_or_else(|| malformed("tag line"))?;
                    if name.is_empty() {
                        return Err(malformed("tag rule without a name"));
                    }
                    tags.rules.push(TagRule { name: encodable(name)?.to_string(), create: parse_levels(create)? });
                }
                _ => return Err(malformed(format!("unexpected line {line:?}"))),
            }
        }
        let pusher = pusher.ok_or_else(|| malformed("no pusher"))?;
        tags.default_branch = branches.default_branch.clone();
        Ok(PushPolicy { pusher, branches, tags })
    }
}
