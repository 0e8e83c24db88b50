//! The load benchmark's helper (tests/load/run.sh runs it; it is no test):
//!
//!   load-driver setup BASE PEOPLE OUT_DIR
//!       logs PEOPLE local users (user1.. with password "bob") in with offline_access
//!       and writes OUT_DIR/refresh_tokens (one family per line) and
//!       OUT_DIR/access_token (one token for /userinfo and /introspect).
//!   load-driver logins BASE CONCURRENCY SECONDS [UPSTREAM]
//!       runs whole logins (authorize, the login form, the password, the code
//!       exchange) at UPSTREAM (default `demo`: user1.. with password "bob" there too)
//!       from CONCURRENCY fresh browsers for SECONDS, and prints `requests/s`, `p50`
//!       and `p99` as run.sh reads them.
//!   load-driver populate CONFIG COUNT
//!       with the server stopped, writes COUNT live sessions into the database of
//!       CONFIG, each with a refresh family and its token, as COUNT logins with
//!       offline_access would (tests/load/memory.sh measures the server on them).
//!   load-driver chains BASE TOKENS_FILE SECONDS
//!       refreshes every family of TOKENS_FILE over and over, retrying after errors,
//!       and says what it saw and whether any acknowledged token was lost (chains.rs;
//!       tests/load/faults.sh runs it through faults).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod chains;

#[path = "../it/support/browser.rs"]
#[allow(dead_code)]
mod browser;

use browser::{Browser, local_login};
use std::time::{Duration, Instant};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The HTTP client the browser module builds on.
pub fn client() -> reqwest::Client {
    gatehouse::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One whole login of `user` at `upstream`; returns the token endpoint's answer.
async fn log_in(base: &str, browser: &Browser, upstream: &str, user: &str) -> serde_json::Value {
    let url = format!(
        "{base}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}&upstream={upstream}"
    );
    let answer = local_login(base, browser, &url, user, "bob").await;
    let code = answer.redirect_params()["code"].clone();
    let response = client()
        .post(format!("{base}/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "the code exchange failed");
    response.json().await.expect("token JSON")
}

async fn setup(base: &str, people: usize, out: &std::path::Path) {
    let mut refresh_tokens = String::new();
    let mut access_token = String::new();
    for n in 1..=people {
        let tokens = log_in(base, &Browser::default(), "demo", &format!("user{n}")).await;
        refresh_tokens.push_str(tokens["refresh_token"].as_str().expect("a refresh token"));
        refresh_tokens.push('\n');
        access_token = tokens["access_token"].as_str().expect("an access token").to_string();
    }
    std::fs::write(out.join("refresh_tokens"), refresh_tokens).expect("write refresh_tokens");
    std::fs::write(out.join("access_token"), access_token).expect("write access_token");
}

async fn logins(base: &str, concurrency: usize, seconds: u64, upstream: &str) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let base = base.to_string();
            let upstream = upstream.to_string();
            tokio::spawn(async move {
                let mut took = Vec::new();
                let user = format!("user{}", worker + 1);
                while Instant::now() < until {
                    let begun = Instant::now();
                    log_in(&base, &Browser::default(), &upstream, &user).await;
                    took.push(begun.elapsed());
                }
                took
            })
        })
        .collect();
    let mut took = Vec::new();
    let mut errors = 0;
    for worker in workers {
        match worker.await {
            Ok(times) => took.extend(times),
            // A failed login panics its worker: counted, and that worker stops.
            Err(_) => errors += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    took.sort();
    let percentile = |p: usize| {
        took.get((took.len() * p).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    println!("logins: {}", took.len());
    println!("errors: {errors}");
    println!("requests/s: {:.1}", took.len() as f64 / elapsed);
    println!("p50: {:.1}ms", percentile(50));
    println!("p99: {:.1}ms", percentile(99));
}

/// Sessions and refresh families as logins leave them, written straight into the store.
async fn populate(config: &std::path::Path, count: usize) {
    use gatehouse::store::{AccountFamily, AuthContext, RefreshFamily, RefreshToken, Store};
    let config = gatehouse::config::Config::load(config, gatehouse::upstream::KINDS).expect("config");
    let store = Store::connect(&config.store, &config.data_dir).await.expect("store");
    let now = gatehouse::Clock::System.now();
    // As a database made by this version: its indexes are kept from the first record on.
    gatehouse::domain::indexes::fill_in(&store, &config, now)
        .await
        .expect("indexes");
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for n in 0..count {
        let (store, config) = (store.clone(), config.clone());
        pending.spawn(async move {
            let auth = AuthContext {
                auth_time: now,
                ..AuthContext::default()
            };
            let sub = format!("person-{n}");
            let (_, session) =
                gatehouse::domain::sessions::start(&store, &config, &sub, "demo", auth.clone(), None, now)
                    .await
                    .expect("session");
            let family = gatehouse::store::FamilyId::new(&session.sid);
            let token = gatehouse::secrets::hash(&gatehouse::secrets::random_token());
            let expires = Some(now + config.tokens.refresh_token_ttl.as_secs_i64());
            let record = RefreshFamily {
                client_id: "app".into(),
                sub: sub.clone(),
                sid: session.sid.clone(),
                scope: "openid offline_access".into(),
                auth,
                current: token.clone(),
                revoked: false,
                jkt: None,
                resources: Vec::new(),
                previous: None,
                rotated_at: None,
            };
            let mut write = store.write(now);
            store
                .refresh_families
                .stage_put(&mut write, &family, &record, expires)
                .unwrap();
            let first = RefreshToken {
                family: family.clone(),
                issued_at: now,
            };
            store
                .refresh_tokens
                .stage_put(&mut write, &token, &first, expires)
                .unwrap();
            let indexed = AccountFamily { family: family.clone() };
            store
                .account_families
                .stage_put(&mut write, &AccountFamily::key(&sub, "app", &family), &indexed, expires)
                .unwrap();
            // The write checks nothing, so it cannot conflict.
            let _ = store.commit(write).await.expect("commit");
        });
        if pending.len() >= 512 {
            pending.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = pending.join_next().await {
        done.unwrap();
    }
    store.flush().await.expect("flush");
    println!(
        "{count} sessions with refresh families written in {:?}",
        started.elapsed()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("setup") if args.len() == 5 => {
            setup(
                &args[2],
                args[3].parse().expect("PEOPLE"),
                std::path::Path::new(&args[4]),
            )
            .await
        }
        Some("logins") if matches!(args.len(), 5 | 6) => {
            logins(
                &args[2],
                args[3].parse().expect("CONCURRENCY"),
                args[4].parse().expect("SECONDS"),
                args.get(5).map_or("demo", String::as_str),
            )
            .await
        }
        Some("chains") if args.len() == 5 => {
            chains::chains(
                &args[2],
                std::path::Path::new(&args[3]),
                args[4].parse().expect("SECONDS"),
            )
            .await
        }
        Some("populate") if args.len() == 4 => {
            populate(std::path::Path::new(&args[2]), args[3].parse().expect("COUNT")).await
        }
        _ => {
            eprintln!(
                "usage: load-driver setup BASE PEOPLE OUT_DIR | logins BASE CONCURRENCY SECONDS [UPSTREAM] | populate CONFIG COUNT | chains BASE TOKENS_FILE SECONDS"
            );
            std::process::exit(2);
        }
    }
}
