//! Text renderings for `autogit ci lint` and the snapshot tests.

use crate::diagnostic::{Diagnostic, Severity};
use crate::plan::Plan;

/// The plan as pretty JSON (ordered, so stable across runs).
pub fn render_plan(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// One line per diagnostic, like compilers: `file:line:col: error: message`
/// (`file: error: message` for whole-file diagnostics).
pub fn render_diagnostics(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if d.line == 0 {
            out.push_str(&format!("{}: {sev}: {}\n", d.file, d.message));
        } else {
            out.push_str(&format!("{}:{}:{}: {sev}: {}\n", d.file, d.line, d.column, d.message));
        }
    }
    out
}
