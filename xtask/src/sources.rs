//! Reading a crate's Rust sources for the source checks.

use std::path::Path;

/// Runs `check(file name, text)` on every `.rs` file under `dir` and gathers what it reports,
/// with a line for each directory or file that could not be read; sorted, so that failures
/// read the same on every run.
pub fn check_rust_files(dir: &Path, check: impl Fn(&str, &str) -> Vec<String>) -> Vec<String> {
    let mut errors = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: cannot list: {e}", d.display()));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                match std::fs::read_to_string(&path) {
                    Ok(text) => errors.extend(check(&path.display().to_string(), &text)),
                    Err(e) => errors.push(format!("{}: cannot read: {e}", path.display())),
                }
            }
        }
    }
    errors.sort();
    errors
}
