//! Authentication modes: ticket login with CSRF on writes, the TOTP step, renewal across an
//! expiry of seconds, a fresh login after the tickets are voided, privilege separation, and
//! the permission self-test.

use std::time::Duration;

use pve::{Auth, Client, Error, Feature, Options, PowerAction, ResourceKind};

use crate::support::{cluster_client, guest, members, quick, sim, sim_with};

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

fn password(userid: &str, password: &str, totp: Option<&str>) -> Auth {
    Auth::Password {
        userid: userid.to_owned(),
        password: password.to_owned(),
        totp_secret: totp.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_password_login_reads_and_writes_with_its_csrf_token() {
    let sim = sim().await;
    let client = cluster_client(&sim, password("root@pam", sim.root_password(), None));
    let vmid = guest(&client, "pve1", ResourceKind::Qemu, false).await;
    let upid = client.power(vmid, PowerAction::Start).await.unwrap();
    assert_eq!(upid.user, "root@pam");
    let wrong = cluster_client(&sim, password("root@pam", "wrong-password", None));
    let err = wrong.version().await.unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-password"));
    sim.stop().await;
}

#[tokio::test]
async fn the_totp_step_is_taken_when_the_account_has_a_second_factor() {
    let sim = sim().await;
    sim.add_user("ops@pve", "ops-password-1", Some(SEED));
    sim.grant("/", "ops@pve", "PVEAuditor", true);
    let with = cluster_client(&sim, password("ops@pve", "ops-password-1", Some(SEED)));
    assert_eq!(with.cluster_status().await.unwrap().len(), 4);
    let without = cluster_client(&sim, password("ops@pve", "ops-password-1", None));
    assert!(matches!(
        without.version().await,
        Err(Error::SecondFactorRequired)
    ));
    let wrong = cluster_client(
        &sim,
        password(
            "ops@pve",
            "ops-password-1",
            Some("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        ),
    );
    assert!(matches!(
        wrong.version().await,
        Err(Error::AuthenticationFailed(_))
    ));
    sim.stop().await;
}

#[tokio::test]
async fn tickets_are_renewed_before_they_expire_and_replaced_when_voided() {
    // Tickets live 3 s in the simulator; the client renews after 1 s.
    let sim = sim_with(100, Duration::from_secs(3)).await;
    sim.add_user("ops@pve", "first-password", None);
    sim.grant("/", "ops@pve", "PVEAuditor", true);
    let options = Options {
        ticket_renew_after: Duration::from_secs(1),
        ..quick()
    };
    let client = Client::cluster(
        members(&sim),
        password("ops@pve", "first-password", None),
        options,
    )
    .unwrap();
    client.version().await.unwrap();
    // From now on only renewal can work: the password the client knows is no longer valid.
    sim.add_user("ops@pve", "second-password", None);
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        client
            .version()
            .await
            .expect("the renewed ticket outlives the first one's 3 s");
    }
    // Voided tickets (a new signing key) cannot be renewed; with the password back in force
    // the client logs in afresh on its own.
    sim.add_user("ops@pve", "first-password", None);
    sim.expire_tickets();
    client.version().await.unwrap();
    sim.stop().await;
}

#[tokio::test]
async fn tokens_are_privilege_separated_and_refusals_name_path_and_privilege() {
    let sim = sim().await;
    sim.add_user("pmp@pve", "pmp-password-1", None);
    sim.grant("/", "pmp@pve", "PVEVMAdmin", true);
    let secret = sim.add_token("pmp@pve!portal", true);
    sim.grant("/vms", "pmp@pve!portal", "PVEAuditor", true);
    let token = Auth::ApiToken {
        id: "pmp@pve!portal".to_owned(),
        secret,
    };
    let client = cluster_client(&sim, token);
    let admin = cluster_client(&sim, crate::support::token(&sim));
    let vmid = guest(&admin, "pve1", ResourceKind::Qemu, false).await;
    client.guest_status(vmid).await.unwrap();
    match client.power(vmid, PowerAction::Start).await.unwrap_err() {
        Error::PermissionDenied(message) => {
            assert!(
                message.contains(&format!("/vms/{vmid}")) && message.contains("VM.PowerMgmt"),
                "{message}"
            );
        }
        other => panic!("expected a permission refusal, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn the_permission_self_test_names_what_a_token_lacks_and_how_to_grant_it() {
    let sim = sim().await;
    sim.add_user("pmp@pve", "pmp-password-1", None);
    let secret = sim.add_token("pmp@pve!bare", true);
    let bare = cluster_client(
        &sim,
        Auth::ApiToken {
            id: "pmp@pve!bare".to_owned(),
            secret,
        },
    );
    let report = bare
        .permission_self_test("pmp@pve!bare", &Feature::ALL)
        .await
        .unwrap();
    let named: Vec<(&str, &str)> = report
        .missing
        .iter()
        .map(|m| (m.path, m.privilege))
        .collect();
    for needed in [
        ("/", "Sys.Audit"),
        ("/vms", "VM.PowerMgmt"),
        ("/vms", "VM.Console"),
        ("/storage", "Datastore.AllocateSpace"),
    ] {
        assert!(named.contains(&needed), "{needed:?} in {named:?}");
    }
    assert_eq!(report.missing.len(), 9);
    assert!(report.commands[0].starts_with("pveum role add PMPPortal --privs \""));
    assert!(
        report
            .commands
            .iter()
            .any(|c| c == "pveum acl modify /vms --tokens 'pmp@pve!bare' --roles PMPPortal")
    );
    assert!(
        report
            .commands
            .iter()
            .any(|c| c == "pveum acl modify /vms --users 'pmp@pve' --roles PMPPortal")
    );

    // Granted on both the user and the token, monitoring passes and the rest is still named.
    sim.grant("/", "pmp@pve", "PVEAuditor", true);
    sim.grant("/", "pmp@pve!bare", "PVEAuditor", true);
    let report = bare
        .permission_self_test("pmp@pve!bare", &[Feature::Monitoring, Feature::Power])
        .await
        .unwrap();
    let named: Vec<&str> = report.missing.iter().map(|m| m.privilege).collect();
    assert_eq!(named, ["VM.PowerMgmt"]);
    let full = cluster_client(&sim, crate::support::token(&sim));
    assert!(
        full.permission_self_test(sim.token_id(), &Feature::ALL)
            .await
            .unwrap()
            .missing
            .is_empty()
    );
    sim.stop().await;
}
