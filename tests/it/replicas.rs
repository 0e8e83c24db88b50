//! Two `gatehouse serve` processes on one PostgreSQL database, as behind a load
//! balancer: one issuer, state shared, any request on either replica. Skipped (saying
//! so) when `GATEHOUSE_TEST_POSTGRES` is unset; CI always sets it.

use crate::support;

use base64::Engine;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::browser::Browser;
use support::config::REDIRECT;
use support::process::Server;
use support::{client, gatehouse_async, jwks_kids_at};

/// Two replicas of one deployment: A's address is the issuer, B serves it too.
struct Replicas {
    _dir: tempfile::TempDir,
    a: Server,
    b: Server,
    config_a: String,
}

/// Starts both replicas at once, or B `stagger` after A is up (so that their key polls
/// fall at different moments).
/// Two replicas on one new database; `tokens`: more lines of their `[tokens]` table.
async fn replicas(test: &str, stagger: Option<Duration>, tokens: &str) -> Option<Replicas> {
    let url = support::postgres::new_database(test).await?;
    let dir = tempfile::tempdir().unwrap();
    let store = support::postgres::store_table(&url);
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}");
    let config_a = Server::configure_replica(dir.path(), "a", &issuer, port_a, tokens, &store);
    let config_b = Server::configure_replica(dir.path(), "b", &issuer, port_b, tokens, &store);
    let base_b = format!("http://127.0.0.1:{port_b}");
    let (a, b) = match stagger {
        // Both at once: the schema is created once, the first key made once.
        None => tokio::join!(
            Server::start_at(&config_a, &issuer),
            Server::start_at(&config_b, &base_b)
        ),
        Some(stagger) => {
            let a = Server::start_at(&config_a, &issuer).await;
            tokio::time::sleep(stagger).await;
            (a, Server::start_at(&config_b, &base_b).await)
        }
    };
    Some(Replicas {
        _dir: dir,
        a,
        b,
        config_a: config_a.to_str().unwrap().to_string(),
    })
}

