//! A ready axum [`Router`] serving the DDS's calls to the node through a [`Driver`],
//! and [`serve`], which runs a router so that slow clients cannot hold it.

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

/// How long a connection has to send a request's headers, counted from the
/// first byte of each request: the DDS sends them at once.
pub const HEADER_READ_LIMIT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` as `axum::serve` does, except that a connection
/// whose request headers have not arrived within [`HEADER_READ_LIMIT`] is
/// closed. `axum::serve` runs hyper without a timer, so it has no such
/// deadline: a few hundred clients trickling half a header line each would
/// hold the node's listener open for as long as they like. Runs until the
/// listener fails.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    serve_with_header_limit(listener, app, HEADER_READ_LIMIT).await
}

/// [`serve`] with another header deadline (tests use a short one).
pub async fn serve_with_header_limit(
    listener: tokio::net::TcpListener,
    app: Router,
    header_limit: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like pass; wait a little, as axum does.
            Err(err) if is_transient(&err) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(err) => return Err(err),
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_limit);
            // A client that breaks off or misbehaves ends its own connection only.
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn is_transient(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || err
        .raw_os_error()
        .is_some_and(|code| code == 23 || code == 24) // ENFILE, EMFILE
}

/// Routes `POST /internal/v1/registrations` and `GET /health` to `driver`,
/// and the same under the node URL's own path, where the DDS calls a node
/// whose URL has one (`/node/health` for `https://gateway.example.com/node`;
/// a path with characters other than letters, digits and `-._~%/` must be
/// stripped by the proxy in front). Merge it into your application's router.
pub fn router(driver: Driver) -> Router {
    let mut router = Router::new()
        .route(CALLBACK_PATH, post(answer_dds))
        .route(HEALTH_PATH, get(answer_dds));
    let config = driver.config();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~%/".contains(c);
    let routable = |p: &&str| p.chars().all(plain) && !p.contains("//");
    if let Some(prefix) = config.flow.node_path().filter(routable) {
        router = router
            .route(&format!("{prefix}{CALLBACK_PATH}"), post(answer_dds))
            .route(&format!("{prefix}{HEALTH_PATH}"), get(answer_dds));
    }
    router.with_state(driver)
}

async fn answer_dds(State(driver): State<Driver>, request: Request) -> Response {
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
