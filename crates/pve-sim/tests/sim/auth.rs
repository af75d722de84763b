//! Ticket authentication over real HTTPS: login, cookie use, CSRF on writes, renewal, expiry,
//! tampering, and PVE's 401 shapes.

use std::time::Duration;

use pve_sim::{SimConfig, Simulator};
use serde_json::Value;

use crate::support::trusting_client;

/// A simulator and a plain client (no token) that trusts its certificate.
async fn start(ticket_lifetime: Duration) -> (Simulator, reqwest::Client, String) {
    let sim = Simulator::start(SimConfig {
        ticket_lifetime,
        task_duration: Duration::from_millis(50),
        root_password: "s3cret pass".to_owned(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let http = trusting_client(&sim);
    let base = format!("https://localhost:{}/api2/json", sim.addr().port());
    (sim, http, base)
}

async fn login(http: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http
        .post(format!("{base}/access/ticket"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn cookie(ticket: &str) -> String {
    let encoded: String = ticket
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("PVEAuthCookie={encoded}")
}

#[tokio::test]
async fn password_login_gives_a_ticket_that_needs_csrf_for_writes() {
    let (sim, http, base) = start(Duration::from_secs(7200)).await;
    let (status, body) = login(
        &http,
        &base,
        &[
            ("username", "root"),
            ("realm", "pam"),
            ("password", "s3cret pass"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["username"], "root@pam");
    let ticket = data["ticket"].as_str().unwrap();
    let csrf = data["CSRFPreventionToken"].as_str().unwrap();
    assert!(ticket.starts_with("PVE:root@pam:"));

    let nodes = http
        .get(format!("{base}/nodes"))
        .header("Cookie", cookie(ticket))
        .send()
        .await
        .unwrap();
    assert_eq!(nodes.status(), 200);

    let vmid = http
        .get(format!("{base}/cluster/resources?type=vm"))
        .header("Cookie", cookie(ticket))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "qemu" && r["node"] == "pve1" && r["status"] == "running")
        .and_then(|r| r["vmid"].as_u64())
        .unwrap();
    let reboot = format!("{base}/nodes/pve1/qemu/{vmid}/status/reboot");
    let without = http
        .post(&reboot)
        .header("Cookie", cookie(ticket))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 401);
    let body: Value = without.json().await.unwrap();
    assert_eq!(body["message"], "Permission denied - invalid csrf token");
    let with = http
        .post(&reboot)
        .header("Cookie", cookie(ticket))
        .header("CSRFPreventionToken", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    let upid: Value = with.json().await.unwrap();
    assert!(upid["data"].as_str().unwrap().ends_with(":root@pam:"));

    // The ticket also works in the Authorization header.
    let header = http
        .get(format!("{base}/version"))
        .header("Authorization", format!("PVEAuthCookie={ticket}"))
        .send()
        .await
        .unwrap();
    assert_eq!(header.status(), 200);
    sim.stop().await;
}

#[tokio::test]
async fn renewal_takes_the_current_ticket_as_password() {
    let (sim, http, base) = start(Duration::from_secs(7200)).await;
    let (_, body) = login(
        &http,
        &base,
        &[("username", "root@pam"), ("password", "s3cret pass")],
    )
    .await;
    let ticket = body["data"]["ticket"].as_str().unwrap().to_owned();
    let (status, renewed) = login(
        &http,
        &base,
        &[("username", "root@pam"), ("password", &ticket)],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        renewed["data"]["ticket"]
            .as_str()
            .unwrap()
            .starts_with("PVE:root@pam:")
    );
    // A ticket cannot be renewed for somebody else.
    let (status, _) = login(
        &http,
        &base,
        &[("username", "alice@pve"), ("password", &ticket)],
    )
    .await;
    assert_eq!(status, 401);
    sim.stop().await;
}

#[tokio::test]
async fn bad_credentials_tampered_and_expired_tickets_are_401() {
    let (sim, http, base) = start(Duration::from_secs(1)).await;
    for form in [
        vec![("username", "root@pam"), ("password", "wrong")],
        vec![("username", "nobody@pve"), ("password", "s3cret pass")],
        vec![("username", "root"), ("password", "s3cret pass")],
    ] {
        let (status, body) = login(&http, &base, &form).await;
        assert_eq!(status, 401, "{form:?}");
        assert_eq!(body["message"], "authentication failure");
        assert!(body["data"].is_null());
    }
    let (status, body) = login(&http, &base, &[("username", "root@pam")]).await;
    assert_eq!(status, 400);
    assert!(body["errors"]["password"].is_string());

    let (_, body) = login(
        &http,
        &base,
        &[("username", "root@pam"), ("password", "s3cret pass")],
    )
    .await;
    let ticket = body["data"]["ticket"].as_str().unwrap().to_owned();
    let tampered = ticket.replace("root@pam", "admin@pam");
    let get = |t: String| {
        let http = http.clone();
        let url = format!("{base}/version");
        async move {
            http.get(url)
                .header("Cookie", cookie(&t))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get(tampered).await, 401);
    assert_eq!(get(ticket.clone()).await, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(ticket).await, 401, "expired after its lifetime");
    let none = http.get(format!("{base}/version")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["message"], "No ticket");
    sim.stop().await;
}

#[tokio::test]
async fn a_totp_user_gets_a_half_ticket_and_completes_with_a_code() {
    let (sim, http, base) = start(Duration::from_secs(7200)).await;
    let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    sim.add_user("ops@pve", "ops password", Some(seed));
    let (status, first) = login(
        &http,
        &base,
        &[("username", "ops@pve"), ("password", "ops password")],
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["NeedTFA"], 1);
    let half = first["data"]["ticket"].as_str().unwrap().to_owned();
    assert!(half.starts_with("PVE:!tfa!"), "{half}");
    assert!(first["data"].get("CSRFPreventionToken").is_none());
    // The half ticket opens nothing.
    let refused = http
        .get(format!("{base}/version"))
        .header("Cookie", cookie(&half))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(seed).unwrap())
        .build_noncompliant();
    let code = format!("totp:{}", totp.generate_current());
    let (status, wrong) = login(
        &http,
        &base,
        &[
            ("username", "ops@pve"),
            ("tfa-challenge", &half),
            ("password", "totp:000000"),
        ],
    )
    .await;
    assert_eq!(
        (status, wrong["message"].as_str()),
        (401, Some("authentication failure"))
    );
    let (status, other) = login(
        &http,
        &base,
        &[
            ("username", "root@pam"),
            ("tfa-challenge", &half),
            ("password", &code),
        ],
    )
    .await;
    assert_eq!(status, 401, "a half ticket is bound to its user: {other}");
    let (status, done) = login(
        &http,
        &base,
        &[
            ("username", "ops@pve"),
            ("tfa-challenge", &half),
            ("password", &code),
        ],
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert!(
        done["data"]["ticket"]
            .as_str()
            .unwrap()
            .starts_with("PVE:ops@pve:")
    );
    assert!(done["data"]["CSRFPreventionToken"].is_string());
    sim.stop().await;
}

#[tokio::test]
async fn tokens_are_privilege_separated_and_refusals_have_pve_shapes() {
    let (sim, http, base) = start(Duration::from_secs(7200)).await;
    sim.add_user("ops@pve", "ops password", None);
    sim.grant("/vms", "ops@pve", "PVEVMUser", true);
    let separated = sim.add_token("ops@pve!sep", true);
    let full = sim.add_token("ops@pve!full", false);
    sim.grant("/", "ops@pve!sep", "Administrator", true);
    let call = |token: String, path: &'static str| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let response = http
                .post(url)
                .header("Authorization", format!("PVEAPIToken={token}"))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (_, resources) = {
        let response = http
            .get(format!("{base}/cluster/resources?type=vm"))
            .header(
                "Authorization",
                format!("PVEAPIToken=ops@pve!sep={separated}"),
            )
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    let vmid = resources["data"][0]["vmid"].as_u64().unwrap();
    assert_eq!(
        resources["data"].as_array().unwrap().len(),
        20,
        "VM.Audit from the user's /vms role"
    );
    let path: &'static str = Box::leak(format!("/nodes/pve9/qemu/{vmid}/migrate").into_boxed_str());
    // Administrator on the token, PVEVMUser on its user: no VM.Migrate in the intersection.
    let (status, body) = call(format!("ops@pve!sep={separated}"), path).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["message"],
        format!("Permission check failed (/vms/{vmid}, VM.Migrate)")
    );
    assert_eq!(body["data"], Value::Null);
    // Without separation the token is its user: still no VM.Migrate.
    let (status, _) = call(format!("ops@pve!full={full}"), path).await;
    assert_eq!(status, 403);
    let (status, body) = call(format!("ops@pve!sep=wrong-{separated}"), path).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("authentication failure"))
    );
    let (status, body) = call(format!("nobody@pve!x={separated}"), path).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("authentication failure"))
    );
    sim.stop().await;
}