async fn token_request(base: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(format!("{base}/token"))
        .basic_auth("app", Some("app-secret"))
        .form(form)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn refresh(base: &str, token: &str) -> (u16, Value) {
    token_request(base, &[("grant_type", "refresh_token"), ("refresh_token", token)]).await
}

/// Starts bob's login on `start`, sends the password form to `finish`, and redeems the
/// code on `redeem`; returns the token answer.
async fn login_across(start: &str, finish: &str, redeem: &str, browser: &Browser) -> Value {
    let url = format!(
        "{start}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}"
    );
    let page = browser.follow(start, browser.get(&url).await).await;
    let params = if page.location.is_some() {
        page.redirect_params()
    } else {
        let action = page.form_action();
        let form = [
            ("csrf", page.field("csrf")),
            ("username", "bob".into()),
            ("password", "bob".into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser
            .post(&format!("{finish}{action}"), &form)
            .await
            .redirect_params()
    };
    let code = params.get("code").unwrap_or_else(|| panic!("no code: {params:?}"));
    let (status, answer) = token_request(
        redeem,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn introspect(base: &str, token: &str) -> Value {
    client()
        .post(format!("{base}/introspect"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_and_its_tokens_work_on_either_replica() {
    let Some(r) = replicas("a_login_and_its_tokens_work_on_either_replica", None, "").await else {
        return;
    };
    // Started at once on an empty database, each found no key: one of them made it.
    let kids = jwks_kids_at(&r.a.base).await;
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(jwks_kids_at(&r.b.base).await, kids, "both replicas publish the one key");
    let browser = Browser::default();
    // The login starts on A and its form is answered by B; B redeems the code.
    let tokens = login_across(&r.a.base, &r.b.base, &r.b.base, &browser).await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap();

    let (status, refreshed) = refresh(&r.a.base, first_refresh).await;
    assert_eq!(status, 200, "A refreshes what B issued: {refreshed}");
    let access = refreshed["access_token"].as_str().unwrap();
    let refresh_token = refreshed["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&r.a.base, access).await["active"], true);

    let revoked = client()
        .post(format!("{}/revoke", r.b.base))
        .basic_auth("app", Some("app-secret"))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        introspect(&r.a.base, access).await["active"],
        false,
        "revoked on B, inactive on A"
    );

    // The operator's commands work on the shared database while both replicas run.
    let (code, stdout, stderr) = gatehouse_async(&["sessions", "list", "--config", &r.config_a]).await;
    assert_eq!(code, 0, "{stderr}");
    let sid = stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let first_access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&r.b.base, first_access).await["active"], true);
    let (code, _, stderr) = gatehouse_async(&["sessions", "revoke", "--config", &r.config_a, &sid]).await;
    assert_eq!(code, 0, "{stderr}");
    let (status, answer) = refresh(&r.b.base, refresh_token).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant")),
        "the session ended: {answer}"
    );
    for base in [&r.a.base, &r.b.base] {
        assert_eq!(
            introspect(base, first_access).await["active"],
            false,
            "the session's access token is ended on {base} too"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_refresh_token_raced_on_both_replicas_has_one_winner_and_revokes_the_family() {
    // Reuse detection at its strictest: with a window for retries the loser would be
    // answered as a retry, which another test covers.
    let Some(r) = replicas(
        "one_refresh_token_raced_on_both_replicas_has_one_winner_and_revokes_the_family",
        None,
        "refresh_retry_window = \"0s\"\n",
    )
    .await
    else {
        return;
    };
    let browser = Browser::default();
    for round in 0..12 {
        let tokens = login_across(&r.a.base, &r.a.base, &r.b.base, &browser).await;
        let token = tokens["refresh_token"].as_str().unwrap();
        let (on_a, on_b) = tokio::join!(refresh(&r.a.base, token), refresh(&r.b.base, token));
        let answers = [on_a, on_b];
        let winners: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, v)| v).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one replica rotates: {answers:?}"
        );
        let loser = answers.iter().find(|(s, _)| *s != 200).unwrap();
        assert_eq!(
            (loser.0, loser.1["error"].as_str()),
            (400, Some("invalid_grant")),
            "round {round}"
        );
        // The loser's request was a replay: the family is revoked, the winner's new token too.
        let new_token = winners[0]["refresh_token"].as_str().unwrap();
        let (status, answer) = refresh(&r.b.base, new_token).await;
        assert_eq!(status, 400, "round {round}: the family is revoked: {answer}");
    }
}

fn header_kid(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn machine_token_kid(base: &str) -> String {
    let response = client()
        .post(format!("{base}/token"))
        .basic_auth("machine", Some("machine-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    header_kid(answer["access_token"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rotated_on_one_replica_is_published_by_both_before_either_signs_with_it() {
    let Some(r) = replicas(
        "a_key_rotated_on_one_replica_is_published_by_both_before_either_signs_with_it",
        // Half the poll interval: one replica always re-reads the keys well before the other.
        Some(Duration::from_millis(500)),
        "",
    )
    .await
    else {
        return;
    };
    let old = machine_token_kid(&r.a.base).await;
    assert_eq!(machine_token_kid(&r.b.base).await, old, "one key for both replicas");
    assert_eq!(jwks_kids_at(&r.a.base).await, vec![old.clone()]);
    assert_eq!(jwks_kids_at(&r.b.base).await, vec![old.clone()]);

    let (code, stdout, stderr) = gatehouse_async(&["keys", "rotate", "--config", &r.config_a]).await;
    assert_eq!(code, 0, "{stderr}");
    let new = stdout.split_whitespace().nth(2).unwrap().to_string();
    assert!(stdout.contains("published now, signs from"), "{stdout}");

    // Until both replicas sign with the new key, every token is signed by a key that
    // both publish; the new key is used within a bounded time (2 x poll_interval + one poll).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut switched = [false, false];
    while switched != [true, true] {
        assert!(
            Instant::now() < deadline,
            "the replicas did not switch to {new}: {switched:?}"
        );
        for (i, base) in [&r.a.base, &r.b.base].into_iter().enumerate() {
            let kid = machine_token_kid(base).await;
            assert!(kid == old || kid == new, "{kid}");
            if kid == new {
                switched[i] = true;
                for other in [&r.a.base, &r.b.base] {
                    assert!(
                        jwks_kids_at(other).await.contains(&new),
                        "{base} signed with {new} before {other} published it"
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for base in [&r.a.base, &r.b.base] {
        let kids = jwks_kids_at(base).await;
        assert!(
            kids.contains(&old) && kids.contains(&new),
            "the old key stays published: {kids:?}"
        );
    }
    // The rotation happened once: one new key in the store, as `keys list` shows.
    let (code, stdout, stderr) = gatehouse_async(&["keys", "list", "--config", &r.config_a]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 3, "a header and two keys: {stdout}");
    assert!(
        stdout.contains("(sealed)"),
        "keys in a shared database are sealed: {stdout}"
    );
}
