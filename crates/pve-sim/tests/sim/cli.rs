//! The `pve-sim` binary on its own: one JSON line describing the cluster, then it serves.

use std::io::BufRead as _;
use std::process::{Command, Stdio};

use serde_json::Value;

use reaper::SpawnReaped as _;

/// Starts the binary with `args`; returns it and the JSON line it printed.
fn spawn(args: &[&str]) -> (reaper::Reaped, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn_reaped()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

#[tokio::test]
async fn the_binary_prints_its_cluster_as_one_json_line_and_serves_it() {
    let (mut child, ready) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--nodes",
        "3",
        "--guests",
        "50",
        "--api-token",
        "root@pam!ci=0f0e0d0c-0b0a-0908-0706-050403020100",
    ]);
    let nodes = ready["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["pve1", "pve2", "pve3"]);
    let fingerprints: std::collections::BTreeSet<&str> = nodes
        .iter()
        .filter_map(|n| n["fingerprint"].as_str())
        .collect();
    assert_eq!(fingerprints.len(), 3, "each node has its own certificate");
    assert_eq!(ready["user"], "root@pam");
    assert_eq!(
        ready["password"].as_str().unwrap().len(),
        24,
        "a random password"
    );
    let token = ready["tokens"][0].as_str().unwrap();
    assert_eq!(token, "root@pam!ci=0f0e0d0c-0b0a-0908-0706-050403020100");

    let (id, secret) = token.rsplit_once('=').unwrap();
    for node in nodes {
        let url = node["url"].as_str().unwrap();
        let pin: pve::Fingerprint = node["fingerprint"].as_str().unwrap().parse().unwrap();
        let auth = pve::Auth::ApiToken {
            id: id.to_owned(),
            secret: secret.to_owned(),
        };
        let client = pve::Client::new(url, auth, pin, std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(client.version().await.unwrap().release, "9.1");
    }

    // The control endpoint answers on plain HTTP and takes a node offline.
    let control = ready["control_url"].as_str().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{control}/faults/pve2"))
        .json(&serde_json::json!({ "offline": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let faults: Value = http
        .get(format!("{control}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["nodes"]["pve2"]["offline"], true);
    let bad = http
        .put(format!("{control}/faults/pve2"))
        .json(&serde_json::json!({ "explode": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422, "unknown fault fields are refused");
    let aged = http
        .post(format!("{control}/backups/age"))
        .json(&serde_json::json!({ "secs": 86_400 }))
        .send()
        .await
        .unwrap();
    assert_eq!(aged.status(), 204);
    let bad = http
        .post(format!("{control}/backups/age"))
        .json(&serde_json::json!({ "secs": -1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422, "a negative age is refused");

    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_malformed_token_flag_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
        .args(["--api-token", "no-secret-here"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("USER@REALM!NAME=SECRET"));
}

#[tokio::test]
async fn a_scenario_file_seeds_users_tokens_and_acls_and_flags_win_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab.toml");
    std::fs::write(
        &path,
        r#"
cluster = "lab"
nodes = 2
guests = 30
task_ms = 100

[[users]]
userid = "ops@pve"
password = "ops-password-1"

[[tokens]]
tokenid = "ops@pve!monitor"
secret = "11111111-2222-3333-4444-555555555555"
privsep = false

[[acl]]
path = "/vms"
ugid = "ops@pve"
role = "PVEAuditor"
"#,
    )
    .unwrap();
    let (mut child, ready) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--nodes",
        "3",
        "--scenario",
        path.to_str().unwrap(),
        "--api-token",
        "root@pam!a=aaaa",
        "--api-token",
        "root@pam!b=bbbb",
    ]);
    assert_eq!(ready["cluster"], "lab");
    assert_eq!(ready["nodes"].as_array().unwrap().len(), 3, "the flag wins");
    assert_eq!(ready["guests"], 30, "the scenario fills in the rest");
    assert_eq!(
        ready["tokens"],
        serde_json::json!(["root@pam!a=aaaa", "root@pam!b=bbbb"])
    );
    let node = &ready["nodes"][0];
    let pin: pve::Fingerprint = node["fingerprint"].as_str().unwrap().parse().unwrap();
    let auth = pve::Auth::ApiToken {
        id: "ops@pve!monitor".to_owned(),
        secret: "11111111-2222-3333-4444-555555555555".to_owned(),
    };
    let client = pve::Client::new(
        node["url"].as_str().unwrap(),
        auth,
        pin,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    let guests = client.resources(Some("vm")).await.unwrap();
    assert_eq!(guests.len(), 30, "VM.Audit on /vms from the scenario's ACL");
    assert!(
        client.resources(Some("node")).await.unwrap().is_empty(),
        "no Sys.Audit"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    std::fs::write(&path, "nodes = 2\nsurprise = true\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pve-sim"))
        .arg("--scenario")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not valid"));
}
