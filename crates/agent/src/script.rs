//! Turns a job's variables and steps into what the shell executor runs. Pure: no I/O.
//!
//! Each step is one bash script: `set -eo pipefail`, then every command echoed as `$ command`
//! (green, as GitLab's runner prints it) before it runs, so that the first failing command fails
//! the step. Variables are passed in the environment, never interpolated into the script text.

use autogit_protocol::JobVariable;
use autogit_protocol::shell::quote;
use std::collections::BTreeMap;
use std::path::Path;

/// The environment of a job, and the files that file-type variables need.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct JobEnv {
    pub vars: Vec<(String, String)>,
    /// (path, contents) to write before the job runs.
    pub files: Vec<(String, String)>,
}

/// Resolves the job's variables as GitLab's runner does: later definitions override earlier
/// ones; `$VAR`/`${VAR}` references in non-raw values expand to variables defined before them;
/// file variables are written under `file_dir` and the variable holds the path.
pub fn job_env(variables: &[JobVariable], file_dir: &Path) -> JobEnv {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut files = Vec::new();
    for v in variables {
        let value = if v.raw { v.value.clone() } else { expand(&v.value, &values) };
        let value = if v.file {
            let path = file_dir.join(&v.key).display().to_string();
            files.push((path.clone(), value));
            path
        } else {
            value
        };
        if !values.contains_key(&v.key) {
            order.push(v.key.clone());
        }
        values.insert(v.key.clone(), value);
    }
    let vars = order.into_iter().filter_map(|k| values.remove(&k).map(|v| (k, v))).collect();
    JobEnv { vars, files }
}

/// `$VAR`, `${VAR}` and `$$` (a literal `$`), as the runner expands them; unknown variables
/// expand to nothing.
pub fn expand(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &value[i + 1..];
        if rest.starts_with('$') {
            out.push('$');
            chars.next();
        } else if let Some(inner) = rest.strip_prefix('{').and_then(|r| r.split_once('}')).map(|(n, _)| n) {
            out.push_str(vars.get(inner).map(String::as_str).unwrap_or(""));
            for _ in 0..inner.len() + 2 {
                chars.next();
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                out.push('$');
            } else {
                out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
                for _ in 0..name.len() {
                    chars.next();
                }
            }
        }
    }
    out
}

/// The bash script of one step.
pub fn step_script(commands: &[String]) -> String {
    let mut s = String::from("set -eo pipefail\n");
    for cmd in commands {
        s.push_str(&format!("printf '\\033[32;1m$ %s\\033[0;m\\n' {}\n", quote(cmd)));
        s.push_str(cmd);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(k: &str, v: &str) -> JobVariable {
        JobVariable::public(k, v)
    }

    #[test]
    fn expansion_follows_definition_order() {
        let vars = [
            var("A", "one"),
            var("B", "$A-${A}-$$A-$MISSING-$"),
            JobVariable { raw: true, ..var("C", "$A") },
            var("A", "two"),
        ];
        let env = job_env(&vars, Path::new("/tmp/x"));
        assert_eq!(
            env.vars,
            [("A".into(), "two".into()), ("B".into(), "one-one-$A--$".into()), ("C".into(), "$A".into())]
        );
    }

    #[test]
    fn file_variables_become_paths() {
        let vars = [JobVariable { file: true, ..var("KUBECONFIG", "apiVersion: v1") }];
        let env = job_env(&vars, Path::new("/tmp/job-1"));
        assert_eq!(env.vars, [("KUBECONFIG".into(), "/tmp/job-1/KUBECONFIG".into())]);
        assert_eq!(env.files, [("/tmp/job-1/KUBECONFIG".into(), "apiVersion: v1".into())]);
    }

    #[test]
    fn scripts_echo_and_quote() {
        let s = step_script(&["echo 'hi'".into(), "make test".into()]);
        assert!(s.starts_with("set -eo pipefail\n"));
        assert!(s.contains("printf '\\033[32;1m$ %s\\033[0;m\\n' 'echo '\\''hi'\\'''\necho 'hi'\n"), "{s}");
    }
}
