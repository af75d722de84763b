//! `/api/v1/jobs` on both engines: people see and act on their own jobs only (others' answer
//! 404), `job.view`/`job.manage` holders see and act on all, cancel and retry follow the job's
//! state, and the event stream follows a job run by the portal's own worker to its end.

use pmp::jobs::queue::{self, NewJob};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Engine, TestApp, spawn_app};

crate::on_both_engines!(
    jobs_are_visible_to_their_owner_and_to_job_viewers_only,
    the_event_stream_follows_a_job_to_its_end,
);

async fn later_job(app: &TestApp, owner: &str) -> String {
    let mut job = NewJob::new("noop", json!({"for": owner}));
    job.created_by = Some(owner.to_owned());
    job.run_at_ms = Some(queue::now_ms() + 3_600_000);
    queue::enqueue(app.portal.db(), &job).await.unwrap()
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn jobs_are_visible_to_their_owner_and_to_job_viewers_only(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let bob = app.create_user("bob", false).await;
    let alice = app.create_user("alice", false).await;
    let app = &app;
    let token = |name: &'static str| async move {
        app.api_token(name).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let root_t = token("root").await;
    let bob_t = token("bob").await;
    let alice_t = token("alice").await;
    let bobs = later_job(app, &bob).await;
    later_job(app, &alice).await;

    for path in [
        format!("/api/v1/jobs/{bobs}"),
        format!("/api/v1/jobs/{bobs}/log"),
        format!("/api/v1/jobs/{bobs}/events"),
    ] {
        assert_eq!(
            call(app, Method::GET, &path, &alice_t).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    for path in [
        format!("/api/v1/jobs/{bobs}/cancel"),
        format!("/api/v1/jobs/{bobs}/retry"),
    ] {
        assert_eq!(
            call(app, Method::POST, &path, &alice_t).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let listed = |t: String| async move {
        let page: Value = call(app, Method::GET, "/api/v1/jobs", &t)
            .await
            .json()
            .await
            .unwrap();
        page["items"].as_array().unwrap().len()
    };
    assert_eq!(listed(alice_t.clone()).await, 1);
    assert_eq!(listed(bob_t.clone()).await, 1);
    assert_eq!(listed(root_t.clone()).await, 2, "job.view shows everyone's");
    assert_eq!(
        call(app, Method::GET, "/api/v1/jobs?state=exploded", &bob_t)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    assert_eq!(
        call(
            app,
            Method::POST,
            &format!("/api/v1/jobs/{bobs}/retry"),
            &bob_t
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(
            app,
            Method::POST,
            &format!("/api/v1/jobs/{bobs}/cancel"),
            &bob_t
        )
        .await
        .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        call(
            app,
            Method::POST,
            &format!("/api/v1/jobs/{bobs}/cancel"),
            &bob_t
        )
        .await
        .status(),
        StatusCode::CONFLICT
    );
    let detail: Value = call(app, Method::GET, &format!("/api/v1/jobs/{bobs}"), &bob_t)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["state"], "cancelled");
    let retried = call(
        app,
        Method::POST,
        &format!("/api/v1/jobs/{bobs}/retry"),
        &root_t,
    )
    .await;
    assert_eq!(retried.status(), StatusCode::CREATED);
    // The pages answer the same way: another person's job is not found.
    let alice_cookie = app.sign_in("alice").await;
    let page = app.get_with(&format!("/jobs/{bobs}"), &alice_cookie).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let listing = app
        .get_with("/jobs", &alice_cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(!listing.contains(&bobs));
    for id in ["nope", "../../users", "1' OR '1'='1"] {
        assert_eq!(
            call(app, Method::GET, &format!("/api/v1/jobs/{id}"), &root_t)
                .await
                .status(),
            StatusCode::NOT_FOUND
        );
    }
}

async fn the_event_stream_follows_a_job_to_its_end(engine: Engine) {
    let app = spawn_app(engine).await;
    app.create_admin("root").await;
    let root = pmp::identity::users::list(app.portal.db()).await.unwrap()[0]
        .id
        .clone();
    let token = app.api_token("root").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut job = NewJob::new("noop", json!({}));
    job.created_by = Some(root);
    let id = queue::enqueue(app.portal.db(), &job).await.unwrap();
    let response = call(
        &app,
        Method::GET,
        &format!("/api/v1/jobs/{id}/events"),
        &token,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = tokio::time::timeout(std::time::Duration::from_secs(15), response.text())
        .await
        .expect("the stream ends with the job")
        .unwrap();
    assert!(body.contains("event: state"), "{body}");
    assert!(body.contains("\"state\":\"succeeded\""), "{body}");
}
