//! The client against the simulator over real HTTPS: pinning, token auth, error sentences.

// Test helpers fail loudly on purpose; a panic is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use pve::{Auth, Client, Error, Fingerprint};
use pve_sim::{SimConfig, Simulator};

const TIMEOUT: Duration = Duration::from_secs(10);

fn token(sim: &Simulator) -> Auth {
    Auth::ApiToken {
        id: sim.token_id().to_owned(),
        secret: sim.token_secret().to_owned(),
    }
}

#[tokio::test]
async fn probe_reads_the_fingerprint_and_a_pinned_client_talks_to_pve() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let seen = pve::probe_fingerprint(&sim.url()).await.unwrap();
    assert_eq!(seen.to_string(), sim.fingerprint());

    let client = Client::new(&sim.url(), token(&sim), seen, TIMEOUT).unwrap();
    let version = client.version().await.unwrap();
    assert_eq!(version.release, "9.1");
    sim.stop().await;
}

#[tokio::test]
async fn a_changed_certificate_fails_closed_naming_both_fingerprints() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let other: Fingerprint = "00".repeat(32).parse().unwrap();
    let client = Client::new(&sim.url(), token(&sim), other, TIMEOUT).unwrap();
    let err = client.version().await.unwrap_err();
    match &err {
        Error::FingerprintMismatch { expected, seen } => {
            assert_eq!(*expected, other);
            assert_eq!(seen.to_string(), sim.fingerprint());
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    let sentence = err.to_string();
    assert!(sentence.contains(&sim.fingerprint()) && sentence.contains(&other.to_string()));
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_an_authentication_failure_without_the_secret() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let pin: Fingerprint = sim.fingerprint().parse().unwrap();
    let auth = Auth::ApiToken {
        id: sim.token_id().to_owned(),
        secret: "not-the-secret".to_owned(),
    };
    assert!(!format!("{auth:?}").contains("not-the-secret"));
    let err = Client::new(&sim.url(), auth, pin, TIMEOUT)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed(_)), "{err:?}");
    sim.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_and_a_plain_http_url_are_clear_errors() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let url = sim.url();
    let pin: Fingerprint = sim.fingerprint().parse().unwrap();
    let auth = token(&sim);
    sim.stop().await;
    let err = Client::new(&url, auth.clone(), pin, TIMEOUT)
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(matches!(
        Client::new("http://pve:8006", auth, pin, TIMEOUT),
        Err(Error::BadUrl(_))
    ));
}
