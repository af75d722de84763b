//! `pmp user reset-password`, `pmp worker` and the start-up checks on keys, run as real
//! processes.

use crate::cli::{fails_with, pmp, user_command};

use reaper::SpawnReaped as _;

#[tokio::test]
async fn reset_password_on_the_command_line_revokes_and_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let created = user_command(
        dir.path(),
        &["create-admin", "--username", "alice"],
        "violet harbour lantern",
    );
    assert!(created.status.success(), "{created:?}");
    let unknown = user_command(
        dir.path(),
        &["reset-password", "--username", "nobody"],
        "a new passphrase here",
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no user named nobody"));
    let weak = user_command(
        dir.path(),
        &["reset-password", "--username", "alice"],
        "qwerty123456",
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("commonly used"));
    let reset = user_command(
        dir.path(),
        &[
            "reset-password",
            "--username",
            "alice",
            "--must-change",
            "--reset-2fa",
        ],
        "a new passphrase here",
    );
    assert!(reset.status.success(), "{reset:?}");
    assert!(String::from_utf8_lossy(&reset.stdout).contains("Password of alice set"));

    let url: pmp::db::DatabaseUrl =
        format!("sqlite://{}", dir.path().join("data/pmp.db").display())
            .parse()
            .unwrap();
    let settings = pmp::db::PoolSettings {
        max_connections: 1,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let db = pmp::db::Db::connect(&url, settings).await.unwrap();
    let name = pmp::identity::users::Username::parse("alice").unwrap();
    let user = pmp::identity::users::by_name(&db, &name)
        .await
        .unwrap()
        .unwrap();
    assert!(user.must_change_password);
    assert_eq!(user.auth_epoch, 1, "outstanding access tokens are void");
    let kinds: Vec<String> = pmp::audit::events::recent(&db, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["password.reset"]);
    db.close().await;
}

#[test]
fn weak_or_placeholder_keys_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value, expected) in [
        (
            "PMP_JWT_SECRET",
            "too-short",
            "JWT secret is shorter than 32 bytes",
        ),
        (
            "PMP_JWT_SECRET",
            "change-me-change-me-change-me-change-me",
            "looks like a placeholder",
        ),
        (
            "PMP_SECRET_KEY",
            "bm90IDMyIGJ5dGVz",
            "32 bytes in standard base64",
        ),
    ] {
        let mut command = pmp(dir.path());
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env(variable, value);
        let line = fails_with(command, &[expected]);
        assert!(!line.contains(value), "the value is never echoed: {line}");
    }
    assert!(
        !dir.path().join("data/pmp.db").exists(),
        "nothing is created before the keys pass"
    );
}

#[tokio::test]
async fn pmp_worker_runs_queued_jobs_and_stops_cleanly_on_sigterm() {
    use std::io::BufReader;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let url: pmp::db::DatabaseUrl =
        format!("sqlite://{}", dir.path().join("data/pmp.db").display())
            .parse()
            .unwrap();
    let settings = pmp::db::PoolSettings {
        max_connections: 1,
        connect_timeout: std::time::Duration::from_secs(5),
    };
    let db = pmp::db::Db::connect(&url, settings).await.unwrap();
    db.migrate().await.unwrap();
    let job = pmp::jobs::queue::NewJob::new("noop", serde_json::json!({}));
    let id = pmp::jobs::queue::enqueue(&db, &job).await.unwrap();

    let mut child = pmp(dir.path())
        .args(["worker", "--concurrency", "2", "--log-format", "json"])
        .stderr(Stdio::piped())
        .spawn_reaped()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    crate::cli::read_until(&mut stderr, "job worker started");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let job = pmp::jobs::queue::get(&db, &id).await.unwrap().unwrap();
        if job.state == "succeeded" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never ran the job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    crate::cli::terminate(&child);
    crate::cli::read_until(&mut stderr, "job worker stopped");
    assert!(child.wait().unwrap().success());
    db.close().await;
}
