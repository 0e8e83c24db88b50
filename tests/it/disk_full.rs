//! A full disk under the embedded store: a write the disk refused is answered 503 and
//! never seen by any reader, readiness says so, and once there is room again the store
//! serves again by itself, from what was durable, with no restart.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::browser::local_login_tokens;
use support::config::{REDIRECT, TestClient, TestConfig};
use support::tmpfs::Tmpfs;
use support::{TestServer, client};

const APP: (&str, &str) = ("app", "app-secret");

async fn introspect(server: &TestServer, token: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/introspect", server.base))
        .basic_auth(APP.0, Some(APP.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_full_disk_hides_the_refused_write_and_the_store_heals_once_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("data"), "24m") else {
        return;
    };
    // Strict reuse detection: had the refused rotation survived anywhere, presenting
    // the token it rotated would revoke the family.
    let config = TestConfig::new()
        .client(TestClient::confidential(APP.0, APP.1).no_consent())
        .bob()
        .tables("[tokens]\nrefresh_retry_window = \"0s\"\n")
        .build();
    let server = TestServer::start(dir.path(), &config, Clock::System).await;
    let browser = support::browser::Browser::default();
    let tokens = local_login_tokens(&server.base, &browser, "bob", "bob", REDIRECT).await;
    let mut acknowledged = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(server.ready().await.0, 200);

    let filler = disk.fill();
    // Rotations go on while sled's open pages have room; the first that needs a new one
    // is refused.
    let mut refused = None;
    for _ in 0..2000 {
        let response = server.refresh(APP, &acknowledged).await;
        match response.status().as_u16() {
            200 => {
                let body: Value = response.json().await.unwrap();
                acknowledged = body["refresh_token"].as_str().unwrap().to_string();
            }
            status => {
                refused = Some((status, response.headers().contains_key("retry-after")));
                break;
            }
        }
    }
    assert_eq!(refused, Some((503, true)), "a refused write is a 503 with Retry-After");

    // Readiness follows within a second.
    let deadline = Instant::now() + Duration::from_secs(1);
    while server.ready().await.0 == 200 {
        assert!(Instant::now() < deadline, "readiness stayed 200 on a full disk");
        tokio::task::yield_now().await;
    }
    // The last acknowledged token is not called inactive: the store cannot say, so 503.
    let (status, body) = introspect(&server, &acknowledged).await;
    assert_eq!(status, 503, "{body}");

    // Room again: within 10 s the store serves, from what was durable.
    std::fs::remove_file(&filler).unwrap();
    let room_at = Instant::now();
    while server.ready().await.0 != 200 {
        assert!(
            room_at.elapsed() < Duration::from_secs(10),
            "{}",
            server.ready().await.1
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The refused rotation is gone: the last acknowledged token is live and unused.
    let (status, body) = introspect(&server, &acknowledged).await;
    assert_eq!((status, body["active"].clone()), (200, Value::Bool(true)), "{body}");
    let refreshed = server.refresh(APP, &acknowledged).await;
    assert_eq!(refreshed.status(), 200, "{}", refreshed.text().await.unwrap());
    assert!(
        room_at.elapsed() < Duration::from_secs(10),
        "writes work within 10 s of room returning"
    );
    server.stop().await;
    drop(disk);
}
