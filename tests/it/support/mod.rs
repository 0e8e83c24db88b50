//! Starting Gatehouse for a test: a config in a temporary folder, the real HTTP
//! server on an ephemeral loopback port, and a stop that releases the database.

pub mod browser;
pub mod config;
pub mod corp;
pub mod document_host;
pub mod metrics;
pub mod mock_op;
pub mod pg_cluster;
pub mod postgres;
pub mod process;
pub mod rp;
pub mod saml_idp;
pub mod signing_key;
pub mod slapd;
pub mod ssf_chain;
pub mod tcp_cut;
pub mod tmpfs;

use gatehouse::{App, Clock, Config};

use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

/// The argon2 hash of the password "bob", for `local` test users.
pub const BOB_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$SV0T94aGqf4ixWIFAf3Xug$iGABrLr3GJUvBLYQU2zW7DDjNMci0erQ0XRLstCuBHA";

/// The admin token of servers started with the admin API.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running Gatehouse.
pub struct TestServer {
    pub base: String,
    pub app: App,
    pub clock: Clock,
    pub config_path: PathBuf,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), gatehouse::StartError>>,
}

/// Writes `dir/gatehouse.toml` with the issuer for `port` followed by `rest`; a `rest`
/// that starts with its own `issuer = ...` line keeps that issuer (listening on `port`).
pub fn write_config(dir: &Path, port: u16, rest: &str) -> PathBuf {
    let path = dir.join("gatehouse.toml");
    let text = if rest.starts_with("issuer = ") {
        format!("listen = \"127.0.0.1:{port}\"\n{rest}")
    } else {
        format!("issuer = \"http://127.0.0.1:{port}\"\n{rest}")
    };
    std::fs::write(&path, text).expect("write config");
    path
}

impl TestServer {
    /// Starts Gatehouse on a new port with the config `rest` (everything but the issuer),
    /// its database in `dir/data`, and waits until it answers.
    pub async fn start(dir: &Path, rest: &str, clock: Clock) -> TestServer {
        TestServer::start_with(dir, rest, clock, false).await
    }

    /// Like [`TestServer::start`], with the admin API on another ephemeral port and
    /// `ADMIN_TOKEN` as its token.
    pub async fn start_with_admin(dir: &Path, rest: &str, clock: Clock) -> TestServer {
        TestServer::start_with(dir, rest, clock, true).await
    }

