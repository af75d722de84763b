//! Sign-in, sessions and sign-out on both engines: hardened cookies stored hashed, one answer
//! for every bad credential, CSRF on sign-out, server-side revocation, idle and absolute expiry.

use pmp::with_pool;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::support::{Engine, PASSWORD, TestApp, spawn_app, spawn_app_with};

crate::on_both_engines!(
    sign_in_sets_a_hardened_cookie_stored_only_as_its_hash,
    every_bad_credential_gets_the_same_answer_and_no_cookie,
    sign_out_needs_the_csrf_token_and_revokes_on_the_server,
    idle_and_absolute_timeouts_and_disabling_end_sessions,
    repeated_failures_lock_the_account_then_the_address_for_a_while,
    people_list_and_revoke_only_their_own_sessions,
);

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn signed_in_as(app: &TestApp, cookie: &str) -> Option<String> {
    let html = app.get_with("/", cookie).await.text().await.unwrap();
    let start = html.find("data-signed-in>")? + "data-signed-in>".len();
    Some(html[start..start + html[start..].find('<')?].to_owned())
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn session_rows(app: &TestApp) -> i64 {
    with_pool!(app.portal.db(), pool => sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(pool).await.unwrap())
}

async fn sign_in_sets_a_hardened_cookie_stored_only_as_its_hash(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let response = login(&app, "Alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.strip_prefix("pmp_session=").unwrap();
    assert!(token.len() >= 43);

    let stored: Vec<String> = with_pool!(app.portal.db(), pool =>
        sqlx::query_scalar("SELECT token_hash FROM sessions").fetch_all(pool).await.unwrap());
    assert_eq!(stored, vec![hex::encode(Sha256::digest(token.as_bytes()))]);

    assert_eq!(signed_in_as(&app, &cookie).await.as_deref(), Some("alice"));
    let again = app.get_with("/login", &cookie).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER, "already signed in");
    assert_eq!(signed_in_as(&app, "pmp_session=forged-token").await, None);
}

async fn every_bad_credential_gets_the_same_answer_and_no_cookie(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let long_password = "p".repeat(5000);
    let long_name = "a".repeat(10_000);
    let cases = [
        ("alice", "wrong password here"),
        ("bob", PASSWORD),
        ("<script>alert(1)</script>", PASSWORD),
        ("alice' OR '1'='1", PASSWORD),
        ("аlice", PASSWORD),
        (long_name.as_str(), PASSWORD),
        ("alice", long_password.as_str()),
        ("", ""),
        ("ali\0ce", PASSWORD),
    ];
    for (username, password) in cases {
        let response = login(&app, username, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{username}");
        assert!(response.headers().get("set-cookie").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("The username or password is wrong."));
        assert!(!html.contains("<script>alert(1)</script>"));
    }
    assert_eq!(session_rows(&app).await, 0);
    let cross_site = app
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    assert_eq!(session_rows(&app).await, 0);
}

async fn sign_out_needs_the_csrf_token_and_revokes_on_the_server(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let cookie = app.sign_in("alice").await;
    let csrf = csrf_of(&app.get_with("/", &cookie).await.text().await.unwrap());
    let logout = |token: &str, site: &'static str| {
        app.client
            .post(app.url("/logout"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .form(&[("csrf", token.to_owned())])
            .send()
    };
    assert_eq!(
        logout("", "same-origin").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout("guess", "same-origin").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        logout(&csrf, "cross-site").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(signed_in_as(&app, &cookie).await.as_deref(), Some("alice"));

    let done = logout(&csrf, "same-origin").await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/login");
    assert!(
        done.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie is dead on the server, not just forgotten by the browser.
    assert_eq!(signed_in_as(&app, &cookie).await, None);
    assert_eq!(session_rows(&app).await, 0);
}

async fn idle_and_absolute_timeouts_and_disabling_end_sessions(engine: Engine) {
    let idle = spawn_app_with(engine, |c| c.session_idle_timeout_secs = 1).await;
    idle.create_admin("alice").await;
    let cookie = idle.sign_in("alice").await;
    assert!(signed_in_as(&idle, &cookie).await.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(signed_in_as(&idle, &cookie).await, None, "idle timeout");
    assert_eq!(session_rows(&idle).await, 0, "expired sessions are deleted");

    let absolute = spawn_app_with(engine, |c| c.session_absolute_timeout_secs = 1).await;
    absolute.create_admin("alice").await;
    let cookie = absolute.sign_in("alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        signed_in_as(&absolute, &cookie).await,
        None,
        "absolute timeout"
    );

    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let cookie = app.sign_in("alice").await;
    with_pool!(app.portal.db(), pool => sqlx::query("UPDATE users SET disabled = TRUE")
        .execute(pool).await.unwrap().rows_affected());
    assert_eq!(
        signed_in_as(&app, &cookie).await,
        None,
        "disabled users are signed out"
    );
    assert_eq!(
        login(&app, "alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn repeated_failures_lock_the_account_then_the_address_for_a_while(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    for _ in 0..5 {
        let response = login(&app, "alice", "wrong password here").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked: even the right password waits, and the answer says for how long.
    let locked = login(&app, "ALICE", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    assert!(
        locked
            .text()
            .await
            .unwrap()
            .contains("Try again in 15 minute(s).")
    );
    assert_eq!(session_rows(&app).await, 0);

    // The lock is temporary, and the next one after more failures lasts twice as long.
    let lapse = || async {
        with_pool!(app.portal.db(), pool => sqlx::query("UPDATE throttle SET locked_until = 0")
            .execute(pool).await.unwrap().rows_affected());
    };
    lapse().await;
    for _ in 0..4 {
        let response = login(&app, "alice", "wrong password here").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let again = login(&app, "alice", "wrong password here").await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    let locked = login(&app, "alice", PASSWORD).await;
    let retry: i64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1790..=1800).contains(&retry), "{retry}");

    // Once it lapses the right password works and clears this address's count.
    lapse().await;
    assert_eq!(
        login(&app, "alice", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    let pair: i64 = with_pool!(app.portal.db(), pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM throttle WHERE key LIKE 'account:%@%'").fetch_one(pool).await.unwrap());
    assert_eq!(pair, 0);

    // One address guessing many accounts is stopped too, at a looser limit (30 failures,
    // of which 10 were above): the thirtieth is answered as throttled.
    for i in 0..19 {
        let response = login(&app, &format!("user{i}"), "wrong password here").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let thirtieth = login(&app, "user99", "wrong password here").await;
    assert_eq!(thirtieth.status(), StatusCode::TOO_MANY_REQUESTS);
    let address = login(&app, "alice", PASSWORD).await;
    assert_eq!(address.status(), StatusCode::TOO_MANY_REQUESTS);
}

fn session_ids(html: &str) -> Vec<String> {
    html.split("data-session=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

async fn people_list_and_revoke_only_their_own_sessions(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("alice").await;
    let laptop = app.sign_in("alice").await;
    let phone = app.sign_in("alice").await;
    assert_eq!(
        app.get("/sessions").await.status(),
        StatusCode::SEE_OTHER,
        "signed out"
    );

    let html = app
        .get_with("/sessions", &laptop)
        .await
        .text()
        .await
        .unwrap();
    let ids = session_ids(&html);
    assert_eq!(ids.len(), 2, "{html}");
    assert_eq!(html.matches("This session").count(), 1);
    let csrf = csrf_of(&html);

    // Bob, another user, has a session whose id Alice must not be able to touch.
    const BOB: &str = "INSERT INTO users (id, username, password_hash, disabled, created_at) \
        VALUES ('bob-id', 'bob', 'x', FALSE, 0)";
    with_pool!(app.portal.db(), pool => sqlx::query(BOB).execute(pool).await.unwrap().rows_affected());
    let policy = app.portal_policy();
    pmp::identity::sessions::create(app.portal.db(), &policy, "bob-id", "10.0.0.9", "curl/8")
        .await
        .unwrap();
    let bob_id: String = with_pool!(app.portal.db(), pool => sqlx::query_scalar(
        "SELECT id FROM sessions WHERE user_id = 'bob-id'").fetch_one(pool).await.unwrap());
    let revoke = |id: String, token: String| {
        app.client
            .post(app.url(&format!("/sessions/{id}/revoke")))
            .header("cookie", &laptop)
            .form(&[("csrf", token)])
            .send()
    };
    let foreign = revoke(bob_id.clone(), csrf.clone()).await.unwrap();
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
    assert_eq!(session_rows(&app).await, 3, "nothing of Bob's was removed");
    for hostile in ["../../etc/passwd", "' OR '1'='1", "%00"] {
        let response = revoke(hostile.to_owned(), csrf.clone()).await.unwrap();
        assert!(response.status().is_client_error(), "{hostile}");
    }
    let no_csrf = revoke(ids[0].clone(), "guess".to_owned()).await.unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);

    // Revoking the phone's session signs the phone out and leaves the laptop signed in.
    let phone_html = app
        .get_with("/sessions", &phone)
        .await
        .text()
        .await
        .unwrap();
    let phone_id = phone_html
        .split("data-session=\"")
        .skip(1)
        .find(|row| row[..row.find("</tr>").unwrap()].contains("This session"))
        .map(|row| row[..row.find('"').unwrap()].to_owned())
        .unwrap();
    let done = revoke(phone_id, csrf).await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in_as(&app, &phone).await, None);
    assert_eq!(signed_in_as(&app, &laptop).await.as_deref(), Some("alice"));
}
