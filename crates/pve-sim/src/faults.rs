//! Fault injection, global or per node, switchable while the simulator runs: added latency, an
//! error rate, bursts of 5xx answers, requests that never answer, connections dropped before
//! the TLS handshake, a node taken offline, and garbage bodies. The gate acceptor drops
//! connections; the middleware does the rest.

use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// What goes wrong, for one node or for all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Added to every answer, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests (0 to 1) answered with a 500.
    pub error_rate: f64,
    /// The next this many requests answer 503: a burst.
    pub fail_next: u32,
    /// Requests are accepted but never answered, so clients time out.
    pub hang: bool,
    /// New connections are closed before the TLS handshake, and requests on open ones are
    /// cut off mid-answer.
    pub drop: bool,
    /// The node is down: connections are dropped, the cluster reports it offline, and a
    /// request proxied to it through another member answers 595 `No route to host`.
    pub offline: bool,
    /// With `offline`: `/cluster/status` lists the node without its `ip`, as PVE does for
    /// some members that are down.
    pub no_ip: bool,
    /// Storages of the node that are offline: listed with `active: 0`, and reading their
    /// content answers 500, as PVE answers for an unreachable NFS or PBS storage.
    pub storages_down: Vec<String>,
    /// With `offline`: the node has been down longer than PVE keeps its guests' details
    /// (about five minutes), so `/cluster/resources` lists them reduced, status `unknown`.
    pub down_long: bool,
    /// Successful answers carry a body that is not JSON.
    pub garbage: bool,
}

/// The faults in force.
#[derive(Debug, Default)]
pub struct Faults {
    global: Mutex<Fault>,
    nodes: Mutex<BTreeMap<String, Fault>>,
    /// Per node, bumped when its certificate changes: connections made before are cut, as
    /// pveproxy restarts and closes them when it takes a new certificate.
    generations: Mutex<BTreeMap<String, u64>>,
    /// Every API request received, for measuring the load clients put on PVE.
    requests: std::sync::atomic::AtomicU64,
}

/// The certificate generation a connection was accepted under.
#[derive(Debug, Clone, Copy)]
struct ConnGeneration(u64);

/// A connection's service, tagging each request with the connection's generation.
#[derive(Debug, Clone)]
pub(crate) struct Tagged<S> {
    inner: S,
    generation: u64,
}

impl<S, B> tower::Service<axum::http::Request<B>> for Tagged<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> S::Future {
        request
            .extensions_mut()
            .insert(ConnGeneration(self.generation));
        self.inner.call(request)
    }
}

/// What the middleware does to one request.
enum Effect {
    Pass,
    Hang,
    Fail(StatusCode),
    Garbage,
}

impl Faults {
    /// Sets the fault for `node`, or for every node when `None`.
    pub fn set(&self, node: Option<&str>, fault: Fault) {
        match node {
            Some(name) => {
                let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
                nodes.insert(name.to_owned(), fault);
            }
            None => *self.global.lock().unwrap_or_else(|e| e.into_inner()) = fault,
        }
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *self.global.lock().unwrap_or_else(|e| e.into_inner()) = Fault::default();
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The global fault and each node's.
    pub fn snapshot(&self) -> (Fault, BTreeMap<String, Fault>) {
        let global = self
            .global
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        (global, nodes)
    }

    /// API requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The current certificate generation of `node`.
    fn generation(&self, node: &str) -> u64 {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.get(node).copied().unwrap_or(0)
    }

    /// Marks `node`'s certificate as changed: its open connections are cut.
    pub fn certificate_changed(&self, node: &str) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        *generations.entry(node.to_owned()).or_default() += 1;
    }

    /// Whether `/cluster/status` leaves out the address of `node` (down and unaddressed).
    pub fn unaddressed(&self, node: &str) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.get(node).is_some_and(|f| f.offline && f.no_ip)
    }

    /// Whether `storage` on `node` is offline.
    pub fn storage_down(&self, node: &str, storage: &str) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes
            .get(node)
            .is_some_and(|f| f.storages_down.iter().any(|s| s == storage))
    }

    /// Whether `node` has been down long enough for PVE to forget its guests' details.
    pub fn down_long(&self, node: &str) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.get(node).is_some_and(|f| f.offline && f.down_long)
    }

    /// Whether `node` is offline.
    pub fn offline(&self, node: &str) -> bool {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.get(node).is_some_and(|f| f.offline)
    }

    fn drops(&self, node: &str) -> bool {
        let global = self.global.lock().unwrap_or_else(|e| e.into_inner()).drop;
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        global || nodes.get(node).is_some_and(|f| f.drop || f.offline)
    }

    /// Decides what happens to a request on `node`, spending one `fail_next` if one is due.
    fn effect(&self, node: &str) -> (Duration, Effect) {
        let mut global = self.global.lock().unwrap_or_else(|e| e.into_inner());
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let local = nodes.entry(node.to_owned()).or_default();
        let latency = Duration::from_millis(global.latency_ms.max(local.latency_ms));
        let rate = global.error_rate.max(local.error_rate).clamp(0.0, 1.0);
        let effect = if global.hang || local.hang {
            Effect::Hang
        } else if let Some(burst) = [&mut *global, &mut *local]
            .into_iter()
            .find(|f| f.fail_next > 0)
        {
            burst.fail_next -= 1;
            Effect::Fail(StatusCode::SERVICE_UNAVAILABLE)
        } else if rate > 0.0 && rand::rng().random_bool(rate) {
            Effect::Fail(StatusCode::INTERNAL_SERVER_ERROR)
        } else if global.garbage || local.garbage {
            Effect::Garbage
        } else {
            Effect::Pass
        };
        (latency, effect)
    }
}

