//! Two Gatehouses in a Shared Signals chain: A (with bob, a `local` upstream) is the
//! `oidc` upstream of B and transmits to it; B's app `app` takes Shared Signals from B.
//! A may sit behind a [`TcpCut`] (its issuer the relay's address), so that a test can
//! take A's transmitter away from B and give it back.

use super::browser::{Browser, local_login_from};
use super::config::{REDIRECT, TestClient, TestConfig};
use super::tcp_cut::TcpCut;
use super::{TestServer, admin_delete, admin_get, client};
use gatehouse::Clock;
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

pub const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const VERIFIER_CHAR: &str = "v";

pub struct Chain {
    pub a: TestServer,
    pub b: TestServer,
    /// Between B (and the browser) and A, when asked for.
    pub relay: Option<TcpCut>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// The chain, B receiving as `ssf` (an inline TOML table) says; A behind a relay when
/// `relayed`; `b_tables` more TOML for B.
pub async fn chain(ssf: &str, relayed: bool, b_tables: &str) -> Chain {
    let upstream = format!(
        "[[upstreams]]\nid = \"a\"\nkind = \"oidc\"\nissuer = \"{ISSUER_A}\"\nclient_id = \"gatehouse-b\"\n\
         client_secret = \"{SECRET_AT_A}\"\nscopes = [\"openid\", \"email\"]\nssf = {ssf}\n"
    );
    chain_from(&upstream, relayed, b_tables).await
}

/// Stands for A's issuer in the upstream table of [`chain_from`].
pub const ISSUER_A: &str = "${ISSUER_A}";
/// B's client at A: `gatehouse-b`, with this secret.
pub const SECRET_AT_A: &str = "b-secret-0123456789";

/// The chain with `upstream` (an `[[upstreams]]` table with id `a`, for the client
/// `gatehouse-b`, its issuer written [`ISSUER_A`]) as B's upstream.
pub async fn chain_from(upstream: &str, relayed: bool, b_tables: &str) -> Chain {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listener_a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_b = format!("http://127.0.0.1:{}", listener_b.local_addr().unwrap().port());
    let relay = match relayed {
        true => Some(TcpCut::start(listener_a.local_addr().unwrap()).await),
        false => None,
    };
    let issuer_a = match &relay {
        Some(relay) => format!("http://{}", relay.addr),
        None => format!("http://{}", listener_a.local_addr().unwrap()),
    };
    let gatehouse_b = TestClient::confidential("gatehouse-b", SECRET_AT_A)
        .no_consent()
        .with("redirect_uris", &format!("[\"{base_b}/callback/a\"]"))
        .with(
            "grant_types",
            "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        )
        .with("shared_signals", "true");
    let config_a = TestConfig::new()
        .tables("[shared_signals]\nallow_loopback = true\n")
        .client(gatehouse_b)
        .bob_with("email = \"bob@example.org\"\nemail_verified = true")
        .build();
    let a = TestServer::start_listening(
        listener_a,
        dir_a.path(),
        &format!("issuer = \"{issuer_a}\"\n{config_a}"),
        Clock::System,
        true,
    )
    .await;
    let app = TestClient::confidential("app", "app-secret")
        .no_consent()
        .with(
            "grant_types",
            "[\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
        )
        .with("shared_signals", "true");
    let upstream = upstream.replace(ISSUER_A, &issuer_a);
    let config_b = TestConfig::new()
        .tables("[shared_signals]\nallow_loopback = true\n")
        .tables(&upstream)
        .tables(b_tables)
        .client(app)
        .build();
    let b = TestServer::start_listening(listener_b, dir_b.path(), &config_b, Clock::System, true).await;
    let chain = Chain {
        a,
        b,
        relay,
        _dirs: (dir_a, dir_b),
    };
    // Ready once B's stream at A is made (B's receiver task does it at start).
    chain
        .until("B makes its stream at A", || async {
            let now = chain.b.clock.now();
            chain
                .b
                .app
                .state()
                .store
                .signal_receivers
                .get("a", now)
                .await
                .unwrap()
                .is_some()
        })
        .await;
    chain
}

impl Chain {
    /// Waits (up to 30 s, looking every 50 ms) until `done` says so.
    pub async fn until<F: std::future::Future<Output = bool>>(&self, what: &str, done: impl Fn() -> F) {
        until(what, done).await
    }

    /// Logs bob in at B through A; returns B's tokens for the app.
    pub async fn log_in(&self, browser: &Browser) -> Value {
        let verifier = VERIFIER_CHAR.repeat(43);
        let challenge = gatehouse::secrets::s256(&verifier);
        let url = format!(
            "{}/authorize?client_id=app&response_type=code&scope=openid%20offline_access&redirect_uri={REDIRECT}\
             &code_challenge={challenge}&code_challenge_method=S256",
            self.b.base
        );
        // B sends the browser to A, whose login form bob fills in; A sends it back to B.
        let start = browser.get(&url).await;
        let to_a = browser.follow(&self.b.base, start).await;
        let at_a = to_a.location.as_deref().expect("B sends the browser to A");
        let a_base = url::Url::parse(at_a).unwrap().origin().ascii_serialization();
        let back = local_login_from(&a_base, browser, to_a, "bob", "bob").await;
        let answer = browser.follow_while(back, |next| !next.starts_with(REDIRECT)).await;
        let code = answer.redirect_params()["code"].clone();
        self.b
            .redeem(("app", "app-secret"), &code, REDIRECT, Some(&verifier))
            .await
    }

    /// Ends every session at A, as its admin would.
    pub async fn end_sessions_at_a(&self) {
        let sessions = admin_get(&self.a.admin_url("/admin/sessions")).await;
        for session in sessions.as_array().unwrap() {
            let sid = session["sid"].as_str().unwrap();
            assert_eq!(
                admin_delete(&self.a.admin_url(&format!("/admin/sessions/{sid}"))).await,
                204
            );
        }
    }

    /// B's `/healthz/ready` view of its stream at A.
    pub async fn receiver_health(&self) -> Value {
        self.b.ready().await.1["shared_signals"]["a"].clone()
    }
}

/// Waits (up to 30 s, looking every 50 ms) until `done` says so.
pub async fn until<F: std::future::Future<Output = bool>>(what: &str, done: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An access token of `client` at `server` for the `ssf` scope.
pub async fn ssf_token(server: &TestServer, client_credentials: (&str, &str)) -> String {
    ssf_token_at(&server.base, client_credentials).await
}

/// [`ssf_token`], at the Gatehouse at `base`.
pub async fn ssf_token_at(base: &str, (id, secret): (&str, &str)) -> String {
    let response = client()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "ssf")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A JWT's header and claims, unverified.
pub fn claims_of(jwt: &str) -> (Value, Value) {
    use base64::Engine;
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let mut parts = jwt.split('.');
    (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
}

/// An app's push endpoint (RFC 8935): what it received (the Authorization header and
/// the token), answering with `status` (202 unless told otherwise).
pub struct PushEndpoint {
    pub url: String,
    pub received: Arc<Mutex<Vec<(String, String)>>>,
    pub status: Arc<AtomicU16>,
}

impl PushEndpoint {
    pub async fn start() -> PushEndpoint {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(202));
        let (r, s) = (received.clone(), status.clone());
        let app = axum::Router::new().route(
            "/events",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| async move {
                let authorization = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                assert_eq!(headers["content-type"], "application/secevent+jwt");
                r.lock().unwrap().push((authorization, body));
                axum::http::StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/events", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        PushEndpoint { url, received, status }
    }

    /// The claims of each token received so far.
    pub fn events(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, set)| claims_of(set).1)
            .collect()
    }
}
