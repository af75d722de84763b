//! Prometheus metrics: what the portal counts as it works (requests by route, PVE calls per
//! server, sign-ins, security events, alerts raised) through the `metrics` facade into one
//! process-wide Prometheus recorder, rendered for the `/metrics` route (`health::metrics`).
//! Counters are per process, as Prometheus expects: it sums them over instances.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: a fast page to a slow PVE answer.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder, installed on first use (several portals started in one process,
/// as tests do, share it, as they share the log subscriber).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "the metrics recorder could not be installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder and keeps its histograms drained; a second portal started in the
/// same process reuses both.
pub fn install() {
    static UPKEEP: std::sync::Once = std::sync::Once::new();
    if handle().is_some() {
        UPKEEP.call_once(|| {
            tokio::spawn(async {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    if let Some(handle) = handle() {
                        handle.run_upkeep();
                    }
                }
            });
        });
    }
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        "pmp_http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "pmp_http_request_duration_seconds",
        "HTTP request latency, by method and route template"
    );
    describe_counter!(
        "pmp_pve_requests_total",
        "Proxmox VE API calls, by server and outcome (ok or the kind of failure)"
    );
    describe_histogram!(
        "pmp_pve_request_duration_seconds",
        "Proxmox VE API call latency (retries included), by server"
    );
    describe_counter!(
        "pmp_logins_total",
        "Sign-in attempts, by outcome (success, failure, locked)"
    );
    describe_counter!(
        "pmp_security_events_total",
        "Audit trail entries written, by kind"
    );
    describe_counter!("pmp_alerts_raised_total", "Alerts raised, by rule");
    describe_counter!(
        "pmp_syslog_messages_total",
        "Audit entries forwarded to syslog, by outcome (sent, or failed and to be sent again)"
    );
}

/// Counts one answered request; `route` is the route template, never the raw path.
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    let (method, route) = (method.to_owned(), route.to_owned());
    metrics::counter!("pmp_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("pmp_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
}

/// Counts one audit entry, and a sign-in when it is one.
pub fn security_event(kind: &str) {
    metrics::counter!("pmp_security_events_total", "kind" => kind.to_owned()).increment(1);
    let login = match kind {
        "login.succeeded" => "success",
        "login.failed" => "failure",
        "login.locked" => "locked",
        _ => return,
    };
    metrics::counter!("pmp_logins_total", "outcome" => login).increment(1);
}

/// Counts a newly raised alert.
pub fn alert_raised(rule: &'static str) {
    metrics::counter!("pmp_alerts_raised_total", "rule" => rule).increment(1);
}

/// Counts audit entries handed to the syslog receiver, or not.
pub fn syslog_messages(outcome: &'static str, count: usize) {
    metrics::counter!("pmp_syslog_messages_total", "outcome" => outcome)
        .increment(u64::try_from(count).unwrap_or(u64::MAX));
}

/// Watches the PVE calls of one server.
#[derive(Debug)]
pub struct PveCalls {
    server: String,
}

impl PveCalls {
    /// An observer for the calls to `server`.
    pub fn new(server: &str) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            server: server.to_owned(),
        })
    }
}

impl pve::Observer for PveCalls {
    fn observe(
        &self,
        _method: &str,
        _path: &str,
        elapsed: Duration,
        outcome: Result<(), &pve::Error>,
    ) {
        let outcome = outcome.map_or_else(pve::Error::kind, |()| "ok");
        metrics::counter!("pmp_pve_requests_total", "server" => self.server.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("pmp_pve_request_duration_seconds", "server" => self.server.clone())
            .record(elapsed.as_secs_f64());
    }
}

/// The text of every metric recorded so far (empty when the recorder could not be installed).
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
