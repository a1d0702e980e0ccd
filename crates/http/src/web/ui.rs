//! The pages' templates and static assets, built once per process.
//!
//! Templates are Jinja (minijinja) files under `crates/http/templates/`, embedded at build time
//! so the binary needs nothing beside it. Auto-escaping is on for every template: a value is
//! HTML-escaped unless it is marked safe, and only the renderers of `autogit-render` (which
//! escape what they emit) and this module produce safe values. The stylesheet and the one
//! script are served under names carrying their content hash, cached for a year.

use autogit_render::{highlight, log, needs_graph};
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded template: its name and text.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates![
    "layout.html",
    "macros.html",
    "message.html",
    "dashboard.html",
    "explore_projects.html",
    "explore_groups.html",
    "namespace.html",
    "project.html",
    "tree.html",
    "tree_table.html",
    "blob.html",
    "commits.html",
    "commit.html",
    "diff.html",
    "refs.html",
    "compare.html",
    "pipelines.html",
    "pipeline.html",
    "pipeline_dag.html",
    "job.html",
    "job_artifacts.html",
    // Account pages (user_settings.rs, new.rs).
    "user_keys.html",
    "user_tokens.html",
    "new_project.html",
    "new_group.html",
    // Fleet and administration (fleet.rs).
    "runners.html",
    "admin_users.html",
    "pools.html",
    "gpus.html",
    "admin_macros.html",
    "admin_runner.html",
    // Settings (project/settings.rs).
    "settings_general.html",
    "settings_repository.html",
    "settings_hooks.html",
    "hook_logs.html",
    "settings_ci.html",
    "members.html",
    "group_settings.html",
    "settings_nav.html",
    "settings_variables.html",
    "settings_members.html",
];

const STYLE: &str = include_str!("../../assets/autogit.css");
const SCRIPT: &str = include_str!("../../assets/autogit.js");

/// A static asset: its hashed file name, type and bytes.
pub(crate) struct Asset {
    pub name: String,
    pub content_type: &'static str,
    pub body: String,
}

pub(crate) struct Ui {
    env: Environment<'static>,
    pub css: Asset,
    pub js: Asset,
}

/// The grammars take megabytes; they are loaded by the first page that highlights a file, not
/// at start, so a server nobody browses stays small.
static HIGHLIGHTER: LazyLock<highlight::Highlighter> = LazyLock::new(highlight::Highlighter::new);

pub(crate) fn highlighter() -> &'static highlight::Highlighter {
    &HIGHLIGHTER
}

static UI: LazyLock<Ui> = LazyLock::new(Ui::build);

/// The process's templates and assets (built on first use).
pub(crate) fn ui() -> &'static Ui {
    &UI
}

fn hashed(stem: &str, ext: &str, body: &str) -> String {
    let digest = hex::encode(Sha256::digest(body.as_bytes()));
    format!("{stem}-{}.{ext}", &digest[..16])
}

impl Ui {
    fn build() -> Ui {
        let css_body = format!(
            "{STYLE}\n/* job logs */\n{}\n/* needs graph */\n{}\n/* highlighting */\n{}",
            log::LOG_CSS,
            needs_graph::NEEDS_GRAPH_CSS,
            highlight::theme_css()
        );
        let css = Asset {
            name: hashed("autogit", "css", &css_body),
            content_type: "text/css; charset=utf-8",
            body: css_body,
        };
        let js = Asset {
            name: hashed("autogit", "js", SCRIPT),
            content_type: "text/javascript; charset=utf-8",
            body: SCRIPT.to_string(),
        };
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // minijinja's HTML escaping also writes `/` as `&#x2f;`, which no quoted attribute or
        // text needs; the site's own escaping (the five markup characters) keeps addresses
        // readable and pages smaller. Safe values, undefined and none keep the default.
        env.set_formatter(|out, state, value| {
            let plain = value.as_str().is_some()
                || value.is_number()
                || value.is_true()
                || value.kind() == minijinja::value::ValueKind::Bool;
            if !plain || value.is_safe() || !matches!(state.auto_escape(), AutoEscape::Html) {
                return minijinja::escape_formatter(out, state, value);
            }
            out.write_str(&autogit_render::escape::html(&value.to_string())).map_err(minijinja::Error::from)
        });
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, text) in TEMPLATES {
            if let Err(e) = env.add_template(name, text) {
                // The templates are part of the build; a broken one is caught by the tests.
                tracing::error!(template = name, error = %e, "template does not parse");
            }
        }
        super::filters::register(&mut env);
        env.add_global("css", format!("/-/assets/{}", css.name));
        env.add_global("js", format!("/-/assets/{}", js.name));
        Ui { env, css, js }
    }

    /// Renders template `name` with `ctx`. Templates insert values escaped; a field whose name
    /// ends in `_html` holds markup of `autogit-render` and is inserted with `|safe` (the only
    /// use of `safe` in the templates, which a test checks).
    pub(crate) fn render(&self, name: &str, ctx: Value) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        template.render(ctx).map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        })
    }
}

/// Any serializable value as a template value.
pub(crate) fn val(v: &impl Serialize) -> Value {
    Value::from(Serde(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_renders_without_values() {
        for (name, _) in TEMPLATES {
            let out = ui().render(name, minijinja::context! {});
            assert!(out.is_ok(), "{name}: {out:?}");
        }
    }

    /// Markup goes into a page unescaped only from values named `*_html`, which the renderers
    /// of `autogit-render` make; any other `|safe` would be a hole.
    #[test]
    fn only_renderer_markup_is_marked_safe() {
        for (name, text) in TEMPLATES {
            for (at, _) in text.match_indices("|safe") {
                let before = &text[..at];
                let start =
                    before.rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).map_or(0, |i| i + 1);
                let expr = &before[start..];
                assert!(expr.ends_with("_html"), "{name}: `{expr}|safe` is not renderer markup");
            }
            assert!(!text.contains("autoescape false") && !text.contains("style="), "{name}");
            let handler = text.split(" on").skip(1).any(|r| {
                let word = r.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                word.len() < r.len() && word.starts_with('=')
            });
            assert!(!text.contains("<script>") && !handler, "{name}: inline script");
        }
    }

    #[test]
    fn values_are_escaped_but_slashes_stay() {
        let env = &ui().env;
        let t = env.template_from_str("<a href=\"{{ u }}\">{{ t }}</a>").expect("template");
        let out = t.render(minijinja::context! { u => "/a/b?x=1&y=\"2\"", t => "<b>'x'</b>" }).expect("render");
        assert_eq!(out, "<a href=\"/a/b?x=1&amp;y=&quot;2&quot;\">&lt;b&gt;&#39;x&#39;&lt;/b&gt;</a>");
    }

    #[test]
    fn assets_are_named_by_their_content() {
        let ui = ui();
        assert!(ui.css.name.starts_with("autogit-") && ui.css.name.ends_with(".css"));
        assert_ne!(ui.css.name, ui.js.name);
        assert!(
            ui.css.body.contains(".sgr-fg-1") && ui.css.body.contains(".needs-graph") && ui.css.body.contains(".hb{")
        );
    }
}
