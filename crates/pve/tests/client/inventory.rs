//! Edits, clones, backups, storages, pools, RRD points and console tickets through the client.

use std::time::Duration;

use pve::{
    BackupMode, CloneRequest, ConfigEdit, ConsoleKind, ContentKind, Error, Outcome, ResourceKind,
    Timeframe,
};

use crate::support::{cluster_client, guest, sim, token};

const POLL: Duration = Duration::from_millis(20);

#[tokio::test]
async fn config_edits_keep_unknown_keys_and_refuse_a_stale_digest() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = guest(&client, "", ResourceKind::Qemu, true).await;
    let before = client.guest_config(vmid).await.unwrap();
    let edit = ConfigEdit {
        name: Some("renamed".to_owned()),
        description: Some("<b>notes</b>".to_owned()),
        tags: Some(vec!["prod".to_owned(), "web".to_owned()]),
        cores: Some(2),
        memory_mib: Some(3072),
        onboot: Some(true),
    };
    client
        .edit_config(vmid, &edit, before.digest.as_deref())
        .await
        .unwrap();
    let after = client.guest_config(vmid).await.unwrap();
    assert_eq!(
        (
            after.name.as_deref(),
            after.cores,
            after.memory,
            after.onboot
        ),
        (Some("renamed"), Some(2), Some(3072), true)
    );
    assert_eq!(after.tags, ["prod", "web"]);
    assert_eq!(
        after.other.get("net0"),
        before.other.get("net0"),
        "unmodelled keys survive"
    );
    let stale = client
        .edit_config(
            vmid,
            &ConfigEdit {
                cores: Some(4),
                ..ConfigEdit::default()
            },
            before.digest.as_deref(),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::Api { status: 500, .. })),
        "{stale:?}"
    );
    let cleared = ConfigEdit {
        description: Some(String::new()),
        tags: Some(Vec::new()),
        ..ConfigEdit::default()
    };
    client.edit_config(vmid, &cleared, None).await.unwrap();
    let bare = client.guest_config(vmid).await.unwrap();
    assert!(bare.description.is_none() && bare.tags.is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn clones_backups_and_storage_content_are_typed() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = guest(&client, "", ResourceKind::Qemu, true).await;
    let request = CloneRequest {
        newid: 700,
        name: Some("copy".to_owned()),
        target: Some("pve3".to_owned()),
        full: true,
        pool: None,
    };
    let upid = client.clone_guest(vmid, &request).await.unwrap();
    assert_eq!(
        client.wait_task(&upid, POLL, 0, |_| {}).await.unwrap().0,
        Outcome::Ok
    );
    assert_eq!(client.locate(700).await.unwrap().node, "pve3");

    let upid = client
        .backup(
            vmid,
            "local",
            BackupMode::Snapshot,
            "gzip",
            "{{guestname}} nightly",
        )
        .await
        .unwrap();
    assert_eq!(upid.kind, "vzdump");
    assert_eq!(
        client.wait_task(&upid, POLL, 0, |_| {}).await.unwrap().0,
        Outcome::Ok
    );
    let node = client.locate(vmid).await.unwrap().node;
    let content = client
        .storage_content(&node, "local", Some(vmid))
        .await
        .unwrap();
    let backups: Vec<_> = content
        .iter()
        .filter(|c| c.kind() == ContentKind::Backup)
        .collect();
    assert_eq!(backups.len(), 1);
    assert!(
        backups[0]
            .notes
            .as_deref()
            .unwrap_or_default()
            .ends_with(" nightly")
    );
    assert!(
        backups[0].volid.ends_with(".vma.gz"),
        "{}",
        backups[0].volid
    );
    let all = client.storage_content(&node, "local", None).await.unwrap();
    assert!(
        all.iter().any(|c| c.kind() == ContentKind::Iso)
            && all.iter().any(|c| c.kind() == ContentKind::Template)
    );
    let storages = client.storages(&node).await.unwrap();
    assert!(storages.iter().all(|s| s.total >= s.used && s.active));
    assert!(!client.pools().await.unwrap().is_empty());
    for bad in ["../local", "local/../../etc", ""] {
        assert!(
            matches!(
                client.storage_content(&node, bad, None).await,
                Err(Error::Invalid(_))
            ),
            "{bad}"
        );
    }
    sim.stop().await;
}

#[tokio::test]
async fn rrd_points_and_console_tickets_come_from_the_owning_node() {
    let sim = sim().await;
    let client = cluster_client(&sim, token(&sim));
    let vmid = guest(&client, "", ResourceKind::Qemu, true).await;
    for frame in [
        Timeframe::Hour,
        Timeframe::Day,
        Timeframe::Week,
        Timeframe::Month,
        Timeframe::Year,
    ] {
        let points = client.guest_rrd(vmid, frame, false).await.unwrap();
        assert_eq!(points.len(), 70);
        assert!(points.windows(2).all(|w| w[0].time < w[1].time));
        assert!(points.iter().all(|p| p.maxmem > 0.0));
    }
    let node = client
        .node_rrd("pve1", Timeframe::Hour, true)
        .await
        .unwrap();
    assert!(node.iter().all(|p| p.memtotal > 0.0));
    let (at, ticket) = client.console(vmid, ConsoleKind::Vnc).await.unwrap();
    assert_eq!(at, client.locate(vmid).await.unwrap().node);
    assert!(ticket.ticket.starts_with("PVEVNC:") && ticket.cert.is_some());
    let (_, term) = client.console(vmid, ConsoleKind::Terminal).await.unwrap();
    assert!(term.cert.is_none() && term.port > 0);
    sim.stop().await;
}
