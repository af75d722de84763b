//! The audit trail's hash chain, on both engines: intact after real activity; an edited entry
//! is named by `verify`, and so is the entry after a deleted one. `pmp audit verify` says the
//! same on the command line.

use std::process::Stdio;

use crate::support::{Engine, PASSWORD, call, get_json, spawn_app};

crate::on_both_engines!(
    an_edited_or_deleted_entry_breaks_the_chain_there,
    search_and_export_are_for_auditors_and_csv_cells_are_inert,
    appends_wait_for_other_writers_instead_of_failing,
);

async fn exec(db: &pmp::db::Db, sql: &'static str) {
    match db {
        pmp::db::Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
        pmp::db::Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop).unwrap(),
    }
}

async fn an_edited_or_deleted_entry_breaks_the_chain_there(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    // Real activity: failed and successful sign-ins, written concurrently.
    let attempts = (0..6).map(|i| {
        let password = if i % 2 == 0 {
            "wrong password here"
        } else {
            PASSWORD
        };
        app.client
            .post(app.url("/api/v1/auth/token"))
            .json(&serde_json::json!({ "username": "root", "password": password }))
            .send()
    });
    futures_util::future::join_all(attempts).await;
    let db = app.portal.db();
    let verified = pmp::audit::verify(db).await.unwrap().unwrap();
    assert!(verified >= 6, "{verified} entries");
    exec(
        db,
        "UPDATE security_events SET detail = 'nothing happened' WHERE id = 3",
    )
    .await;
    assert_eq!(
        pmp::audit::verify(db).await.unwrap(),
        Err(pmp::audit::Broken::Edited(3))
    );
    exec(db, "DELETE FROM security_events WHERE id <= 3").await;
    // The first remaining entry still points at the deleted one.
    assert_eq!(
        pmp::audit::verify(db).await.unwrap(),
        Err(pmp::audit::Broken::Unlinked(4))
    );
}

/// An append reads the last hash, then inserts. On SQLite a deferred transaction would fail
/// with "database is locked" whenever another connection committed in between (CI saw a sign-in
/// answer 500 that way while schedules fired); the append must wait for the lock instead.
async fn appends_wait_for_other_writers_instead_of_failing(engine: Engine) {
    const BUMP: &str = "INSERT INTO settings (key, value, updated_at) VALUES ('test.bump', $1, 0) \
        ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    let app = spawn_app(engine).await;
    let db = app.portal.db().clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (db, stop) = (db.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let value = format!("{w}-{n}");
                    match &db {
                        pmp::db::Db::Sqlite(p) => {
                            sqlx::query(BUMP).bind(value).execute(p).await.map(drop)
                        }
                        pmp::db::Db::Postgres(p) => {
                            sqlx::query(BUMP).bind(value).execute(p).await.map(drop)
                        }
                    }
                    .expect("a plain write");
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..150 {
        let detail = format!("append {i}");
        let entry = pmp::audit::Entry {
            at: i,
            kind: "test.append",
            user_id: None,
            username: None,
            ip: "",
            user_agent: "",
            detail: &detail,
            actor: "system",
            target: "",
            outcome: "success",
            request_id: "",
        };
        pmp::audit::append(&db, &entry)
            .await
            .unwrap_or_else(|e| panic!("append {i} failed beside other writers: {e}"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    assert!(written > 0, "the other writers ran");
    assert!(pmp::audit::verify(&db).await.unwrap().unwrap() >= 150);
}

#[tokio::test]
async fn pmp_audit_verify_names_the_first_bad_entry() {
    let app = spawn_app(Engine::Sqlite).await;
    app.create_admin("root").await;
    for _ in 0..3 {
        app.post_json(
            "/api/v1/auth/token",
            serde_json::json!({ "username": "root", "password": "wrong password here" }),
        )
        .await;
    }
    let url = app.db.url.to_string();
    let run = || {
        crate::cli::pmp(app.data_dir())
            .args(["audit", "verify", "--database-url", &url])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let intact = run();
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );
    assert!(
        String::from_utf8_lossy(&intact.stdout)
            .contains("the audit trail is intact: 3 chained entries verified")
    );
    exec(
        app.portal.db(),
        "UPDATE security_events SET ip = '203.0.113.9' WHERE id = 2",
    )
    .await;
    let mut command = crate::cli::pmp(app.data_dir());
    command.args(["audit", "verify", "--database-url", &url]);
    crate::cli::fails_with(command, &["audit entry #2 was changed"]);
}

async fn search_and_export_are_for_auditors_and_csv_cells_are_inert(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    app.create_user("bob", false).await;
    let auditor = app.create_user("auditor", false).await;
    let root = app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = serde_json::json!({ "user_id": auditor, "path": "/", "role_id": "auditor" });
    assert_eq!(
        call(
            &app,
            reqwest::Method::POST,
            "/api/v1/acl",
            &root,
            Some(grant)
        )
        .await
        .status(),
        201
    );
    let bob = app.api_token("bob").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit_t = app.api_token("auditor").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // A failed sign-in whose user agent is a spreadsheet formula.
    app.client
        .post(app.url("/api/v1/auth/token"))
        .header("user-agent", "=HYPERLINK(\"http://evil.example\",\"x\")")
        .json(&serde_json::json!({ "username": "bob", "password": "wrong password here" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        call(&app, reqwest::Method::GET, "/api/v1/audit", &bob, None)
            .await
            .status(),
        403
    );
    let failed = get_json(&app, "/api/v1/audit?action=login.failed", &audit_t).await;
    let rows = failed.as_array().unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|e| e["kind"] == "login.failed"),
        "{failed}"
    );
    let hostile = get_json(
        &app,
        "/api/v1/audit?q=%27%3B%20DROP%20TABLE%20security_events%3B--",
        &audit_t,
    )
    .await;
    assert_eq!(hostile, serde_json::json!([]));
    let csv = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit/export?format=csv",
        &audit_t,
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(csv.starts_with("id,at,kind,"));
    assert!(
        csv.contains("\"'=HYPERLINK(") && !csv.contains(",\"=HYPERLINK"),
        "{csv}"
    );
    let jsonl = call(
        &app,
        reqwest::Method::GET,
        "/api/v1/audit/export",
        &audit_t,
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        jsonl.lines().count() >= 3
            && jsonl
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert_eq!(
        call(
            &app,
            reqwest::Method::GET,
            "/api/v1/audit/export?format=xlsx",
            &audit_t,
            None
        )
        .await
        .status(),
        400
    );
    assert!(
        pmp::audit::verify(app.portal.db()).await.unwrap().is_ok(),
        "the chain is intact"
    );
}
