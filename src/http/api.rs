//! What the admin API answers when something goes wrong: always JSON `{"error": …}`, with
//! the status decided here, in one place, from the data layer's error kinds and from
//! axum's rejections.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::db;

/// An error as JSON: `{"error": "..."}` with a status that says whose fault it was.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

pub type ApiResult = Result<Response, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Busy, not broken: a client may try again shortly.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<db::Error> for ApiError {
    fn from(e: db::Error) -> Self {
        match e {
            db::Error::NotFound(m) => Self::new(StatusCode::NOT_FOUND, m),
            db::Error::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            db::Error::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            db::Error::Unavailable(e) => {
                tracing::warn!(error = %e, "admin API request: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is busy; try again shortly",
                )
            }
            // Ours: details go to the log, not to the client.
            db::Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "admin API request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        db::Error::from(e).into()
    }
}

impl From<JsonRejection> for ApiError {
    /// axum knows what was wrong: 415 (not JSON), 400 (not parseable), 422 (wrong shape),
    /// 413 (too large).
    fn from(e: JsonRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, e.body_text())
    }
}

/// An optional JSON body. An empty body is `None`; a body that is there is read as JSON
/// only when it says it is JSON, and refused with 415 otherwise. axum's own optional
/// `Json` treats a body without a `Content-Type` as absent, so a client that forgot the
/// header would have its request silently ignored (a scheduled send going out at once).
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(Self(Some(value)));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if body.trim_ascii().is_empty() {
            return Ok(Self(None));
        }
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request has a body but no Content-Type: send it as application/json",
        ))
    }
}
