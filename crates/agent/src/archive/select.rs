//! Choosing the files of an archive: artifact and cache `paths` (globs), `exclude`, `untracked`.

use super::is_real_dir;
use globset::GlobBuilder;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// What to archive: project-relative, `/`-separated paths (sorted, so parents come first), and
/// the trace lines GitLab's runner prints while choosing them.
#[derive(Debug, Default)]
pub struct Selection {
    pub entries: BTreeSet<String>,
    pub log: Vec<String>,
}

/// Chooses files as GitLab's runner does: each of `paths` is a glob relative to `root` (`*` stays
/// within a directory, `**` crosses them; a path may also be absolute inside `root`), a matched
/// directory brings everything below it, `exclude` globs remove matches (an excluded directory
/// takes its contents with it), and `untracked` adds the files git does not track (ignored
/// ones included, as GitLab documents).
pub fn select(root: &Path, paths: &[String], exclude: &[String], untracked: bool) -> Selection {
    let mut sel = Selection::default();
    let excludes: Vec<_> = exclude.iter().filter_map(|p| Some((p, glob(&relative_pattern(root, p)?)?))).collect();
    let mut excluded = vec![0usize; excludes.len()];
    let mut is_excluded = |rel: &str| {
        // An entry goes if it or one of its parent directories matches.
        let hit = ancestors(rel).find_map(|a| excludes.iter().position(|(_, m)| m.is_match(a)));
        if let Some(i) = hit {
            excluded[i] += 1;
        }
        hit.is_some()
    };
    for pattern in paths {
        let Some(rel) = relative_pattern(root, pattern) else {
            sel.log.push(format!("WARNING: {pattern}: not a subpath of the project directory {}", root.display()));
            continue;
        };
        let mut found = 0;
        let mut add = |rel: &str, sel: &mut Selection| found += add_tree(root, rel, sel, &mut is_excluded);
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let literal = comps.iter().take_while(|c| !c.contains(['*', '?', '[', '{'])).count();
        let base = comps[..literal].join("/");
        let parent = base.rsplit_once('/').map_or("", |(p, _)| p);
        // Nothing below a symlink (or a file) is ever looked at.
        if literal == comps.len() {
            if base.is_empty() {
                children(root, "").iter().for_each(|c| add(c, &mut sel));
            } else if real_dir_chain(root, parent) && fs::symlink_metadata(root.join(&base)).is_ok() {
                add(&base, &mut sel);
            }
        } else if real_dir_chain(root, &base)
            && let Some(m) = glob(&rel)
        {
            let mut todo = children(root, &base);
            while let Some(c) = todo.pop() {
                if m.is_match(&c) {
                    add(&c, &mut sel);
                } else if is_real_dir(&root.join(&c)) {
                    todo.extend(children(root, &c));
                }
            }
        }
        sel.log.push(match found {
            0 => format!(
                "WARNING: {pattern}: no matching files. Ensure that the artifact path is relative to the working directory ({})",
                root.display()
            ),
            n => format!("{pattern}: found {n} matching artifact files and directories"),
        });
    }
    if untracked {
        match untracked_files(root) {
            Ok(files) => {
                let found: usize = files.iter().map(|f| add_tree(root, f, &mut sel, &mut is_excluded)).sum();
                sel.log.push(format!("untracked: found {found} files"));
            }
            Err(e) => sel.log.push(format!("WARNING: untracked: listing untracked files failed: {e}")),
        }
    }
    for ((pattern, _), n) in excludes.iter().zip(excluded) {
        if n > 0 {
            sel.log.push(format!("{pattern}: excluded {n} files"));
        }
    }
    sel
}

/// `pattern` relative to `root`, `/`-separated, without `./`, or `None` when it leaves `root`.
fn relative_pattern(root: &Path, pattern: &str) -> Option<String> {
    let p = pattern.trim();
    let p = if p.starts_with('/') { Path::new(p).strip_prefix(root).ok()?.to_str()? } else { p };
    let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    (!comps.contains(&"..")).then(|| comps.join("/"))
}

fn glob(pattern: &str) -> Option<globset::GlobMatcher> {
    let g = GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build().ok()?;
    Some(g.compile_matcher())
}

/// `a/b/c`, `a/b`, `a`.
fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(rel), |r| r.rsplit_once('/').map(|(p, _)| p))
}

/// Whether every component of `rel` is a directory and none is a symlink.
fn real_dir_chain(root: &Path, rel: &str) -> bool {
    ancestors(rel).filter(|a| !a.is_empty()).all(|a| is_real_dir(&root.join(a)))
}

/// The entries of directory `rel`, project-relative; names that are not UTF-8 are left out.
fn children(root: &Path, rel: &str) -> Vec<String> {
    let Ok(rd) = fs::read_dir(root.join(rel)) else { return Vec::new() };
    let names = rd.filter_map(|e| e.ok()?.file_name().into_string().ok());
    names.map(|n| if rel.is_empty() { n } else { format!("{rel}/{n}") }).collect()
}

/// Adds `rel` and, for a directory (not a symlink to one), everything below it; returns how
/// many entries were added.
fn add_tree(root: &Path, rel: &str, sel: &mut Selection, excluded: &mut impl FnMut(&str) -> bool) -> usize {
    if excluded(rel) {
        return 0;
    }
    sel.entries.insert(rel.to_string());
    let below: usize = if is_real_dir(&root.join(rel)) {
        children(root, rel).iter().map(|c| add_tree(root, c, sel, excluded)).sum()
    } else {
        0
    };
    1 + below
}

/// `git ls-files -o`: untracked files, ignored ones included (no `--exclude-standard`). The
/// runner runs it in a directory the job wrote: the repository and work tree are named
/// explicitly (a planted `core.worktree` or a `.git` file pointing elsewhere is not followed) and
/// git runs with [`crate::sources::SAFE_CONFIG`].
fn untracked_files(root: &Path) -> Result<Vec<String>, String> {
    let git_dir = root.join(".git");
    if !fs::symlink_metadata(&git_dir).is_ok_and(|m| m.is_dir()) {
        return Err("the working copy has no .git directory".into());
    }
    let out = std::process::Command::new("git")
        .args(crate::sources::SAFE_CONFIG)
        .args(["ls-files", "-o", "-z"])
        .current_dir(root)
        .env_clear()
        .envs(crate::sources::safe_env())
        .env("GIT_DIR", &git_dir)
        .env("GIT_WORK_TREE", root)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let names = out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty());
    Ok(names.filter_map(|n| String::from_utf8(n.to_vec()).ok()).collect())
}