    async fn start_with(dir: &Path, rest: &str, clock: Clock, with_admin: bool) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        TestServer::start_listening(listener, dir, rest, clock, with_admin).await
    }

    /// Like [`TestServer::start`], on `listener` (bound before, so that another server's
    /// config can name this one's address).
    pub async fn start_listening(
        listener: tokio::net::TcpListener,
        dir: &Path,
        rest: &str,
        clock: Clock,
        with_admin: bool,
    ) -> TestServer {
        let port = listener.local_addr().expect("addr").port();
        let (admin, rest) = if with_admin {
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
            let admin_port = admin.local_addr().expect("addr").port();
            let admin_lines = format!("admin_listen = \"127.0.0.1:{admin_port}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n");
            // A config's own issuer line stays first (see `write_config`).
            let settings = match rest.split_once('\n') {
                Some((issuer, others)) if issuer.starts_with("issuer = ") => format!("{issuer}\n{admin_lines}{others}"),
                _ => format!("{admin_lines}{rest}"),
            };
            (Some(admin), settings)
        } else {
            (None, rest.to_string())
        };
        let config_path = write_config(dir, port, &rest);
        let config = Config::load(&config_path, gatehouse::upstream::KINDS).unwrap_or_else(|e| panic!("config: {e}"));
        let app = App::build(config, clock.clone())
            .await
            .unwrap_or_else(|e| panic!("build: {e}"));
        let (shutdown, stopped) = oneshot::channel();
        let task = tokio::spawn(gatehouse::serve(app.clone(), listener, admin, async {
            let _ = stopped.await;
        }));
        let server = TestServer {
            base: format!("http://127.0.0.1:{port}"),
            app,
            clock,
            config_path,
            shutdown,
            task,
        };
        // The listener is bound before serving starts, so the first request is answered.
        let health = server.get("/healthz").await;
        assert_eq!(health.status(), 200);
        server
    }

    /// `/healthz/ready`: its status and what it says.
    pub async fn ready(&self) -> (u16, serde_json::Value) {
        let response = client()
            .get(format!("{}/healthz/ready", self.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Waits until `/healthz/ready` says ready (an upstream's retries pause 1 s, 2 s, 4 s...).
    pub async fn until_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.ready().await.0 != 200 {
            assert!(
                std::time::Instant::now() < deadline,
                "never ready: {}",
                self.ready().await.1
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        client()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// The status `/userinfo` answers for the access token `token`.
    pub async fn userinfo_status(&self, token: &str) -> u16 {
        client()
            .get(format!("{}/userinfo", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// The token endpoint's JSON answer to an authorization_code grant by a confidential
    /// client (client_secret_basic).
    pub async fn redeem(
        &self,
        client: (&str, &str),
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> serde_json::Value {
        redeem_at(&self.base, client, code, redirect_uri, verifier).await
    }

    /// The token endpoint's answer to a refresh_token grant by `client` (client_secret_basic).
    pub async fn refresh(&self, client: (&str, &str), refresh_token: &str) -> reqwest::Response {
        refresh_at(&self.base, client, refresh_token).await
    }

    /// The URL of `path` on the admin listener (of a server started with the admin API).
    pub fn admin_url(&self, path: &str) -> String {
        let text = std::fs::read_to_string(&self.config_path).expect("config");
        let addr = text
            .lines()
            .find_map(|l| l.strip_prefix("admin_listen = "))
            .expect("started with the admin API")
            .trim_matches('"')
            .to_string();
        format!("http://{addr}{path}")
    }

    /// What /userinfo answers for `access_token`.
    pub async fn userinfo(&self, access_token: &str) -> serde_json::Value {
        let response = client()
            .get(format!("{}/userinfo", self.base))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("userinfo request");
        assert_eq!(response.status(), 200, "userinfo");
        response.json().await.expect("userinfo JSON")
    }

    /// Stops the server and waits until the database is released.
    pub async fn stop(self) {
        let data_dir = self.app.state().config.data_dir.clone();
        let _ = self.shutdown.send(());
        self.task.await.expect("join").expect("serve");
        drop(self.app);
        drop(open_when_released(&data_dir));
    }
}

/// A refresh_token grant at `base` by a confidential client (client_secret_basic).
pub async fn refresh_at(base: &str, (id, secret): (&str, &str), refresh_token: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .expect("token endpoint")
}

/// The token endpoint's JSON answer to an authorization_code grant at `base` by a
/// confidential client (client_secret_basic).
pub async fn redeem_at(
    base: &str,
    (id, secret): (&str, &str),
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> serde_json::Value {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    let response = client()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token endpoint");
    response.json().await.expect("token JSON")
}

/// Opens the store in `dir` once no other handle holds it. sled's I/O threads let go of
/// the file lock a moment after the last handle is dropped, so a reopen in the same
/// process waits for that (at most ten seconds).
pub fn open_when_released(dir: &Path) -> gatehouse::store::Store {
    use gatehouse::store::{Store, StoreError};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other.unwrap_or_else(|e| panic!("the database was not released: {e}")),
        }
    }
}

/// Posts `form` to `path` as the client `auth` (client_secret_basic); returns the status
/// and the JSON answer (`null` when it is not JSON).
pub async fn post_form(
    server: &TestServer,
    path: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let response = client()
        .post(format!("{}{path}", server.base))
        .basic_auth(auth.0, Some(auth.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

pub fn client() -> reqwest::Client {
    gatehouse::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Runs the `gatehouse` binary off the async runtime, so that a server running in this
/// test can answer it; returns (exit code, stdout, stderr).
pub async fn gatehouse_async(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || gatehouse(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("join")
}

/// Runs the `gatehouse` binary with `args`; returns (exit code, stdout, stderr).
pub fn gatehouse(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .output()
        .expect("run gatehouse");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The JWKS `kid`s, in the order served.
pub async fn jwks_kids(server: &TestServer) -> Vec<String> {
    jwks_kids_at(&server.base).await
}

/// The `kid`s of the JWKS that `base` serves, in the order served.
pub async fn jwks_kids_at(base: &str) -> Vec<String> {
    let jwks: serde_json::Value = client()
        .get(format!("{base}/jwks"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

/// The `iss` of test tokens: fixed, because a restarted test server gets a new port.
const TEST_ISSUER: &str = "https://issuer.test";

/// Signs a small ID-token-shaped JWT with the server's active key.
pub async fn sign_test_token(server: &TestServer) -> String {
    let now = server.clock.now();
    let claims = serde_json::json!({
        "iss": TEST_ISSUER, "sub": "test", "aud": "client", "iat": now, "exp": now + 600,
    });
    server
        .app
        .state()
        .keys
        .sign(&claims, gatehouse::keys::TokenType::Id)
        .await
        .expect("sign")
}

/// Verifies `token` against the server's JWKS as a relying party would; returns its claims.
pub async fn verify_with_jwks(server: &TestServer, token: &str) -> Result<serde_json::Value, String> {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    let jwks: JwkSet = server.get("/jwks").await.json().await.map_err(|e| e.to_string())?;
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid in the header")?;
    let jwk = jwks.find(&kid).ok_or(format!("kid {kid} is not in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&["client"]);
    validation.set_issuer(&[TEST_ISSUER]);
    // The test clock may be far from the real one.
    validation.validate_exp = false;
    decode::<serde_json::Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// Verifies a JWT from the server against its JWKS with `aud`; returns the claims.
pub async fn verify_jwt(server: &TestServer, token: &str, aud: &str) -> Result<serde_json::Value, String> {
    verify_jwt_with(server, token, aud, true).await
}

/// [`verify_jwt`], for a JWT that need not expire (a signed introspection answer).
pub async fn verify_jwt_with(
    server: &TestServer,
    token: &str,
    aud: &str,
    expires: bool,
) -> Result<serde_json::Value, String> {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
    let jwks: JwkSet = server.get("/jwks").await.json().await.map_err(|e| e.to_string())?;
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let jwk = jwks
        .find(header.kid.as_deref().ok_or("no kid")?)
        .ok_or("kid not in the JWKS")?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[&server.base]);
    if !expires {
        validation.required_spec_claims.remove("exp");
        validation.validate_exp = false;
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    decode::<serde_json::Value>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// The claims of a JWT, not verified (for a token whose signature is checked elsewhere,
/// or does not matter to the test).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

/// The `language` blocks of the README's section `## {heading}`, in order.
pub fn readme_blocks(heading: &str, language: &str) -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split(&format!("\n## {heading}\n"))
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_else(|| panic!("the README has no section {heading}"));
    section
        .split(&format!("```{language}\n"))
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default().to_string())
        .collect()
}

/// GETs `url` of an admin API with [`ADMIN_TOKEN`]; what it answers, as JSON.
pub async fn admin_get(url: &str) -> serde_json::Value {
    client()
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request")
        .json()
        .await
        .expect("admin JSON")
}

/// DELETEs `url` of an admin API with [`ADMIN_TOKEN`]; the status.
pub async fn admin_delete(url: &str) -> u16 {
    client()
        .delete(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request")
        .status()
        .as_u16()
}
