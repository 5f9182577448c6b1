//! `/api/models`: the configured models and those the model server serves.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::Json;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/models", get(list_models))
}

#[utoipa::path(get, path = "/api/models", tag = "agent",
    responses((status = 200, description = "configured and served models, `default`, `llm_available`")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn list_models(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let listing = state.llm.catalog.list(&state.llm.client).await;
    let mut body = serde_json::to_value(listing).map_err(ApiError::internal)?;
    body["auto"] = json!({"name": "auto", "description": "choose a configured model by the message's keywords"});
    Ok(Json(body))
}
