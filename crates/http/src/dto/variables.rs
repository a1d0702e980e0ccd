//! JSON shape of a CI/CD variable, as GitLab's `/projects/:id/variables` and
//! `/groups/:id/variables` return it.

use autogit_app::store::CiVariable;
use serde_json::{Value, json};

pub fn variable(v: &CiVariable) -> Value {
    json!({
        "variable_type": v.variable_type,
        "key": v.key,
        "value": v.value,
        "protected": v.protected,
        "masked": v.masked,
        // GitLab's "masked and hidden" variables never show their value; AutoGit has none.
        "hidden": false,
        "raw": v.raw,
        "environment_scope": v.environment_scope,
        "description": v.description,
    })
}
