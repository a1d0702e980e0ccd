//! CI/CD variables of a project or group: the list, the add, update and delete forms. A masked
//! variable's value never reaches the browser.

use super::*;
use crate::web::ui::val;
use autogit_app::ci::variables::{CreateVariable, UpdateVariable, VARIABLE_TYPES};

/// A variable's form: as entered, or as stored. `value` is empty for a masked variable.
#[derive(Serialize, Clone)]
pub(super) struct VarForm {
    key: String,
    pub(super) value: String,
    variable_type: String,
    protected: bool,
    masked: bool,
    raw: bool,
    environment_scope: String,
    description: String,
}

impl VarForm {
    fn blank() -> VarForm {
        VarForm {
            key: String::new(),
            value: String::new(),
            variable_type: VARIABLE_TYPES[0].into(),
            protected: false,
            masked: false,
            raw: false,
            environment_scope: "*".into(),
            description: String::new(),
        }
    }

    /// What was entered; the value is left out when the form asked to mask it.
    pub(super) fn entered(fields: &[(String, String)]) -> VarForm {
        let masked = ticked(fields, "masked");
        VarForm {
            key: field(fields, "key").trim().to_string(),
            value: if masked { String::new() } else { field(fields, "value").to_string() },
            variable_type: field(fields, "variable_type").to_string(),
            protected: ticked(fields, "protected"),
            masked,
            raw: ticked(fields, "raw"),
            environment_scope: field(fields, "environment_scope").trim().to_string(),
            description: field(fields, "description").to_string(),
        }
    }
}

#[derive(Serialize)]
struct VarRow {
    /// As stored (a masked value left out: it never leaves the server).
    #[serde(flatten)]
    current: VarForm,
    update: String,
    delete: String,
    /// The edit form is open (it failed) with this message.
    open: bool,
    error: Option<String>,
    /// The edit form's fields: as stored, or as entered when it failed.
    form: VarForm,
}

fn var_target(key: &str, scope: &str) -> String {
    format!("{key}\n{scope}")
}

pub(super) async fn variables_ctx(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    retry: Option<&Retry>,
) -> Result<Value, AppError> {
    let mut vars = s.app.list_variables(who, subject.source(), Window::ALL).await?.items;
    vars.sort_by(|a, b| (&a.key, &a.environment_scope).cmp(&(&b.key, &b.environment_scope)));
    let action = format!("{}/settings/ci_cd/variables", subject.forms);
    let rows: Vec<VarRow> = vars
        .into_iter()
        .map(|v| {
            let failed = Retry::for_target(retry, &var_target(&v.key, &v.environment_scope));
            let current = VarForm {
                value: if v.masked { String::new() } else { v.value },
                key: v.key,
                variable_type: v.variable_type,
                protected: v.protected,
                masked: v.masked,
                raw: v.raw,
                environment_scope: v.environment_scope,
                description: v.description.unwrap_or_default(),
            };
            let form = match failed {
                Some(r) => VarForm { key: current.key.clone(), ..VarForm::entered(&r.fields) },
                None => current.clone(),
            };
            VarRow {
                update: format!("{action}/{}/update", current.key),
                delete: format!("{action}/{}/delete", current.key),
                open: failed.is_some(),
                error: failed.map(|r| r.error.clone()),
                form,
                current,
            }
        })
        .collect();
    let new = Retry::for_target(retry, "new");
    Ok(context! {
        variables => val(&rows),
        new => val(&new.map_or_else(VarForm::blank, |r| VarForm::entered(&r.fields))),
        new_error => new.map(|r| r.error.clone()),
        add_action => action,
        types => VARIABLE_TYPES.to_vec(),
    })
}

/// `settings/ci_cd/variables` (add), `…/<key>/update`, `…/<key>/delete`; the variable's current
/// scope comes in `filter_scope`.
pub(super) async fn post_variables(
    s: &AppState,
    who: &Principal,
    subject: &Subject,
    tail: &str,
    fields: &[(String, String)],
) -> Outcome {
    let to = |what: &str| format!("{}?notice={what}", subject.page_of(Section::Variables));
    let text = |name: &str| Some(field(fields, name).trim().to_string()).filter(|t| !t.is_empty());
    if tail.is_empty() {
        let req = CreateVariable {
            key: field(fields, "key").trim().to_string(),
            value: field(fields, "value").to_string(),
            variable_type: text("variable_type"),
            protected: ticked(fields, "protected"),
            masked: ticked(fields, "masked"),
            raw: ticked(fields, "raw"),
            environment_scope: text("environment_scope"),
            description: text("description"),
        };
        let done = s.app.create_variable(who, subject.source(), req).await;
        return Outcome::of(Section::Variables, "new", done, fields, to("added"));
    }
    let Some((key, verb)) = tail.split_once('/') else { return Outcome::Done(Page::not_found()) };
    let scope = text("filter_scope");
    let target = var_target(key, scope.as_deref().unwrap_or("*"));
    match verb {
        "update" => {
            let value = field(fields, "value");
            let req = UpdateVariable {
                // Empty keeps the current value (a masked one is never shown to be edited).
                value: (!value.is_empty()).then(|| value.to_string()),
                variable_type: text("variable_type"),
                protected: Some(ticked(fields, "protected")),
                masked: Some(ticked(fields, "masked")),
                raw: Some(ticked(fields, "raw")),
                environment_scope: text("environment_scope"),
                description: Some(field(fields, "description").trim().to_string()),
            };
            let done = s.app.update_variable(who, subject.source(), key, scope.as_deref(), req).await;
            Outcome::of(Section::Variables, &target, done, fields, to("updated"))
        }
        "delete" => {
            let done = s.app.delete_variable(who, subject.source(), key, scope.as_deref()).await;
            Outcome::of(Section::Variables, &target, done, fields, to("deleted"))
        }
        _ => Outcome::Done(Page::not_found()),
    }
}
