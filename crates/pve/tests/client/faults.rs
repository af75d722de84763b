//! Robustness under the simulator's faults: slow answers, 5xx bursts and rates, garbage
//! bodies, dropped connections and hangs each give a typed error or a retried success, never
//! a panic, and never a wait beyond the configured timeout and retries.

use std::time::{Duration, Instant};

use pve::{Error, PowerAction, ResourceKind};
use pve_sim::Fault;

use crate::support::{cluster_client, quick, sim, token};

/// The longest a read may take: every attempt times out, with the backoff in between.
fn bound() -> Duration {
    let o = quick();
    o.timeout * (o.read_retries + 1) + o.retry_backoff * 4 + Duration::from_secs(2)
}

#[tokio::test]
async fn slow_and_hanging_servers_time_out_within_the_bound() {
    let sim = sim().await;
    let client = pve::Client::new(
        &sim.url(),
        token(&sim),
        sim.fingerprint().parse().unwrap(),
        Duration::from_secs(1),
    )
    .unwrap();
    for fault in [
        Fault {
            latency_ms: 5_000,
            ..Fault::default()
        },
        Fault {
            hang: true,
            ..Fault::default()
        },
    ] {
        sim.set_fault(None, fault);
        let started = Instant::now();
        let err = client.version().await.unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err:?}");
        assert!(started.elapsed() < bound(), "took {:?}", started.elapsed());
    }
    sim.stop().await;
}

#[tokio::test]
async fn bursts_of_5xx_are_retried_for_reads_and_never_for_writes() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "pve1", ResourceKind::Qemu, false).await;
    sim.set_fault(
        None,
        Fault {
            fail_next: 2,
            ..Fault::default()
        },
    );
    assert_eq!(
        client.version().await.unwrap().release,
        "9.1",
        "two failures, then the third try"
    );

    sim.set_fault(
        None,
        Fault {
            error_rate: 1.0,
            ..Fault::default()
        },
    );
    let err = client.version().await.unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
    sim.clear_faults();
    let before = sim.tasks().len();
    // One failure, then success: the write is not repeated, so no second task exists.
    let located = client.locate(vmid).await.unwrap();
    assert_eq!(located.node, "pve1");
    sim.set_fault(
        None,
        Fault {
            fail_next: 1,
            ..Fault::default()
        },
    );
    // The first request of `power` is the lookup (a read, retried); make the write itself fail.
    let _ = client.locate(vmid).await.unwrap();
    sim.set_fault(
        None,
        Fault {
            error_rate: 1.0,
            ..Fault::default()
        },
    );
    assert!(client.power(vmid, PowerAction::Start).await.is_err());
    assert_eq!(
        sim.tasks().len(),
        before,
        "a failed write started nothing and was not repeated"
    );
    sim.stop().await;
}

#[tokio::test]
async fn garbage_and_dropped_connections_are_typed_errors() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    sim.set_fault(
        None,
        Fault {
            garbage: true,
            ..Fault::default()
        },
    );
    let err = client.version().await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    assert!(err.to_string().contains("not PVE's JSON"));

    sim.set_fault(
        None,
        Fault {
            drop: true,
            ..Fault::default()
        },
    );
    let started = Instant::now();
    let err = client.version().await.unwrap_err();
    // Open connections are cut mid-answer, new ones refused: either way a typed error.
    assert!(
        matches!(err, Error::Unreachable { .. } | Error::Interrupted { .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < bound());
    sim.clear_faults();
    assert_eq!(
        client.version().await.unwrap().release,
        "9.1",
        "it recovers"
    );
    sim.stop().await;
}