/// Applies the faults of the node `node` to a request.
/// How long a member takes to give up on a proxied request to a node that is down (real PVE
/// waits for the connection to time out; shorter here, so tests stay quick).
const PROXY_GIVES_UP: Duration = Duration::from_millis(300);

/// The node a request to `path` on `serving` is forwarded to, when that node is offline: PVE
/// proxies everything under `/nodes/{node}/` to `{node}`.
fn proxied_to_offline(faults: &Faults, serving: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api2/json/nodes/")?;
    let (target, _) = rest.split_once('/')?;
    (target != serving && faults.offline(target)).then(|| target.to_owned())
}

/// PVE's answer when the node it proxies to cannot be reached: status 595, the reason in the
/// status line, and an empty body.
fn no_route_to_host() -> Response {
    let status = StatusCode::from_u16(595).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, Body::empty()).into_response();
    response
        .extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"No route to host"));
    response
}

pub(crate) async fn inject(
    faults: Arc<Faults>,
    node: String,
    request: Request,
    next: Next,
) -> Response {
    faults
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stale = request
        .extensions()
        .get::<ConnGeneration>()
        .is_some_and(|g| g.0 < faults.generation(&node));
    if stale || faults.drops(&node) {
        // Headers, then a body that breaks: the client sees the connection cut mid-answer.
        let broken = futures_util::stream::once(async {
            Err::<axum::body::Bytes, io::Error>(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated dropped connection",
            ))
        });
        return Response::new(Body::from_stream(broken));
    }
    if let Some(down) = proxied_to_offline(&faults, &node, request.uri().path()) {
        // pveproxy forwards to the node and gives up when the connection fails.
        tokio::time::sleep(PROXY_GIVES_UP).await;
        tracing::debug!(node = %down, "proxied request to an offline node");
        return no_route_to_host();
    }
    let (latency, effect) = faults.effect(&node);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match effect {
        Effect::Pass => next.run(request).await,
        Effect::Hang => {
            // Long enough for any client timeout; the connection closes when the client gives up.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Effect::Fail(status) => {
            let body = serde_json::json!({ "data": null, "message": "simulated server failure\n" });
            (status, axum::Json(body)).into_response()
        }
        Effect::Garbage => {
            let response = next.run(request).await;
            let mut garbage = Response::new(Body::from(
                "<html><body>502 Bad Gateway</body></html>\u{0}\u{fffd}{\"data\":",
            ));
            *garbage.status_mut() = response.status();
            garbage
        }
    }
}

/// Runs before the TLS handshake and closes the connection of a node that drops them.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub faults: Arc<Faults>,
    pub node: String,
}

impl<I, S> Accept<I, S> for Gate {
    type Stream = I;
    type Service = Tagged<S>;
    type Future = Ready<io::Result<(I, Tagged<S>)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        if self.faults.drops(&self.node) {
            // Dropping the stream closes the socket: the client sees a reset or an early EOF.
            drop(stream);
            return ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "simulated dropped connection",
            )));
        }
        let generation = self.faults.generation(&self.node);
        ready(Ok((
            stream,
            Tagged {
                inner: service,
                generation,
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_spent_one_request_at_a_time_and_nodes_are_separate() {
        let faults = Faults::default();
        faults.set(
            Some("pve1"),
            Fault {
                fail_next: 2,
                ..Fault::default()
            },
        );
        let fails = |node: &str| matches!(faults.effect(node).1, Effect::Fail(_));
        assert!(!fails("pve2"));
        assert!(fails("pve1") && fails("pve1") && !fails("pve1"));
        faults.set(
            Some("pve2"),
            Fault {
                offline: true,
                ..Fault::default()
            },
        );
        assert!(faults.offline("pve2") && faults.drops("pve2") && !faults.drops("pve1"));
        faults.clear();
        assert!(!faults.offline("pve2"));
    }
}
