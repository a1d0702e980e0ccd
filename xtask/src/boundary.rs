//! The App boundary, read from the app crate's source with `syn`.
//!
//! User use-cases are the `pub` methods of `impl App` blocks: each takes the acting
//! `&Principal`, so a reviewer reads the access check next to it. Trusted calls (runner job API,
//! the server's loops, the owner's CLI) live on `System`. Neither type hands out the store or
//! repository storage. A short allowlist names the `App` items that are not use-cases.

use std::path::Path;
use syn::visit::Visit;

/// `pub` items of `impl App` that take no `&Principal` because they are not use-cases: building
/// the application, reaching the trusted entry point, and reading its own settings.
pub const APP_NON_USE_CASES: &[&str] = &[
    "new",
    "with_password_checks",
    "with_blobs",
    "with_push_settings",
    "with_push_hooks",
    "with_ci_settings",
    "with_sessions",
    "with_sso",
    "with_oidc_providers",
    "with_webhooks",
    "oidc_providers",
    "with_secrets",
    "system",
    "ci_settings",
];

/// Type names that would let a caller reach storage behind the use-cases.
const STORAGE_TYPES: &[&str] = &["Store", "RepoStorage", "BlobStore"];

/// Checks every `.rs` file under `src` (the app crate's sources); returns each violation found.
pub fn check_dir(src: &Path) -> Vec<String> {
    crate::sources::check_rust_files(src, check_source)
}

/// Checks one source file; `file` names it in the messages.
pub fn check_source(file: &str, text: &str) -> Vec<String> {
    let parsed = match syn::parse_file(text) {
        Ok(f) => f,
        Err(e) => return vec![format!("{file}: does not parse: {e}")],
    };
    let mut checker = Checker { file, errors: Vec::new() };
    checker.visit_file(&parsed);
    checker.errors
}

struct Checker<'a> {
    file: &'a str,
    errors: Vec<String>,
}

impl<'ast> Visit<'ast> for Checker<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_impl(&mut self, imp: &'ast syn::ItemImpl) {
        if imp.trait_.is_some() {
            return;
        }
        let Some(owner) = last_ident(&imp.self_ty) else { return };
        for item in &imp.items {
            let syn::ImplItem::Fn(f) = item else { continue };
            if !matches!(f.vis, syn::Visibility::Public(_)) {
                continue;
            }
            let name = f.sig.ident.to_string();
            let at = format!("{}: {owner}::{name}", self.file);
            if (owner == "App" || owner == "System") && returns_storage(&f.sig.output) {
                self.errors.push(format!("{at} returns storage; only use-case results may leave the app crate"));
            }
            if owner == "App" && !APP_NON_USE_CASES.contains(&name.as_str()) && !takes_principal(&f.sig) {
                self.errors.push(format!(
                    "{at} is public on App without a `&Principal` parameter: a user use-case takes the \
                     acting principal; a trusted call belongs on `System`"
                ));
            }
        }
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && matches!(&a.meta, syn::Meta::List(l) if l.tokens.to_string() == "test"))
}

fn last_ident(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn takes_principal(sig: &syn::Signature) -> bool {
    sig.inputs.iter().any(|arg| match arg {
        syn::FnArg::Typed(t) => {
            matches!(&*t.ty, syn::Type::Reference(r) if last_ident(&r.elem).as_deref() == Some("Principal"))
        }
        syn::FnArg::Receiver(_) => false,
    })
}

fn returns_storage(output: &syn::ReturnType) -> bool {
    struct Names(bool);
    impl<'ast> Visit<'ast> for Names {
        fn visit_path_segment(&mut self, s: &'ast syn::PathSegment) {
            self.0 |= STORAGE_TYPES.contains(&s.ident.to_string().as_str());
            syn::visit::visit_path_segment(self, s);
        }
    }
    let mut names = Names(false);
    names.visit_return_type(output);
    names.0
}
