//! Tasks: a power action's task followed to the end with its log streamed once, a stopped
//! task that never has its effect, and wrong-state refusals as PVE words them.

use std::time::Duration;

use pve::{Error, Outcome, PowerAction, ResourceKind};

use crate::support::{cluster_client, sim, sim_with, token};

#[tokio::test]
async fn a_task_is_followed_to_the_end_with_each_log_line_streamed_once() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "", ResourceKind::Lxc, true).await;
    let node = client.locate(vmid).await.unwrap().node;
    let upid = client.power(vmid, PowerAction::Shutdown).await.unwrap();
    assert_eq!(
        (upid.node.as_str(), upid.kind.as_str()),
        (node.as_str(), "vzshutdown")
    );
    assert_eq!(upid.id, vmid.to_string());
    let mut lines = Vec::new();
    let (outcome, seen) = client
        .wait_task(&upid, Duration::from_millis(20), 0, |l| {
            lines.push((l.n, l.t.clone()))
        })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Ok);
    let numbers: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        numbers,
        [1, 2, 3, 4],
        "every line once, in order: {lines:?}"
    );
    assert_eq!(lines[3].1, "TASK OK");
    assert_eq!(seen, 4);
    assert_eq!(client.guest_status(vmid).await.unwrap().status, "stopped");
    // A resumed wait from line 4 streams nothing again.
    let mut again = 0;
    client
        .wait_task(&upid, Duration::from_millis(20), seen, |_| again += 1)
        .await
        .unwrap();
    assert_eq!(again, 0);
    match client.power(vmid, PowerAction::Shutdown).await.unwrap_err() {
        Error::Api {
            status: 500,
            message,
        } => assert_eq!(message, format!("CT {vmid} not running")),
        other => panic!("expected PVE's refusal, got {other:?}"),
    }
    sim.stop().await;
}

/// A start writes nothing until it ends; meanwhile PVE answers its "no content" placeholder.
/// The placeholder is no line, and the real first line, `TASK OK`, is streamed as line 1.
#[tokio::test]
async fn a_task_that_writes_only_its_end_streams_exactly_that_line() {
    let sim = sim_with(600, Duration::from_secs(7200)).await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "pve1", ResourceKind::Qemu, false).await;
    let upid = client.power(vmid, PowerAction::Start).await.unwrap();
    assert!(client.task_log(&upid, 0, 50).await.unwrap().is_empty());
    let mut lines = Vec::new();
    let (outcome, seen) = client
        .wait_task(&upid, Duration::from_millis(20), 0, |l| {
            lines.push((l.n, l.t.clone()))
        })
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(lines, [(1, "TASK OK".to_owned())]);
    assert_eq!(seen, 1);
    sim.stop().await;
}

#[tokio::test]
async fn a_stopped_task_ends_without_its_effect() {
    let sim = sim_with(3_000, Duration::from_secs(7200)).await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "pve1", ResourceKind::Qemu, false).await;
    let upid = client.power(vmid, PowerAction::Start).await.unwrap();
    assert_eq!(client.task_status(&upid).await.unwrap().status, "running");
    client.stop_task(&upid).await.unwrap();
    let (outcome, _) = client
        .wait_task(&upid, Duration::from_millis(20), 0, |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Failed("unexpected status".to_owned()));
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    assert_eq!(client.guest_status(vmid).await.unwrap().status, "stopped");
    sim.stop().await;
}
