//! Store tests, run on SQLite and PostgreSQL alike: migrations, readiness, settings, the
//! setup token.

use pmp::db::DbError;
use pmp::identity::setup;
use pmp::settings::{self, Key};
use pmp::with_pool;

use crate::support::{Engine, TestDb, spawn_app};

crate::on_both_engines!(
    migrations_apply_once_and_readiness_is_current,
    settings_round_trip_hostile_values_verbatim,
    setup_token_is_single_use_per_start_and_stored_hashed,
    an_unknown_migration_makes_readyz_fail_and_start_up_refuse,
);

async fn migrations_apply_once_and_readiness_is_current(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    assert_eq!(db.engine(), format!("{engine:?}").to_lowercase());
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    let readiness = db.readiness().await.unwrap();
    assert!(readiness.is_current(), "{readiness:?}");
}

async fn settings_round_trip_hostile_values_verbatim(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    db.migrate().await.unwrap();
    const K: Key = Key("test.value");
    assert_eq!(settings::get(&db, K).await.unwrap(), None);
    let hostile = "'; DROP TABLE settings; -- <script>alert(1)</script> \u{202e}ǅ 💥";
    settings::set(&db, K, hostile).await.unwrap();
    assert_eq!(
        settings::get(&db, K).await.unwrap().as_deref(),
        Some(hostile)
    );
    settings::set(&db, K, "second").await.unwrap();
    assert_eq!(
        settings::get(&db, K).await.unwrap().as_deref(),
        Some("second")
    );
    const ROWS: &str = "SELECT COUNT(*) FROM settings WHERE key = $1";
    let rows: i64 =
        with_pool!(&db, pool => sqlx::query_scalar(ROWS).bind(K.0).fetch_one(pool).await.unwrap());
    assert_eq!(rows, 1, "an overwrite replaces the row");
}

async fn setup_token_is_single_use_per_start_and_stored_hashed(engine: Engine) {
    let test_db = TestDb::new(engine).await;
    let db = test_db.connect().await;
    db.migrate().await.unwrap();
    assert!(!setup::is_complete(&db).await.unwrap());
    let first = setup::issue_token(&db).await.unwrap().expect("setup open");
    assert!(first.len() >= 43, "32 random bytes, base64");
    assert!(setup::token_matches(&db, &first).await.unwrap());
    assert!(!setup::token_matches(&db, "guess").await.unwrap());
    let stored: Vec<String> = with_pool!(&db, pool => sqlx::query_scalar("SELECT value FROM settings")
        .fetch_all(pool).await.unwrap());
    assert!(
        stored.iter().all(|v| !v.contains(&first)),
        "token stored in clear"
    );
    let second = setup::issue_token(&db).await.unwrap().expect("setup open");
    assert_ne!(first, second);
    assert!(!setup::token_matches(&db, &first).await.unwrap());
    assert!(setup::token_matches(&db, &second).await.unwrap());
}

async fn an_unknown_migration_makes_readyz_fail_and_start_up_refuse(engine: Engine) {
    let app = spawn_app(engine).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    const FUTURE: &str = "INSERT INTO _sqlx_migrations \
        (version, description, success, checksum, execution_time) \
        VALUES (99990101000000, 'from the future', TRUE, $1, 0)";
    with_pool!(app.portal.db(), pool => sqlx::query(FUTURE).bind(vec![0u8; 48]).execute(pool).await.unwrap().rows_affected());
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(
        body["reason"],
        "the database schema is newer than this build"
    );

    let db = app.db.connect().await;
    let err = db.migrate().await.unwrap_err();
    assert!(
        matches!(err, DbError::UnknownMigration(99990101000000)),
        "{err}"
    );
}
