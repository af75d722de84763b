//! Cluster awareness: members discovered from `/cluster/status`, fail-over when the entry
//! node is down, and guests found on the node that owns them now.

use std::time::Duration;

use pve::{Outcome, ResourceKind};

use crate::support::{cluster_client, sim, token};

#[tokio::test]
async fn members_are_discovered_with_the_urls_they_answer_on() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let found = client.discover(&sim.url()).await.unwrap();
    let expected: Vec<(String, String)> =
        sim.nodes().into_iter().map(|n| (n.name, n.url)).collect();
    let got: Vec<(String, String)> = found
        .iter()
        .map(|m| (m.name.clone(), m.url.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(found.iter().all(|m| m.online));
    // Each member's certificate, as the cluster reports it and as the member presents it.
    for (member, node) in found.iter().zip(sim.nodes()) {
        let reported = client.node_fingerprint(&member.name).await.unwrap();
        assert_eq!(reported.to_string(), node.fingerprint);
        assert_eq!(pve::probe_fingerprint(&member.url).await.unwrap(), reported);
    }
    assert!(matches!(
        client.node_fingerprint("../x").await,
        Err(pve::Error::Invalid(_))
    ));
    sim.stop().await;
}

#[tokio::test]
async fn an_offline_entry_node_hands_over_to_another_member() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    assert_eq!(client.current_member(), sim.nodes()[0].url);
    sim.set_fault(
        Some("pve1"),
        pve_sim::Fault {
            offline: true,
            ..pve_sim::Fault::default()
        },
    );
    let status = client.cluster_status().await.unwrap();
    assert_eq!(client.current_member(), sim.nodes()[1].url);
    let pve1 = status.iter().find(|e| e.name == "pve1").unwrap();
    assert!(!pve1.online, "the cluster reports the node offline");
    // Writes fail over too: the request never reached the offline node.
    let vmid = crate::support::guest(&client, "pve2", ResourceKind::Qemu, false).await;
    client.power(vmid, pve::PowerAction::Start).await.unwrap();
    sim.stop().await;
}

/// A request for a node that is down goes through a live member, which proxies it and gives
/// up: PVE answers 595 with its reason, `No route to host`, in the status line and an empty
/// body. The client passes PVE's own sentence on.
#[tokio::test]
async fn a_request_to_a_node_that_is_down_says_no_route_to_host() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "pve3", ResourceKind::Qemu, false).await;
    sim.set_fault(
        Some("pve3"),
        pve_sim::Fault {
            offline: true,
            ..pve_sim::Fault::default()
        },
    );
    match client.guest_status(vmid).await.unwrap_err() {
        pve::Error::Api { status, message } => {
            assert_eq!((status, message.as_str()), (595, "No route to host"));
        }
        other => panic!("expected PVE's 595, got {other:?}"),
    }
    let shown = client.guest_status(vmid).await.unwrap_err().to_string();
    assert_eq!(shown, "Proxmox VE answered 595: No route to host");
    sim.stop().await;
}

#[tokio::test]
async fn a_guest_migrated_between_calls_is_still_found() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = crate::support::guest(&client, "pve1", ResourceKind::Qemu, true).await;
    assert_eq!(client.locate(vmid).await.unwrap().node, "pve1");
    let upid = client.migrate(vmid, "pve3").await.unwrap();
    assert_eq!(upid.kind, "qmigrate");
    let (outcome, _) = client
        .wait_task(&upid, Duration::from_millis(50), 0, |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Ok);
    assert_eq!(client.locate(vmid).await.unwrap().node, "pve3");
    assert_eq!(client.guest_status(vmid).await.unwrap().status, "running");
    assert!(client.guest_config(vmid).await.unwrap().name.is_some());
    let addresses = client.guest_addresses(vmid).await.unwrap();
    assert_eq!(
        addresses.len(),
        2,
        "IPv4 and IPv6, no loopback: {addresses:?}"
    );
    assert!(matches!(
        client.migrate(vmid, "../pve2").await,
        Err(pve::Error::Invalid(_))
    ));
    assert!(matches!(
        client.guest_status(99_999).await,
        Err(pve::Error::GuestNotFound(99_999))
    ));
    sim.stop().await;
}
