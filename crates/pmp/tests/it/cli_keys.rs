//! The data key on the command line: `pmp rotate-key` re-seals every stored secret under a
//! new key and moves it into place; a key that does not open the stored secrets stops
//! start-up with one sentence (never the key itself).

use std::process::Stdio;

use base64::Engine as _;

use crate::cli::{fails_with, pmp};
use crate::pve::{add_server, fast_app, sim, token};
use crate::support::Engine;

#[tokio::test]
async fn rotate_key_reseals_and_a_wrong_key_stops_start_up() {
    let app = fast_app(Engine::Sqlite).await;
    app.create_admin("root").await;
    let root = token(&app, "root").await;
    let sim = sim("keys", 4).await;
    add_server(&app, &root, &sim, "keys").await;
    let dir = app.data_dir();
    let url = app.db.url.to_string();
    let key_file = dir.join("secret.key");
    let before = std::fs::read_to_string(&key_file).unwrap();

    let output = pmp(dir)
        .args(["rotate-key", "--database-url", &url, "--data-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("re-sealed 1 stored secret(s)"), "{stdout}");
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(before, after, "a new key");
    assert!(!dir.join("secret.new").exists(), "nothing left behind");
    assert!(
        !stdout.contains(after.trim()) && !stdout.contains(sim.token_secret()),
        "no key or secret printed"
    );
    let config = pmp::config::Config {
        data_dir: dir.to_owned(),
        database_url: Some(app.db.url.clone()),
        ..pmp::config::Config::default()
    };
    let keys = pmp::secrets::Keys::load(&config).unwrap();
    let id = pmp::ids::ServerId::parse("keys").unwrap();
    match pmp::servers::store::auth(app.portal.db(), &keys, &id)
        .await
        .unwrap()
    {
        Some(pve::Auth::ApiToken { secret, .. }) => assert_eq!(secret, sim.token_secret()),
        other => panic!("the credentials do not open with the new key: {other:?}"),
    }

    // Another valid key: refused at start, naming what to do and not the key.
    let other = base64::engine::general_purpose::STANDARD.encode([
        7u8, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
        25, 26, 27, 28, 29, 30, 31, 32,
    ]);
    let mut serve = pmp(dir);
    serve
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--data-dir",
        ])
        .arg(dir)
        .env("PMP_SECRET_KEY", &other);
    let message = fails_with(
        serve,
        &["the data key does not open the secrets stored in the database"],
    );
    assert!(!message.contains(&other));
    // With the key in the environment, rotation needs a file to write the new one to.
    let mut rotate = pmp(dir);
    rotate
        .args(["rotate-key", "--database-url", &url, "--data-dir"])
        .arg(dir)
        .env("PMP_SECRET_KEY", after.trim());
    fails_with(rotate, &["--new-key-file"]);
    sim.stop().await;
}
