//! The `pmp` binary's start-up failures and shutdown, run as a real process: bad input exits
//! non-zero with one sentence naming the problem, never a panic or backtrace.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reaper::SpawnReaped as _;

pub(crate) fn pmp(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pmp"));
    command.current_dir(dir).env("RUST_BACKTRACE", "1");
    for (key, _) in std::env::vars() {
        if key.starts_with("PMP_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs `pmp serve` with `args` and asserts it fails with exactly one error line containing
/// every piece of `expected`.
pub(crate) fn fails_with(mut command: Command, expected: &[&str]) -> String {
    let Output { status, stderr, .. } = command.stdin(Stdio::null()).output().expect("run pmp");
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    assert!(!status.success(), "expected failure, got success: {stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    let error_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("pmp: error:"))
        .collect();
    assert_eq!(
        error_lines.len(),
        1,
        "one error sentence expected: {stderr}"
    );
    for piece in expected {
        assert!(
            error_lines[0].contains(piece),
            "missing {piece:?} in {stderr}"
        );
    }
    error_lines[0].to_owned()
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn an_unknown_config_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pmp.toml"),
        "listen = \"127.0.0.1:0\"\nfrobnicate = 1\n",
    )
    .unwrap();
    let mut command = pmp(dir.path());
    command.args(["serve", "--config", "pmp.toml"]);
    fails_with(command, &["unknown key `frobnicate`", "pmp.toml"]);

    let mut command = pmp(dir.path());
    command.args(["serve"]).env("PMP_FROBNICATE", "1");
    fails_with(command, &["unknown key `frobnicate`", "PMP_FROBNICATE"]);
}

#[test]
fn a_value_of_the_wrong_type_and_a_missing_file_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = pmp(dir.path());
    command.args(["serve"]).env("PMP_LISTEN", "not-an-address");
    fails_with(command, &["`listen`", "PMP_LISTEN"]);

    let mut command = pmp(dir.path());
    let target = "http://siem.example:514/../etc";
    command.args(["serve"]).env("PMP_SYSLOG_TARGET", target);
    fails_with(
        command,
        &["`syslog_target`", "udp://HOST:PORT or tcp://HOST:PORT"],
    );

    let mut command = pmp(dir.path());
    command.args(["serve", "--config", "../nope/pmp.toml"]);
    fails_with(command, &["configuration file", "does not exist"]);
}

#[test]
fn malformed_database_urls_are_named_without_their_password() {
    let dir = tempfile::tempdir().unwrap();
    for (url, expected) in [
        ("mysql://root:hunter2@db/pmp", "no recognised scheme"),
        ("postgres://pmp:hunter2@db:notaport/pmp", "malformed"),
        ("sqlite://", "names no file"),
        ("", "empty"),
    ] {
        let mut command = pmp(dir.path());
        command.args(["serve", "--database-url", url]);
        let line = fails_with(command, &[expected]);
        assert!(!line.contains("hunter2"), "{line}");
    }
}

#[test]
fn an_unreachable_postgres_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let url = format!("postgres://pmp:hunter2@{closed}/pmp");
    let mut command = pmp(dir.path());
    command
        .args(["serve", "--database-url", &url])
        .env("PMP_DATABASE_CONNECT_TIMEOUT_SECS", "5");
    let line = fails_with(
        command,
        &[
            "cannot connect to PostgreSQL",
            &closed.to_string(),
            "refused",
        ],
    );
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn a_port_in_use_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut command = pmp(dir.path());
    command.args(["serve", "--listen", &addr]);
    fails_with(command, &["cannot listen on", &addr]);
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a failed start"
    );
}

#[test]
fn missing_tls_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = pmp(dir.path());
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "missing-cert.pem",
        "--tls-key",
        "missing-key.pem",
    ]);
    fails_with(command, &["TLS certificate file", "missing-cert.pem"]);
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a failed start"
    );
}

#[cfg(unix)]
#[test]
fn a_read_only_data_directory_is_named() {
    use std::os::unix::fs::PermissionsExt as _;

    // Root ignores directory permissions, so as root the binary runs as `nobody`, from a copy
    // it can read, in a directory it can enter but not write.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.path().join("pmp");
    std::fs::copy(env!("CARGO_BIN_EXE_pmp"), &binary).unwrap();
    let readonly = dir.path().join("readonly");
    std::fs::create_dir(&readonly).unwrap();
    std::fs::set_permissions(&readonly, std::fs::Permissions::from_mode(0o555)).unwrap();
    fails_with(
        serve_unprivileged(&binary, dir.path(), "readonly/data"),
        &[
            "cannot write a new JWT secret to readonly/data/jwt.secret",
            "Permission denied",
        ],
    );

    // An existing database file that cannot be written is named too.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("pmp.db"), b"").unwrap();
    // Keys already in place (readable), so start-up gets as far as the database.
    std::fs::write(
        data.join("jwt.secret"),
        "k8Jq2vN0pWm5Rz7Lx4Tb9Yc1Hd6Fg3Ae-uQ",
    )
    .unwrap();
    std::fs::write(
        data.join("secret.key"),
        "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
    )
    .unwrap();
    std::fs::set_permissions(data.join("pmp.db"), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    fails_with(
        serve_unprivileged(&binary, dir.path(), "data"),
        &["cannot open the SQLite database", "pmp.db"],
    );
}

/// `pmp serve --data-dir data_dir` from `dir`; as root it runs as `nobody`, since root
/// ignores directory permissions.
#[cfg(unix)]
fn serve_unprivileged(binary: &Path, dir: &Path, data_dir: &str) -> Command {
    use std::os::unix::fs::MetadataExt as _;
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(binary);
    command
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir]);
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        command.uid(65534).gid(65534);
    }
    command
}

