//! A ready axum [`Router`] serving the DDS's calls to the node through a [`Driver`].

use crate::Driver;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use posemesh_registration_core::callback::{CALLBACK_PATH, HEALTH_PATH, MAX_CALLBACK_BODY};

/// Routes `POST /internal/v1/registrations` and `GET /health` to `driver`.
/// Merge it into your application's router.
pub fn router(driver: Driver) -> Router {
    Router::new()
        .route(CALLBACK_PATH, post(serve))
        .route(HEALTH_PATH, get(serve))
        .with_state(driver)
}

async fn serve(State(driver): State<Driver>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    // One byte over the limit is enough for the core to answer 413.
    let body = match to_bytes(body, MAX_CALLBACK_BODY + 1).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => vec![0; MAX_CALLBACK_BODY + 1],
    };
    let answer = driver
        .handle_node_request(parts.method.as_str(), parts.uri.path(), &headers, &body)
        .await;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
