//! `autogit ci lint FILE`: compile a `.gitlab-ci.yml` as a push pipeline would and print the
//! diagnostics (`file:line:col: error: …`) or the resolved plan. Exits non-zero on errors.

use anyhow::{Context, Result, bail};
use autogit_pipeline::{CompileInput, PipelineContext, RefKind, Severity, compile, render_diagnostics, render_plan};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files read from the repository for `include:local` and `exists`, at most.
const MAX_REPO_FILES: usize = 20_000;

#[derive(Subcommand)]
pub enum CiCommand {
    /// Check a CI file and print its diagnostics or its plan.
    Lint {
        /// The CI file; `include:local` paths resolve against `--repo`.
        file: PathBuf,
        /// The repository root (defaults to the current directory).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The ref the pipeline is for.
        #[arg(long = "ref", default_value = "main")]
        ref_name: String,
        /// Treat the ref as a tag.
        #[arg(long)]
        tag: bool,
        #[arg(long, default_value = "main")]
        default_branch: String,
    },
}

pub fn run(command: CiCommand) -> Result<()> {
    let CiCommand::Lint { file, repo, ref_name, tag, default_branch } = command;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut files = BTreeMap::new();
    collect(&repo, &repo, &mut files)?;
    let mut context = PipelineContext::push(&ref_name, &default_branch);
    if tag {
        context.ref_kind = RefKind::Tag;
    }
    context.repo_files = files.keys().cloned().collect();
    let path = file.strip_prefix(&repo).unwrap_or(&file).display().to_string();
    let compiled = compile(&CompileInput { path, text, files, context });
    if !compiled.diagnostics.is_empty() {
        eprint!("{}", render_diagnostics(&compiled.diagnostics));
    }
    match &compiled.plan {
        Some(plan) => println!("{}", render_plan(plan)),
        None if compiled.diagnostics.iter().all(|d| d.severity != Severity::Error) => {
            println!("no pipeline would be created for this ref");
        }
        None => {}
    }
    if compiled.diagnostics.iter().any(|d| d.severity == Severity::Error) {
        bail!("the CI configuration has errors");
    }
    Ok(())
}

/// Reads the repository's YAML files (for `include:local`), relative to `root`.
fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if files.len() >= MAX_REPO_FILES || name == ".git" || name == "target" || name == "node_modules" {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files)?;
        } else if (name.ends_with(".yml") || name.ends_with(".yaml"))
            && let (Ok(rel), Ok(text)) = (path.strip_prefix(root), std::fs::read_to_string(&path))
        {
            files.insert(rel.display().to_string(), text);
        }
    }
    Ok(())
}
