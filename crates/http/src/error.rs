//! The one mapping from errors to HTTP responses, with GitLab's error bodies:
//! `{"message": "404 Project Not Found"}`, `{"message": {"path": ["has already been taken"]}}`,
//! `{"error": "name is missing"}`, and the OAuth-style body for `insufficient_scope`.

use autogit_app::AppError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The answer to a path nothing serves (the router's fallback), also given where an endpoint
/// must not be told apart from one (`/metrics` to a client it does not admit).
pub fn unknown_path() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": "404 Not Found"}))).into_response()
}

/// An API error; wraps the application error so that `?` works in handlers.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The API's status for an application error.
pub fn status_of(e: &AppError) -> StatusCode {
    match e {
        AppError::Unauthorized | AppError::PasswordNotAccepted => StatusCode::UNAUTHORIZED,
        AppError::SignInLocked(_) | AppError::PasswordChecksBusy(_) => StatusCode::TOO_MANY_REQUESTS,
        AppError::InsufficientScope | AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid(..) | AppError::Missing(_) | AppError::Refused(_) => StatusCode::BAD_REQUEST,
        AppError::Conflict(..) => StatusCode::CONFLICT,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
        AppError::Unavailable(_) => StatusCode::BAD_GATEWAY,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let body = match &self.0 {
            AppError::InsufficientScope => json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": "api",
            }),
            AppError::Missing(_) => json!({ "error": self.0.to_string() }),
            AppError::Invalid(field, msg) => json!({ "message": { *field: [msg] } }),
            AppError::Conflict(field, msg) => json!({ "message": { field.as_str(): [msg] } }),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                json!({ "message": "500 Internal Server Error" })
            }
            other => json!({ "message": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.0.retry_after_secs() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let AppError::RangeNotSatisfiable(size) = self.0
            && let Ok(value) = format!("bytes */{size}").parse()
        {
            response.headers_mut().insert(axum::http::header::CONTENT_RANGE, value);
        }
        response
    }
}

/// A `400` for a malformed request parameter, named as GitLab names them.
pub fn bad_param(field: &'static str, msg: impl Into<String>) -> ApiError {
    ApiError(AppError::Invalid(field, msg.into()))
}
