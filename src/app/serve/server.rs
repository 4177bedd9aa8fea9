//! The HTTP endpoints (PROTOCOL §11.1: `/probe`, `/health`, 404 JSON
//! elsewhere, CORS reflecting `Origin`) and the Prometheus exporter
//! (`/metrics`, §11.3).
//!
//! Both listeners are served from a dedicated OS thread with its own
//! single-threaded runtime, so that `/probe` answers within the kubelet's
//! one-second timeout however busy the sync tasks keep the main runtime
//! (§14.5). `/health` pings with the tenants' HTTP clients, whose
//! connection pools belong to the main runtime, so its evaluation is
//! handed to that runtime and only awaited here.

use std::{sync::Arc, thread};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use tokio::{runtime::Handle, sync::watch};

use super::health::Health;
use crate::telemetry::metrics::Metrics;

/// The version `/probe` reports.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone)]
struct AppState {
    health: Arc<Health>,
    /// The main runtime, where health checks run.
    main: Handle,
}

/// The running server thread.
#[derive(Debug)]
pub struct ServerThread {
    stop: watch::Sender<bool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl ServerThread {
    /// Serves `http` (probe and health) and, if given, `metrics` (the
    /// exporter) until [`stop`](Self::stop). The listeners are bound by the
    /// caller, so that bind errors surface before anything starts.
    ///
    /// # Errors
    /// The thread or its runtime cannot be created.
    pub fn start(
        http: std::net::TcpListener,
        metrics_listener: Option<std::net::TcpListener>,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
        main: Handle,
    ) -> std::io::Result<ServerThread> {
        http.set_nonblocking(true)?;
        if let Some(listener) = &metrics_listener {
            listener.set_nonblocking(true)?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let app = app_router(AppState { health, main });
        let thread = thread::Builder::new()
            .name("cfc-http".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    };
                    let http = match tokio::net::TcpListener::from_std(http) {
                        Ok(listener) => listener,
                        Err(err) => {
                            tracing::error!(error = %err, "cannot serve the HTTP endpoints");
                            return;
                        }
                    };
                    let http_server = axum::serve(http, app)
                        .with_graceful_shutdown(until_stopped(stopped.clone()));
                    let metrics_server = async {
                        let Some(listener) = metrics_listener else {
                            return Ok(());
                        };
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        axum::serve(listener, metrics_router(metrics))
                            .with_graceful_shutdown(until_stopped(stopped.clone()))
                            .await
                    };
                    let (http_result, metrics_result) = tokio::join!(http_server, metrics_server);
                    if let Err(err) = http_result.and(metrics_result) {
                        tracing::error!(error = %err, "HTTP server ended with an error");
                    }
                });
            })?;
        Ok(ServerThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops both servers and waits for the thread (blocking briefly: open
    /// requests are answered first).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // A daemon dropped without `stop` still releases its ports.
        let _ = self.stop.send(true);
    }
}

fn app_router(state: AppState) -> Router {
    Router::new()
        .route("/probe", get(probe))
        .route("/health", get(health))
        .fallback(not_found)
        .layer(middleware::from_fn(cors))
        .with_state(state)
}

fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(not_found)
        .with_state(metrics)
}

async fn probe() -> Response {
    axum::Json(json!({ "version": VERSION })).into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let health = Arc::clone(&state.health);
    match state
        .main
        .spawn(async move { health.evaluate().await })
        .await
    {
        Ok(report) => {
            let status = if report.healthy {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            (status, axum::Json(report.body)).into_response()
        }
        // The main runtime is shutting down (or the check panicked).
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "error", "info": {}, "error": {}, "details": {}})),
        )
            .into_response(),
    }
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics.content_type())],
        metrics.encode(),
    )
        .into_response()
}

/// NestJS's shape, which the reference answers with.
async fn not_found(method: Method, request: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({
            "statusCode": 404,
            "message": format!("Cannot {method} {}", request.uri().path()),
            "error": "Not Found",
        })),
    )
        .into_response()
}

/// Any origin is allowed: the request's `Origin` is reflected (§11.1).
/// Preflight requests are answered here.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let preflight = request.method() == Method::OPTIONS && origin.is_some();
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
        );
        if let Some(requested) = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        response
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin {
        let headers: &mut HeaderMap = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}
