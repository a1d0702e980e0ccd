//! No numeric casts of ids in the server's layers, read from their sources with `syn`.
//!
//! Ids are typed (`autogit_core::id`): a `ProjectId` cannot be handed where a `JobId` belongs.
//! An `as` cast on something named like an id (`id`, `x.id`, `job_id`, `runner`…) is how the
//! bare-number ids crept between layers before; this check keeps them out. Ids leave the program
//! through `get()`, which says so.

use std::path::Path;
use syn::visit::Visit;

/// The crates whose sources must not cast ids (relative to the workspace root).
pub const CHECKED: &[&str] = &[
    "crates/app/src",
    "crates/http/src",
    "crates/store/src",
    "crates/store-sql/src",
    "crates/scheduler/src",
    "crates/fleet/src",
    "bins/autogit/src",
];

/// Names that hold an id by this codebase's conventions.
fn names_an_id(name: &str) -> bool {
    name == "id" || name.ends_with("_id") || matches!(name, "job" | "runner" | "pipeline" | "project")
}

/// Every `.rs` file under `dir`; each violation as `file: fn name: text`.
pub fn check_dir(dir: &Path) -> Vec<String> {
    crate::sources::check_rust_files(dir, check_source)
}

/// The violations in one file's text.
pub fn check_source(file: &str, text: &str) -> Vec<String> {
    let parsed = match syn::parse_file(text) {
        Ok(f) => f,
        Err(e) => return vec![format!("{file}: does not parse: {e}")],
    };
    let mut v = Casts { file, within: String::from("(item)"), found: Vec::new() };
    v.visit_file(&parsed);
    v.found
}

struct Casts<'a> {
    file: &'a str,
    /// The function being read, to say where a cast is (spans carry no lines without
    /// proc-macro2's `span-locations`).
    within: String,
    found: Vec<String>,
}

impl Casts<'_> {
    fn within<T>(&mut self, name: String, visit: impl FnOnce(&mut Self) -> T) -> T {
        let outer = std::mem::replace(&mut self.within, name);
        let out = visit(self);
        self.within = outer;
        out
    }
}

impl<'ast> Visit<'ast> for Casts<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.within(f.sig.ident.to_string(), |v| syn::visit::visit_item_fn(v, f));
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.within(f.sig.ident.to_string(), |v| syn::visit::visit_impl_item_fn(v, f));
    }

    fn visit_expr_cast(&mut self, cast: &'ast syn::ExprCast) {
        let name = match &*cast.expr {
            syn::Expr::Field(f) => match &f.member {
                syn::Member::Named(n) => Some(n.to_string()),
                syn::Member::Unnamed(_) => None,
            },
            syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            syn::Expr::Paren(p) => match &*p.expr {
                syn::Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
                _ => None,
            },
            _ => None,
        };
        if let Some(name) = name.filter(|n| names_an_id(n)) {
            self.found.push(format!(
                "{}: fn {}: `{name} as …`: ids are typed; pass the id, or `get()` where it leaves the program",
                self.file, self.within
            ));
        }
        syn::visit::visit_expr_cast(self, cast);
    }
}
