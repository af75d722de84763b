//! `pmp backup` of a populated, running portal and `pmp restore` onto a fresh install, on both
//! engines: every user, access entry, server (with its sealed token), job and audit entry is
//! back, the restored portal signs its users in and reaches PVE with the restored secret, and
//! `pmp audit verify` passes. A backup refuses to overwrite a file; a restore refuses a
//! database that has users, a file sealed with another key, and a file that is no backup.

use std::path::Path;
use std::process::Stdio;

use pmp::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::pmp;
use crate::pve::{add_server, fast_app, grant, job_end, sim, token, until};
use crate::support::{Engine, TestApp, TestDb, call, get_json, queued};

crate::on_both_engines!(a_backup_restores_onto_a_fresh_install_whole_and_verified);

/// Runs `pmp <args> --database-url URL --data-dir DIR`; its success and output.
fn run(args: &[&str], url: &str, dir: &Path) -> (bool, String) {
    let output = pmp(dir)
        .args(args)
        .args(["--database-url", url, "--data-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The audit entries older than the first of `kind`, as the API lists them, oldest first.
async fn audit_before(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let mut entries = get_json(app, "/api/v1/audit?limit=500", token)
        .await
        .as_array()
        .unwrap()
        .clone();
    entries.reverse();
    let cut = entries
        .iter()
        .position(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} entry"));
    entries.truncate(cut);
    entries
}

/// The parts of the server list that a restore must bring back (health is live).
async fn servers(app: &TestApp, token: &str) -> Vec<(Value, Value)> {
    let list = get_json(app, "/api/v1/servers", token).await;
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].clone(), s["url"].clone()))
        .collect()
}

async fn a_backup_restores_onto_a_fresh_install_whole_and_verified(engine: Engine) {
    let app = fast_app(engine).await;
    app.create_admin("root").await;
    let bob = app.create_user("bob", false).await;
    let root = token(&app, "root").await;
    let sim = sim("alpha", 4).await;
    add_server(&app, &root, &sim, "alpha").await;
    let stopped = until(
        &app,
        "/api/v1/guests?type=qemu&status=stopped",
        &root,
        |p| {
            p["items"]
                .as_array()
                .is_some_and(|i| i.iter().any(|g| g["template"] == false))
        },
    )
    .await;
    let vmid = stopped["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["template"] == false)
        .unwrap()["vmid"]
        .clone();
    grant(
        &app,
        &root,
        &bob,
        &format!("/guests/alpha/{vmid}"),
        "tenant",
    )
    .await;
    let path = format!("/api/v1/guests/alpha/{vmid}/actions/start");
    let path = path.as_str();
    let job = queued(&app, Method::POST, path, &root, Some(json!({}))).await;
    job_end(&app, &root, &job).await;
    let wrong = json!({"username": "bob", "password": "not bob's password at all"});
    app.post_json("/api/v1/auth/token", wrong).await;

    let dir = app.data_dir();
    let url = app.db.url.to_string();
    let file = dir.join("backups").join("portal.pmp");
    let file_arg = file.to_str().unwrap();
    let (ok, said) = run(&["backup", "--output", file_arg], &url, dir);
    assert!(ok, "{said}");
    assert!(
        said.contains("backed up") && said.contains("tables"),
        "{said}"
    );
    let sealed = std::fs::read_to_string(&file).unwrap();
    assert!(sealed.starts_with("PMP-BACKUP 1\n"));
    // Markers long enough that random ciphertext text cannot hold them by chance (a
    // three-letter name turns up in a large base64 body now and then).
    let markers = [
        sim.token_secret(),
        "Cluster alpha",
        "security_events",
        "password_hash",
    ];
    for plain in markers {
        assert!(!sealed.contains(plain), "{plain} readable in the backup");
    }
    let (ok, said) = run(&["backup", "--output", file_arg], &url, dir);
    assert!(!ok && said.contains("already exists"), "{said}");
    // Onto the populated database itself: refused, nothing changed.
    let (ok, said) = run(&["restore", "--input", file_arg], &url, dir);
    assert!(
        !ok && said.contains("restore only onto a fresh install"),
        "{said}"
    );

    let fresh = TestDb::new(engine).await;
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh_url = fresh.url.to_string();
    // A fresh install with its own generated key cannot open the backup...
    let (ok, said) = run(
        &["restore", "--input", file_arg],
        &fresh_url,
        fresh_dir.path(),
    );
    assert!(!ok && said.contains("another data key"), "{said}");
    let junk = fresh_dir.path().join("junk.pmp");
    std::fs::write(&junk, "PMP-BACKUP 1\nv1.AAAA.BBBB\n<script>\n").unwrap();
    let (ok, said) = run(
        &["restore", "--input", junk.to_str().unwrap()],
        &fresh_url,
        fresh_dir.path(),
    );
    assert!(!ok && !said.contains("panicked"), "{said}");
    // ...and with the portal's key in place it restores.
    std::fs::remove_file(fresh_dir.path().join("secret.key")).unwrap();
    std::fs::copy(dir.join("secret.key"), fresh_dir.path().join("secret.key")).unwrap();
    let (ok, said) = run(
        &["restore", "--input", file_arg],
        &fresh_url,
        fresh_dir.path(),
    );
    assert!(ok, "{said}");
    assert!(said.contains("restored"), "{said}");
    let (ok, said) = run(&["audit", "verify"], &fresh_url, fresh_dir.path());
    assert!(ok && said.contains("the audit trail is intact"), "{said}");

    let restored = spawn_on(fresh, fresh_dir).await;
    let root_again = token(&restored, "root").await;
    let bob_again = token(&restored, "bob").await;
    for listing in ["/api/v1/users", "/api/v1/acl", "/api/v1/jobs"] {
        assert_eq!(
            get_json(&app, listing, &root).await,
            get_json(&restored, listing, &root_again).await,
            "{listing}"
        );
    }
    assert_eq!(
        servers(&app, &root).await,
        servers(&restored, &root_again).await
    );
    let before = audit_before(&app, &root, "backup.created").await;
    let after = audit_before(&restored, &root_again, "backup.restored").await;
    assert!(before.len() >= 5, "{} entries", before.len());
    assert_eq!(before, after);
    // The restored sealed token still reaches PVE, and bob still sees only his guest.
    let status = call(
        &restored,
        Method::POST,
        "/api/v1/servers/alpha/test",
        &root_again,
        None,
    )
    .await
    .status();
    assert!(status.is_success(), "{status}");
    let guests = get_json(&restored, "/api/v1/guests", &bob_again).await;
    assert_eq!(guests["total"], 1, "{guests}");
    println!(
        "restored {} audit entries, users, ACL, servers and jobs intact",
        after.len()
    );
}

/// A portal on an already restored database.
async fn spawn_on(db: TestDb, dir: tempfile::TempDir) -> TestApp {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        database_url: Some(db.url.clone()),
        inventory_idle_secs: 1,
        ..Config::default()
    };
    crate::support::app_on(config, db, dir).await
}
