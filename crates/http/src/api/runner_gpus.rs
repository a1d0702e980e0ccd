//! The GPU fleet: `GET /runners/gpus` (administrators) lists every runner with the inventory it
//! last reported, its architectures, and which job holds which GPU — what `autogit gpu list`
//! prints.

use super::{Caller, Handler};
use crate::dto;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new().route("/runners/gpus", get(fleet))
}

async fn fleet(State(s): State<AppState>, Caller(who): Caller) -> Handler {
    let fleet = s.app.gpu_fleet(&who).await?;
    let now = chrono::Utc::now();
    let items: Vec<Value> = fleet
        .iter()
        .map(|f| {
            let mut v = dto::runner(&f.runner, now);
            let inventory = f.inventory.as_ref().and_then(|i| serde_json::from_str::<Value>(&i.inventory).ok());
            if let Some(o) = v.as_object_mut() {
                o.insert("inventory".into(), inventory.unwrap_or(Value::Null));
                o.insert(
                    "architectures".into(),
                    json!(f.inventory.as_ref().map(|i| i.architectures.clone()).unwrap_or_default()),
                );
                o.insert(
                    "allocations".into(),
                    f.allocations.iter().map(|(job, gpus)| json!({ "job_id": job, "gpus": gpus })).collect(),
                );
            }
            v
        })
        .collect();
    Ok(Json(Value::Array(items)).into_response())
}
