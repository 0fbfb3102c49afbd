//! The admin API for the list (bearer token): list, get, add, update, delete, stats.
//!
//! Nothing here revives a subscriber who left: statuses only move towards closed
//! (`unsubscribed`), and an erased address cannot be added back.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::api::{ApiError, ApiResult};
use crate::db::Source;
use crate::db::subscribers::{Added, ListQuery, NewSubscriber, Removed, Subscriber};
use crate::db::unsubscribe::Change;
use crate::domain::{SubscriberEmail, SubscriberStatus};

const MAX_PAGE: u32 = 1000;
const MAX_ATTRIBUTES: usize = 50;

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(message)
}

/// A subscriber as the API shows it: attributes as an object, not stored text.
fn view(s: Subscriber) -> Value {
    let attributes: Value = serde_json::from_str(&s.attributes).unwrap_or_else(|_| json!({}));
    let mut v = serde_json::to_value(s).unwrap_or_default();
    v["attributes"] = attributes;
    v
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<String>,
    search: Option<String>,
    /// Subscribers after this id (the previous page's `next_after`).
    after: Option<i64>,
    limit: Option<u32>,
}

/// GET /api/subscribers?status=&search=&after=&limit=
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult {
    let Query(p) = params.map_err(|e| unprocessable(e.body_text()))?;
    let status = p
        .status
        .map(|s| s.parse::<SubscriberStatus>())
        .transpose()
        .map_err(|e| unprocessable(format!("status: {e}")))?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(unprocessable(format!("limit: between 1 and {MAX_PAGE}")));
    }
    if p.search.as_ref().is_some_and(|s| s.len() > 254) {
        return Err(unprocessable("search: at most 254 characters"));
    }
    let page = state
        .db
        .list_subscribers(&ListQuery {
            status,
            search: p.search.filter(|s| !s.is_empty()),
            limit,
            after_id: p.after.unwrap_or(0),
        })
        .await?;
    let next_after = (page.len() as u32 == limit).then(|| page.last().map(|s| s.id));
    Ok(Json(json!({
        "subscribers": page.into_iter().map(view).collect::<Vec<_>>(),
        "next_after": next_after.flatten(),
    }))
    .into_response())
}

/// GET /api/subscribers/stats
pub async fn stats(State(state): State<AppState>) -> ApiResult {
    Ok(Json(state.db.subscriber_stats().await?).into_response())
}

async fn require(state: &AppState, id: i64) -> Result<Subscriber, ApiError> {
    state
        .db
        .subscriber_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no subscriber {id}")))
}

/// GET /api/subscribers/{id}
pub async fn get(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult {
    Ok(Json(view(require(&state, id).await?)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBody {
    email: String,
    #[serde(default)]
    name: String,
    /// `active` (default) or `pending`.
    status: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.chars().any(char::is_control) || name.chars().count() > 200 {
        return Err(unprocessable(
            "name: must be one line of at most 200 characters",
        ));
    }
    Ok(name.to_string())
}

/// Attributes are flat: strings, numbers or booleans, so templates and CSV columns can
/// show them; `null` (in an update) removes one.
fn check_attributes(attributes: &Map<String, Value>, allow_null: bool) -> Result<(), ApiError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(unprocessable(format!(
            "attributes: at most {MAX_ATTRIBUTES}"
        )));
    }
    for (key, value) in attributes {
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !key_ok || ["email", "name", "status"].contains(&key.as_str()) {
            return Err(unprocessable(format!(
                "attributes: {key:?} is not a usable name (letters, digits, _ and -, at most 64, not email/name/status)"
            )));
        }
        let value_ok = match value {
            Value::String(s) => s.len() <= 1000,
            Value::Number(_) | Value::Bool(_) => true,
            Value::Null => allow_null,
            _ => false,
        };
        if !value_ok {
            return Err(unprocessable(format!(
                "attributes.{key}: a string (at most 1000 bytes), number or boolean"
            )));
        }
    }
    Ok(())
}

/// POST /api/subscribers
pub async fn add(
    State(state): State<AppState>,
    body: Result<Json<NewBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let email =
        SubscriberEmail::parse(&body.email).map_err(|e| unprocessable(format!("email: {e}")))?;
    let status = match body.status.as_deref() {
        None => SubscriberStatus::Active,
        Some(s) => match s.parse() {
            Ok(s @ (SubscriberStatus::Active | SubscriberStatus::Pending)) => s,
            _ => return Err(unprocessable("status: active or pending")),
        },
    };
    check_attributes(&body.attributes, false)?;
    let new = NewSubscriber {
        email: email.clone(),
        name: check_name(&body.name)?,
        status,
        attributes: body.attributes,
    };
    match state.db.add_subscriber(&new, Source::Admin).await? {
        Added::Created(id) => {
            Ok((StatusCode::CREATED, Json(view(require(&state, id).await?))).into_response())
        }
        Added::Exists { id, status } => Ok((
            StatusCode::CONFLICT,
            Json(json!({
                "error": format!("{email} is already on the list ({status}); left unchanged"),
                "id": id,
                "status": status,
            })),
        )
            .into_response()),
        Added::Erased => Err(ApiError::conflict(format!(
            "{email} was removed on request; only their own confirmed subscription can add them again"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    name: Option<String>,
    /// Merged into the stored attributes; a `null` value removes that attribute.
    attributes: Option<Map<String, Value>>,
    /// Only `unsubscribed`: an operator can take someone off the list, never put back.
    status: Option<String>,
}

/// PATCH /api/subscribers/{id}
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Result<Json<UpdateBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body?;
    let current = require(&state, id).await?;
    if let Some(attributes) = &body.attributes {
        check_attributes(attributes, true)?;
    }
    let name = body.name.as_deref().map(check_name).transpose()?;
    let status = body
        .status
        .as_deref()
        .map(|s| s.parse::<SubscriberStatus>())
        .transpose()
        .map_err(|e| unprocessable(format!("status: {e}")))?;
    match status {
        None => {}
        Some(s) if s == current.status => {}
        Some(SubscriberStatus::Unsubscribed) => {
            if let Change::Blocked(status) = state.db.unsubscribe(id, None, Source::Admin).await? {
                return Err(ApiError::conflict(format!(
                    "subscriber {id} is {status}; that stays"
                )));
            }
        }
        Some(s) => {
            return Err(ApiError::conflict(format!(
                "status: cannot change {} to {s} here; only `unsubscribed` (people come back by confirming their own subscription)",
                current.status
            )));
        }
    }
    if name.is_some() || body.attributes.is_some() {
        state
            .db
            .update_subscriber(id, name.as_deref(), body.attributes.as_ref(), Source::Admin)
            .await?;
    }
    Ok(Json(view(require(&state, id).await?)).into_response())
}

/// DELETE /api/subscribers/{id}: erasure on request.
pub async fn remove(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult {
    match state.db.remove_subscriber(id, Source::Admin).await? {
        Removed::Done { status } => {
            Ok(Json(json!({ "removed": id, "status": status })).into_response())
        }
        Removed::Unknown => Err(ApiError::not_found(format!("there is no subscriber {id}"))),
    }
}
