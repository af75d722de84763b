//! An off-the-shelf PVE client library, proxmoxer (Python), used as its users use it against
//! real PVE, works against the simulator unchanged: password and token logins, node and guest
//! lists, a start and the wait for its task. `scripts/test` installs proxmoxer into a virtual
//! environment and names its interpreter in `PVE_SIM_PYTHON`; without it the test fails.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use pve_sim::{Seed, SimConfig, Simulator};
use serde_json::Value;

fn python() -> String {
    let python = std::env::var("PVE_SIM_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args(["-c", "import proxmoxer"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "proxmoxer is not importable by {python}; run scripts/test, which installs it (or set PVE_SIM_PYTHON)"
    );
    python
}

#[tokio::test]
async fn proxmoxer_logs_in_lists_and_starts_a_guest_unchanged() {
    let python = python();
    let sim = Simulator::start(SimConfig {
        seed: Seed {
            name: "offshelf".to_owned(),
            nodes: 3,
            guests: 60,
            seed: 7,
        },
        task_duration: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile_dir();
    let ca = dir.join("pve-root.pem");
    let b64 = base64::engine::general_purpose::STANDARD.encode(sim.certificate_der());
    std::fs::write(
        &ca,
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"),
    )
    .unwrap();
    let (token_user, token_name) = sim.token_id().split_once('!').unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/offshelf/proxmoxer_check.py");
    let port = sim.addr().port().to_string();
    let args = [
        script.to_str().unwrap(),
        "127.0.0.1",
        &port,
        sim.root_password(),
        token_user,
        token_name,
        sim.token_secret(),
        ca.to_str().unwrap(),
    ]
    .map(str::to_owned);
    let output =
        tokio::task::spawn_blocking(move || Command::new(python).args(args).output().unwrap())
            .await
            .unwrap();
    assert!(
        output.status.success(),
        "proxmoxer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("proxmoxer: {report}");
    for mode in ["password", "token"] {
        let run = &report[mode];
        assert_eq!(run["nodes"], serde_json::json!(["pve1", "pve2", "pve3"]));
        assert_eq!(run["guests"], 60);
        assert_eq!(
            (run["decoded"].as_str(), run["exitstatus"].as_str()),
            (Some("qmstart"), Some("OK"))
        );
        assert_eq!(run["status"], "running");
        // A start writes nothing but its final line, as in PVE.
        assert_eq!(run["log_lines"], 1);
    }
    assert!(
        report["token"]["upid"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}:", sim.token_id()))
    );
    sim.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pve-sim-offshelf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
