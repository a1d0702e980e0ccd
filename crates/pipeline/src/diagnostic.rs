//! Diagnostics: what the compiler says about a CI file, with the file, line and column.
//!
//! The compiler never fails: every problem becomes a [`Diagnostic`]. Errors block the plan,
//! warnings do not. Positions inside the compiler are [`Pos`] (a file index into the file
//! table of one compilation), turned into paths only when a diagnostic is emitted.

use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The pipeline cannot be created.
    Error,
    /// Worth telling, but the plan stands (deprecated forms, ignored keywords, filtered pipeline).
    Warning,
}

/// One message about the CI configuration. `line` and `column` are 1-based; `0` means the
/// message is about the whole file (for example "file too large").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// A position in one of the files of a compilation: `file` indexes the session's file table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    /// A position that stands for the whole file.
    pub fn file_start(file: u32) -> Self {
        Pos { file, line: 0, col: 0 }
    }
}

/// Collects diagnostics during one compilation and knows the file names.
#[derive(Debug, Default)]
pub struct Diags {
    pub files: Vec<String>,
    pub list: Vec<Diagnostic>,
}

impl Diags {
    /// Registers a file name and returns its index for [`Pos::file`].
    pub fn add_file(&mut self, path: &str) -> u32 {
        if let Some(i) = self.files.iter().position(|f| f == path) {
            return i as u32;
        }
        self.files.push(path.to_string());
        (self.files.len() - 1) as u32
    }

    fn push(&mut self, severity: Severity, pos: Pos, mut message: String) {
        // A hostile file must not turn the diagnostics list into the memory problem.
        const MAX: usize = 500;
        if self.list.len() > MAX {
            return;
        }
        if self.list.len() == MAX {
            message = "too many diagnostics; the rest are omitted".to_string();
        }
        let file = self.files.get(pos.file as usize).cloned().unwrap_or_default();
        self.list.push(Diagnostic { severity, message, file, line: pos.line, column: pos.col });
    }

    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(Severity::Error, pos, message.into());
    }

    pub fn warning(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(Severity::Warning, pos, message.into());
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }
}
