//! A ready axum [`Router`] serving the DDS's calls to the node through a [`Driver`].

use crate::Driver;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use posemesh_registration_core::callback::{
    NodeResponse, CALLBACK_PATH, HEALTH_PATH, MAX_CALLBACK_BODY,
};
use std::time::Duration;

/// How long a caller has to send its whole body: the DDS sends a few hundred
/// bytes at once, and a client that trickles them must not hold a handler open.
pub const BODY_READ_LIMIT: Duration = Duration::from_secs(30);

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
    let answer = match tokio::time::timeout(BODY_READ_LIMIT, read_capped(body)).await {
        Ok(Ok(body)) => {
            driver
                .handle_node_request(parts.method.as_str(), parts.uri.path(), &headers, &body)
                .await
        }
        Ok(Err(_)) => NodeResponse::error(400, "could not read the request body"),
        Err(_) => NodeResponse::error(408, "the request body did not arrive in time"),
    };
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

/// The body, read up to one byte over the limit: enough for the core to answer 413.
async fn read_capped(body: Body) -> Result<Vec<u8>, axum::Error> {
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = MAX_CALLBACK_BODY + 1 - read.len();
        read.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if read.len() > MAX_CALLBACK_BODY {
            break;
        }
    }
    Ok(read)
}
