//! Forwarding the audit trail as RFC 5424 syslog to a receiver started by the test: over UDP,
//! a hostile sign-in arrives as one well-formed message whose fields match the database (hash
//! included) and whose crafted values cannot forge a line; over TCP, entries written while the
//! receiver is down are neither skipped nor reordered once it is back; two instances on one
//! database send each entry once, not once each.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

use crate::support::{Engine, TestApp, scalar, spawn_app_with};

crate::on_both_engines!(entries_written_while_a_tcp_receiver_is_down_arrive_when_it_is_back);

/// One parsed message: the header fields, the structured-data parameters and the text.
#[derive(Debug)]
struct Message {
    pri: u8,
    msgid: String,
    params: BTreeMap<String, String>,
    text: String,
}

/// Parses `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [pmp@32473 k="v" ...] BOM text`.
fn parse(raw: &str) -> Message {
    let rest = raw.strip_prefix('<').expect("PRI");
    let (pri, rest) = rest.split_once(">1 ").expect("version 1");
    let mut header = rest.splitn(6, ' ');
    let timestamp = header.next().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.parse::<jiff::Timestamp>().is_ok(),
        "{timestamp}"
    );
    let (_host, app, _procid) = (header.next(), header.next().unwrap(), header.next());
    assert_eq!(app, "pmp");
    let msgid = header.next().unwrap().to_owned();
    let rest = header.next().unwrap();
    let mut chars = rest
        .strip_prefix("[pmp@32473")
        .expect("our SD element")
        .chars();
    let mut params = BTreeMap::new();
    loop {
        match chars.next() {
            Some(' ') => {
                let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
                assert_eq!(chars.next(), Some('"'));
                let mut value = String::new();
                loop {
                    match chars.next().expect("a closed value") {
                        '\\' => value.push(chars.next().unwrap()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                params.insert(name, value);
            }
            Some(']') => break,
            other => panic!("unexpected {other:?} in {raw}"),
        }
    }
    let text: String = chars.collect();
    let text = text.strip_prefix(" \u{feff}").unwrap_or(&text).to_owned();
    Message {
        pri: pri.parse().unwrap(),
        msgid,
        params,
        text,
    }
}

async fn cursor_ready(app: &TestApp) {
    for _ in 0..100 {
        let set = "SELECT COUNT(*) FROM settings WHERE key = 'audit.syslog_cursor'";
        if scalar(app.portal.db(), set).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the forwarder never started");
}

async fn cursor(app: &TestApp) -> i64 {
    let sql = "SELECT CAST(value AS BIGINT) FROM settings WHERE key = 'audit.syslog_cursor'";
    scalar(app.portal.db(), sql).await
}

async fn stored_hash(app: &TestApp, seq: &str) -> String {
    let sql = format!(
        "SELECT hash FROM security_events WHERE id = {}",
        seq.parse::<i64>().unwrap()
    );
    let db = app.portal.db();
    match db {
        pmp::db::Db::Sqlite(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
        }
        pmp::db::Db::Postgres(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(p)
                .await
        }
    }
    .unwrap()
}

async fn failed_login(app: &TestApp, username: &str, agent: &str) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/token"))
        .header("user-agent", agent)
        .json(&serde_json::json!({ "username": username, "password": "not the password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_hostile_sign_in_arrives_over_udp_as_one_message_matching_the_trail() {
    let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = format!("udp://127.0.0.1:{}", receiver.local_addr().unwrap().port());
    let app = spawn_app_with(Engine::Sqlite, |c| {
        c.syslog_target = Some(target.parse().unwrap())
    })
    .await;
    cursor_ready(&app).await;
    app.create_admin("root").await;
    // A value that would close the element and add a parameter if it were not escaped, with a
    // tab that a line-based receiver must not see raw.
    let agent = "x\t\"] forged=\"1 <script>alert(1)</script> \\";
    failed_login(&app, "root", agent).await;
    let mut buffer = vec![0; 65_536];
    let failed = next_of_kind(&receiver, &mut buffer, "login.failed").await;
    // authpriv (10) * 8 + warning (4).
    assert_eq!(failed.pri, 84);
    assert_eq!(failed.params["outcome"], "failure");
    assert_eq!(
        failed.params["user_agent"],
        "x \"] forged=\"1 <script>alert(1)</script> \\"
    );
    assert!(!failed.params.contains_key("forged"), "{failed:?}");
    assert_eq!(failed.params["user"], "root");
    assert!(!failed.text.contains('\n'));
    assert_eq!(
        failed.params["hash"],
        stored_hash(&app, &failed.params["seq"]).await
    );
    // A success: authpriv * 8 + notice (5), later in the chain.
    app.sign_in("root").await;
    let succeeded = next_of_kind(&receiver, &mut buffer, "login.succeeded").await;
    assert_eq!(succeeded.pri, 85);
    assert_eq!(succeeded.params["user"], "root");
    let seq = |m: &Message| m.params["seq"].parse::<i64>().unwrap();
    assert!(seq(&succeeded) > seq(&failed));
}

/// Receives datagrams until one of `kind` arrives; every one must be a single line.
async fn next_of_kind(receiver: &tokio::net::UdpSocket, buffer: &mut [u8], kind: &str) -> Message {
    loop {
        let received = tokio::time::timeout(Duration::from_secs(10), receiver.recv(buffer))
            .await
            .expect("a datagram within 10 s")
            .unwrap();
        let raw = std::str::from_utf8(&buffer[..received]).expect("UTF-8");
        assert!(!raw.contains(['\n', '\r']), "one line per message: {raw:?}");
        let message = parse(raw);
        if message.msgid == kind {
            return message;
        }
    }
}

/// Takes the complete octet-counted frames (`LEN SP MSG`) off the front of `buffer`.
fn split_frames(buffer: &mut Vec<u8>) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(space) = buffer.iter().position(|b| *b == b' ') {
        let len: usize = std::str::from_utf8(&buffer[..space])
            .unwrap()
            .parse()
            .expect("a length");
        if buffer.len() < space + 1 + len {
            break;
        }
        let frame: Vec<u8> = buffer.drain(..space + 1 + len).skip(space + 1).collect();
        out.push(parse(std::str::from_utf8(&frame).unwrap()));
    }
    out
}

/// Reads frames until `want` messages have arrived.
async fn frames(stream: &mut tokio::net::TcpStream, want: usize) -> Vec<Message> {
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    while out.len() < want {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut chunk))
            .await
            .expect("frames within 20 s")
            .unwrap();
        assert!(n > 0, "the portal closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
        out.extend(split_frames(&mut buffer));
    }
    out
}

async fn entries_written_while_a_tcp_receiver_is_down_arrive_when_it_is_back(engine: Engine) {
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("tcp://127.0.0.1:{port}");
    let app = spawn_app_with(engine, |c| c.syslog_target = Some(target.parse().unwrap())).await;
    cursor_ready(&app).await;
    let start = cursor(&app).await;
    for i in 0..3 {
        failed_login(&app, &format!("nobody{i}"), "probe").await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        cursor(&app).await,
        start,
        "nothing counts as sent while the receiver is down"
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(40), listener.accept())
        .await
        .expect("the portal reconnects")
        .unwrap();
    let messages = frames(&mut stream, 3).await;
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m.params["seq"].parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        vec![start + 1, start + 2, start + 3],
        "in order, none skipped"
    );
    for message in &messages {
        assert_eq!(message.msgid, "login.failed");
        assert_eq!(
            message.params["hash"],
            stored_hash(&app, &message.params["seq"]).await
        );
    }
    for _ in 0..100 {
        if cursor(&app).await == start + 3 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cursor did not move past what was sent");
}

/// Two `pmp serve` on one database, both forwarding to a TCP receiver that is down while
/// entries are written: once it is back, each entry arrives once, not once per instance; when
/// the forwarding instance stops, the other takes over without waiting for the lease to expire.
#[tokio::test]
async fn two_instances_on_one_database_send_each_entry_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target: pmp::config::syslog::Target = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    let first = target.clone();
    let app = spawn_app_with(Engine::Postgres, |c| c.syslog_target = Some(first)).await;
    cursor_ready(&app).await;
    let config = pmp::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: app.data_dir().to_owned(),
        database_url: Some(app.db.url.clone()),
        syslog_target: Some(target),
        ..pmp::config::Config::default()
    };
    let second = pmp::app::portal::Portal::start(&config).await.unwrap();
    let start = cursor(&app).await;
    for i in 0..5 {
        failed_login(&app, &format!("twice{i}"), "probe").await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    // Every byte of every connection, whichever instance opened it.
    type Received = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;
    let connections: std::sync::Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
    let accepting = {
        let connections = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let received = Received::default();
                connections.lock().unwrap().push(received.clone());
                tokio::spawn(async move {
                    let mut chunk = [0u8; 8192];
                    while let Ok(n @ 1..) = stream.read(&mut chunk).await {
                        received.lock().unwrap().extend_from_slice(&chunk[..n]);
                    }
                });
            }
        })
    };
    let seqs = || {
        let mut seqs: Vec<i64> = Vec::new();
        for received in connections.lock().unwrap().iter() {
            let mut bytes = received.lock().unwrap().clone();
            let messages = split_frames(&mut bytes);
            seqs.extend(
                messages
                    .iter()
                    .map(|m| m.params["seq"].parse::<i64>().unwrap()),
            );
        }
        seqs.sort_unstable();
        seqs
    };
    let expected: Vec<i64> = (start + 1..=start + 5).collect();
    for _ in 0..400 {
        if seqs().len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the other instance time to repeat anything, watching who holds the lease: one
    // instance throughout, while both run.
    let mut holders = std::collections::BTreeSet::new();
    for _ in 0..15 {
        let sql = "SELECT value FROM settings WHERE key = 'audit.syslog_lease'";
        let pmp::db::Db::Postgres(pool) = app.portal.db() else {
            unreachable!("this test runs on PostgreSQL")
        };
        let lease: String = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap();
        holders.insert(lease.split_once(' ').unwrap().0.to_owned());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(seqs(), expected, "each entry once");
    assert_eq!(holders.len(), 1, "one forwarder at a time: {holders:?}");

    // The first instance, which took the lease, stops: the second carries on at once.
    app.portal.shutdown(Duration::from_secs(1));
    let after = cursor(&app).await;
    let response = app
        .client
        .post(format!("{}/api/v1/auth/token", second.base_url()))
        .json(&serde_json::json!({ "username": "after", "password": "not the password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let mut taken_over = false;
    for _ in 0..100 {
        if seqs().iter().any(|seq| *seq > after) {
            taken_over = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        taken_over,
        "the second instance forwarded within 10 s, before the lease ran out"
    );
    accepting.abort();
    second.shutdown(Duration::from_secs(1));
    second.wait().await.unwrap();
}
