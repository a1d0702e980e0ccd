//! Annotated tag objects.

use super::{MAX_MESSAGE, Signature, is_object_id, run_with_input};
use crate::cmd::git_in;
use crate::pktline::validate_ref_name;
use crate::read::validate_rev;
use crate::{Error, Result};
use std::path::Path;

/// Writes an annotated tag object named `name` pointing at the commit `target` (a full id) and
/// returns its id; the ref is not touched. git's `mktag` checks the object before storing it.
pub async fn write_tag(repo: &Path, name: &str, target: &str, tagger: &Signature, message: &str) -> Result<String> {
    validate_ref_name(&format!("refs/tags/{name}")).map_err(|_| Error::InvalidRef(name.into()))?;
    validate_rev(target)?;
    if message.len() > MAX_MESSAGE || message.contains('\0') {
        return Err(Error::InvalidRef("tag message".into()));
    }
    let mut body = format!("object {target}\ntype commit\ntag {name}\ntagger {}\n\n{message}", tagger.header());
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let mut cmd = git_in(repo);
    cmd.arg("mktag");
    let id = run_with_input(cmd, "git mktag", body.as_bytes()).await?;
    if !is_object_id(&id) {
        return Err(Error::Parse(format!("git mktag printed {id:?}")));
    }
    Ok(id)
}