fn wait_until_up(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "pmp did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let child = pmp(dir.path())
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn_reaped()
        .unwrap();
    wait_until_up(addr);

    // A request whose headers are still arriving when the signal lands.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: pmp\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    terminate(&child);
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "shutting down; finishing in-flight requests")
    );
    assert!(lines.iter().any(|l| l["message"] == "stopped"));
    let access = lines
        .iter()
        .find(|l| l["target"] == "pmp::access")
        .expect("an access log line");
    assert_eq!(access["route"], "/healthz");
    assert_eq!(access["status"], 200);
    assert!(access["request_id"].is_string() || access["span"]["request_id"].is_string());
}

/// Reads lines from `reader` until one contains `needle`, returning it.
pub(crate) fn read_until(reader: &mut impl std::io::BufRead, needle: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "output ended before {needle:?}");
        if line.contains(needle) {
            return line;
        }
    }
}

pub(crate) fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[tokio::test]
async fn demo_prints_a_working_portal_url_setup_link_and_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_port();
    let mut child = pmp(dir.path())
        .args(["demo", "--listen", &addr.to_string(), "--sim-nodes", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn_reaped()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let portal = read_until(&mut stdout, "Portal:");
    let setup = read_until(&mut stdout, "One-time setup:");
    let sim = read_until(&mut stdout, "Simulated PVE:");
    assert!(sim.contains("(2 nodes, 40 guests)"), "{sim}");
    let fingerprint = read_until(&mut stdout, "PVE certificate:");
    read_until(&mut stdout, "PVE API token:   root@pam!pmp=");
    let login = read_until(&mut stdout, "PVE login:");
    assert!(login.contains("root@pam / "), "{login}");
    let url = |line: &str| {
        line.split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(url(&portal), format!("http://{addr}/"));

    crate::support::install_crypto();
    let client = reqwest::Client::new();
    let home = client.get(url(&portal)).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let wizard = client.get(url(&setup)).send().await.unwrap();
    assert_eq!(wizard.status(), 200);
    assert!(
        wizard
            .text()
            .await
            .unwrap()
            .contains("Create the first administrator")
    );

    // The simulator answers over HTTPS with the certificate the demo printed.
    let pinned: pve::Fingerprint = fingerprint
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    let seen = pve::probe_fingerprint(&url(&sim)).await.unwrap();
    assert_eq!(seen, pinned);
    assert!(
        dir.path().join("data/demo.db").exists(),
        "demo keeps its own SQLite file"
    );

    terminate(&child);
    assert!(child.wait().unwrap().success());
}

#[cfg(unix)]
#[test]
fn plain_http_on_a_non_loopback_address_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().port();
    let child = pmp(dir.path())
        .args(["serve", "--listen", &format!("0.0.0.0:{port}")])
        .stderr(Stdio::piped())
        .spawn_reaped()
        .unwrap();
    wait_until_up(SocketAddr::from(([127, 0, 0, 1], port)));
    terminate(&child);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SERVING PLAIN HTTP ON A NON-LOOPBACK ADDRESS"),
        "{stderr}"
    );
}

fn create_admin(dir: &Path, username: &str, password: &str) -> Output {
    user_command(dir, &["create-admin", "--username", username], password)
}

/// Runs `pmp user ARGS` in `dir`, typing `password` on standard input.
pub(crate) fn user_command(dir: &Path, args: &[&str], password: &str) -> Output {
    let mut child = pmp(dir)
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_reaped()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn create_admin_on_the_command_line_follows_the_wizard_rules_and_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    for (username, password, expected) in [
        ("<script>", "violet harbour lantern", "a username is"),
        ("alice", "short", "at least 12 characters"),
        ("alice", "qwerty123456", "commonly used"),
    ] {
        let output = create_admin(dir.path(), username, password);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(
            !stderr.contains(password) || password == "short",
            "{stderr}"
        );
    }
    let created = create_admin(dir.path(), "alice", "violet harbour lantern");
    assert!(created.status.success(), "{created:?}");
    assert!(String::from_utf8_lossy(&created.stdout).contains("Administrator alice created"));
    let again = create_admin(dir.path(), "bob", "violet harbour lantern");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("an administrator already exists"));
}
