//! `spawn_app()` and friends: a fresh database per test on either engine, the portal started
//! in-process on a random port, and an HTTP client pointed at it.

use std::path::PathBuf;
use std::sync::Once;

use pmp::app::portal::Portal;
use pmp::config::Config;
use pmp::db::{DatabaseUrl, Db, PoolSettings};
use sqlx::Connection as _;

/// Which database engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Generates one test per engine for each async fn `name(engine: Engine)` listed, in modules
/// `sqlite` and `postgres`, so the test output names the engine each run used.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() { super::$name($crate::support::Engine::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() { super::$name($crate::support::Engine::Postgres).await } )*
        }
    };
}

/// The PostgreSQL server tests use; `scripts/test` exports it. Tests fail, never skip, when
/// it is unreachable.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(engine: Engine) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match engine {
            Engine::Sqlite => Self {
                url: DatabaseUrl::Sqlite(dir.path().join("pmp.db")),
                _dir: dir,
                pg_name: None,
            },
            Engine::Postgres => {
                let name = format!("pmp_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {admin} is required for this test (scripts/test starts one): {e}")
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    url: format!("{base}/{name}").parse().expect("test database URL"),
                    _dir: dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn connect(&self) -> Db {
        let settings = PoolSettings {
            max_connections: 5,
            connect_timeout: std::time::Duration::from_secs(10),
        };
        Db::connect(&self.url, settings).await.expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; use a fresh one.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A portal running for one test.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub portal: Portal,
    pub db: TestDb,
    _data: tempfile::TempDir,
}

pub fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Starts the portal on a random port with a fresh database on `engine`.
pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, |_| {}).await
}

/// Like `spawn_app`, letting the test adjust the configuration first.
pub async fn spawn_app_with(engine: Engine, adjust: impl FnOnce(&mut Config)) -> TestApp {
    install_crypto();
    let db = TestDb::new(engine).await;
    let data = tempfile::tempdir().expect("data dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.path().to_owned(),
        database_url: Some(db.url.clone()),
        ..Config::default()
    };
    adjust(&mut config);
    app_on(config, db, data).await
}

/// Starts the portal with `config`, on `db` with its data in `data`.
pub async fn app_on(config: Config, db: TestDb, data: tempfile::TempDir) -> TestApp {
    install_crypto();
    let portal = Portal::start(&config).await.expect("portal starts");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        base_url: portal.base_url(),
        client,
        portal,
        db,
        _data: data,
    }
}

/// `method path` with a bearer token and an optional JSON body.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

/// `method path` that queues a job: asserts 202 Accepted and gives the job's id.
pub async fn queued(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> String {
    let answer = call(app, method, path, token, body).await;
    assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED, "{path}");
    let body: serde_json::Value = answer.json().await.expect("a JSON answer");
    body["job_id"].as_str().expect("a job id").to_owned()
}

/// `GET path` with a bearer token; the JSON answer, whatever the status.
pub async fn get_json(app: &TestApp, path: &str, token: &str) -> serde_json::Value {
    call(app, reqwest::Method::GET, path, token, None)
        .await
        .json()
        .await
        .expect("a JSON answer")
}

/// A single number from `sql` (a fixed query), on either engine.
pub async fn scalar(db: &pmp::db::Db, sql: &'static str) -> i64 {
    match db {
        pmp::db::Db::Postgres(pool) => sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .expect("query"),
        pmp::db::Db::Sqlite(pool) => sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await
            .expect("query"),
    }
}

/// The password `create_user` gives everyone.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Creates the first administrator directly in the store (the wizard has its own tests).
    pub async fn create_admin(&self, username: &str) {
        let name = pmp::identity::users::Username::parse(username).expect("valid name");
        let hash = pmp::identity::signin::password::hash(PASSWORD.to_owned())
            .await
            .expect("hash");
        let created = pmp::identity::setup::create_first_admin(self.portal.db(), &name, &hash)
            .await
            .expect("store");
        assert!(created);
    }

    /// Creates a further user with `PASSWORD`, directly in the store; returns their id.
    pub async fn create_user(&self, username: &str, is_admin: bool) -> String {
        let name = pmp::identity::users::Username::parse(username).expect("valid name");
        let hash = pmp::identity::signin::password::hash(PASSWORD.to_owned())
            .await
            .expect("hash");
        pmp::identity::users::create(self.portal.db(), &name, &hash, is_admin, false)
            .await
            .expect("store")
            .id
    }

    /// `POST /api/v1/auth/token` for `username` with `PASSWORD`; the JSON answer.
    pub async fn api_token(&self, username: &str) -> serde_json::Value {
        let response = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&serde_json::json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "token request failed");
        response.json().await.expect("json")
    }

    /// GETs `path` with `Authorization: Bearer {token}`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// POSTs JSON `body` to `path`.
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// The kinds of stored security events, oldest first.
    pub async fn event_kinds(&self) -> Vec<String> {
        let mut events = pmp::audit::events::recent(self.portal.db(), None, 1000)
            .await
            .expect("events");
        events.reverse();
        events.into_iter().map(|e| e.kind).collect()
    }

    /// The portal's data directory (its generated keys live there).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    /// The JWT secret the portal generated in its data directory.
    pub fn jwt_secret(&self) -> Vec<u8> {
        std::fs::read_to_string(self._data.path().join("jwt.secret"))
            .expect("generated secret")
            .trim()
            .as_bytes()
            .to_vec()
    }

    /// Signs in and returns the session cookie (`name=value`).
    pub async fn sign_in(&self, username: &str) -> String {
        let response = self
            .client
            .post(self.url("/login"))
            .form(&[("username", username), ("password", PASSWORD)])
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 303, "sign-in failed");
        let cookie = response.headers()["set-cookie"].to_str().expect("ascii");
        cookie.split(';').next().expect("name=value").to_owned()
    }

    /// The session policy the portal runs with (the defaults, over plain HTTP).
    pub fn portal_policy(&self) -> pmp::identity::sessions::SessionPolicy {
        let defaults = Config::default();
        pmp::identity::sessions::SessionPolicy {
            idle_secs: defaults.session_idle_timeout_secs,
            absolute_secs: defaults.session_absolute_timeout_secs,
            secure: false,
        }
    }

    /// GETs `path` carrying `cookie`.
    pub async fn get_with(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

/// `target/screenshots/` at the workspace root, created on demand.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}
