//! The store under load, on the real binary: concurrent refresh rotations are all
//! answered and the server still stops on SIGTERM; after a kill -9 in the middle of
//! sustained rotations, nothing that a client was told is lost.

use crate::support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::browser::{Browser, local_login_tokens};
use support::client;
use support::config::REDIRECT;
use support::process::Server;

/// How long one request may take before the test calls the server stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Logs bob in once and gets `n` refresh tokens, one family each.
async fn refresh_tokens(base: &str, n: usize) -> Vec<String> {
    let browser = Browser::default();
    let mut tokens = Vec::new();
    for _ in 0..n {
        // The first login asks for bob's password; the session answers the others.
        let answer = local_login_tokens(base, &browser, "bob", "bob", REDIRECT).await;
        tokens.push(answer["refresh_token"].as_str().unwrap().to_string());
    }
    tokens
}

/// One refresh_token grant: the status and, on 200, the new refresh token.
async fn refresh(http: &reqwest::Client, base: &str, token: &str) -> Result<(u16, Option<String>), reqwest::Error> {
    let response = http
        .post(format!("{base}/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await?;
    let status = response.status().as_u16();
    let json: Value = response.json().await?;
    Ok((status, json["refresh_token"].as_str().map(str::to_string)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_are_all_answered_and_sigterm_still_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure(dir.path());
    let mut server = Server::start(&config).await;
    let tokens = refresh_tokens(&server.base, 24).await;

    // 24 connections rotating their own token for three seconds, as wrk would.
    let until = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = tokens
        .into_iter()
        .map(|mut token| {
            let base = server.base.clone();
            tokio::spawn(async move {
                let http = client();
                let mut answered = 0;
                while Instant::now() < until {
                    let (status, next) = refresh(&http, &base, &token)
                        .await
                        .unwrap_or_else(|e| panic!("a refresh was not answered: {e}"));
                    assert_eq!(status, 200, "rotation {answered} of this token's family failed");
                    token = next.unwrap();
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.unwrap();
    }
    assert!(answered >= 240, "only {answered} rotations in three seconds");

    let discovery = client()
        .get(format!("{}/.well-known/openid-configuration", server.base))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200, "the server still answers after the load");

    server.signal("-TERM");
    let status = server.wait_for_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM did not end the server cleanly within 10 s ({status:?}): {}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_rotations_loses_nothing_a_client_was_told() {
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure(dir.path());
    // Without a window for retries, a token rotated away is reuse at once: what this
    // test reads to tell a rotation that survived from one that did not.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "signing_alg = \"EdDSA\"",
        "signing_alg = \"EdDSA\"\nrefresh_retry_window = \"0s\"",
    );
    std::fs::write(&config, text).unwrap();
    let mut server = Server::start(&config).await;
    let tokens = refresh_tokens(&server.base, 24).await;
    let (quiet, busy) = tokens.split_at(8);

    // Quiet families rotate a while, then hold their last token.
    let mut held = Vec::new();
    let http = client();
    for token in quiet {
        let mut token = token.clone();
        for _ in 0..5 {
            let (status, next) = refresh(&http, &server.base, &token).await.unwrap();
            assert_eq!(status, 200);
            token = next.unwrap();
        }
        held.push(token);
    }

    // Busy families keep rotating until the kill; each remembers the last token it was
    // given and the one that token replaced.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = busy
        .iter()
        .cloned()
        .map(|first| {
            let base = server.base.clone();
            let stopped = stopped.clone();
            tokio::spawn(async move {
                let http = client();
                let (mut previous, mut last) = (None, first);
                while !*stopped.borrow() {
                    match refresh(&http, &base, &last).await {
                        Ok((200, Some(next))) => previous = Some(std::mem::replace(&mut last, next)),
                        Ok((status, _)) => panic!("a rotation failed before the kill: {status}"),
                        // The connection died with the server.
                        Err(_) => break,
                    }
                }
                (previous, last)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.signal("-KILL");
    assert!(server.wait_for_exit(Duration::from_secs(10)).is_some());
    stop.send(true).unwrap();
    let mut busy_ends = Vec::new();
    for worker in workers {
        busy_ends.push(worker.await.unwrap());
    }
    drop(server);

    let server = Server::start(&config).await;
    for token in held {
        let (status, next) = refresh(&http, &server.base, &token).await.unwrap();
        assert_eq!(
            status, 200,
            "a token that was handed out and never used works after the crash"
        );
        let (status, _) = refresh(&http, &server.base, &next.unwrap()).await.unwrap();
        assert_eq!(status, 200, "and so does the one it rotates to");
    }
    for (previous, last) in busy_ends {
        let previous = previous.expect("every busy family rotated before the kill");
        // The rotation that replaced `previous` was acknowledged: it must have survived,
        // so `previous` is a replay that revokes the family ...
        let (status, _) = refresh(&http, &server.base, &previous).await.unwrap();
        assert_eq!(status, 400, "a rotated token works again after the crash");
        // ... and the latest token, whatever became of it, no longer works.
        let (status, _) = refresh(&http, &server.base, &last).await.unwrap();
        assert_eq!(status, 400, "the replay did not revoke the family");
    }
}

/// Opens a connection and sends a token request whose body is not all there yet.
async fn half_sent_request(base: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = "grant_type=client_credentials&scope=";
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len() + 3
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_finish_within_the_grace_period_and_no_longer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let config = Server::configure_with(dir.path(), "3s");
    let mut server = Server::start(&config).await;
    let mut finishing = half_sent_request(&server.base).await;
    let _stuck = half_sent_request(&server.base).await;
    // Both requests are being read before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let signalled = Instant::now();
    server.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    finishing.write_all(b"abc").await.unwrap();
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), finishing.read_to_string(&mut answer)).await;
    assert!(read.is_ok(), "the request in flight was not answered after SIGTERM");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let status = server.wait_for_exit(Duration::from_secs(15));
    let took = signalled.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "a stuck request kept the server alive ({status:?}): {}",
        server.log()
    );
    assert!(
        took >= Duration::from_secs(2),
        "the grace period was not given: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "the grace period of 3 s took {took:?}");
}
