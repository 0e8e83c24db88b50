//! A mock upstream OpenID Provider: discovery, JWKS, authorize (the person is logged in
//! at once), token and userinfo; it can misbehave on demand.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "gatehouse";
pub const CLIENT_SECRET: &str = "upstream-secret";

/// The ways the mock can go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    None,
    BadSignature,
    AlgNone,
    Hs256WithPublicKey,
    WrongIss,
    WrongAud,
    Expired,
    NonceMismatch,
    MissingSub,
    /// The authorization endpoint sends the person back with error=access_denied.
    ErrorResponse,
    /// The token endpoint answers 400 invalid_grant.
    TokenError,
    /// The callback carries an `iss` (RFC 9207) that is not the mock's.
    WrongCallbackIss,
    /// Userinfo answers for another `sub`.
    UserinfoOtherSub,
    /// Discovery answers 503 (the upstream is down).
    DiscoveryUnavailable,
    /// `max_age` and `prompt=login` are ignored: the person's old session at the mock is
    /// taken as it is.
    IgnoresFreshness,
    /// The ID token has no `auth_time`.
    NoAuthTime,
}

struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
    public_pem: String,
}

fn signing_key(kid: &str) -> SigningKey {
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    SigningKey {
        kid: kid.to_string(),
        key,
        jwk,
        public_pem,
    }
}

struct Issued {
    nonce: Option<String>,
    challenge: Option<String>,
    auth_time: Option<i64>,
    acr: Option<String>,
}

pub struct MockState {
    pub issuer: String,
    key: Mutex<SigningKey>,
    pub misbehaviour: Mutex<Misbehaviour>,
    /// The claims of the person who logs in (besides iss, aud, exp, iat, nonce).
    pub person: Mutex<Value>,
    /// What userinfo answers (its `sub` is set by the mock).
    pub userinfo: Mutex<Value>,
    /// Expect client_secret_post (credentials in the form) instead of client_secret_basic.
    pub expect_post_auth: Mutex<bool>,
    /// What the Person API at `/person` answers: a JSON value, or a status with a body.
    pub person_api: Mutex<(StatusCode, String)>,
    /// The query of every logout request, in order.
    pub logout_requests: Mutex<Vec<HashMap<String, String>>>,
    /// The query of every authorization request, in order.
    pub authorize_requests: Mutex<Vec<HashMap<String, String>>>,
    /// When the person last authenticated at the mock (its own SSO session): set on the
    /// first login, and again when `max_age` or `prompt=login` asks for it.
    pub authenticated_at: Mutex<Option<i64>>,
    /// The `acr` of the ID token; when unset, the first of the `acr_values` asked for
    /// (an upstream that can always step up).
    pub acr: Mutex<Option<String>>,
    /// The `amr` of the ID token, if any.
    pub amr: Mutex<Option<Value>>,
    /// The `sid` of the ID token: the person's session at the mock, if it says.
    pub session_id: Mutex<Option<String>>,
    /// The refresh tokens the mock takes (each works once: it rotates them).
    pub refresh_tokens: Mutex<std::collections::HashSet<String>>,
    /// How many refresh_token grants it answered or refused.
    pub refresh_calls: Mutex<usize>,
    /// Held by a test, a refresh waits until it lets go; `refresh_arrived` says one came.
    pub refresh_gate: tokio::sync::Mutex<()>,
    pub refresh_arrived: tokio::sync::Notify,
    issued: Mutex<HashMap<String, Issued>>,
}

pub struct MockOp {
    pub state: Arc<MockState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockOp {
    pub async fn start() -> MockOp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(MockState {
            issuer,
            key: Mutex::new(signing_key("k1")),
            misbehaviour: Mutex::new(Misbehaviour::None),
            person: Mutex::new(json!({ "sub": "upstream-user-1", "name": "Una Upstream" })),
            userinfo: Mutex::new(json!({})),
            expect_post_auth: Mutex::new(false),
            authorize_requests: Mutex::new(Vec::new()),
            authenticated_at: Mutex::new(None),
            acr: Mutex::new(None),
            amr: Mutex::new(None),
            session_id: Mutex::new(None),
            refresh_tokens: Mutex::new(std::collections::HashSet::new()),
            refresh_calls: Mutex::new(0),
            refresh_gate: tokio::sync::Mutex::new(()),
            refresh_arrived: tokio::sync::Notify::new(),
            logout_requests: Mutex::new(Vec::new()),
            person_api: Mutex::new((StatusCode::OK, "{}".into())),
            issued: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/logout", get(logout))
            .route("/person", get(person_api))
            .with_state(state.clone());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        MockOp {
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn misbehave(&self, how: Misbehaviour) {
        *self.state.misbehaviour.lock().unwrap() = how;
    }

    /// Starts signing with a new key (a new `kid`), as an upstream rotating its keys.
    pub fn rotate_key(&self, kid: &str) {
        *self.state.key.lock().unwrap() = signing_key(kid);
    }

    /// Stops answering: the port is closed.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// A logout token with `claims` over the usual ones (iss, aud, iat, exp, jti, the
    /// event), signed with the mock's key, or a key of nobody's when `forged`. A claim set
    /// to null is left out.
    pub fn logout_token(&self, claims: Value, forged: bool) -> String {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let mut token = json!({
            "iss": self.state.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
            "jti": format!("jti-{}", rand::random::<u64>()),
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        let fields = token.as_object_mut().unwrap();
        for (name, value) in claims.as_object().unwrap() {
            if value.is_null() {
                fields.remove(name);
            } else {
                fields.insert(name.clone(), value.clone());
            }
        }
        let how = if forged {
            Misbehaviour::BadSignature
        } else {
            Misbehaviour::None
        };
        sign_typed(&self.state, &token, how, "logout+jwt")
    }

    /// A token of the mock's for an app (as a mobile SDK would get one): `claims` over
    /// iss, iat and exp, of JOSE type `typ` (none when empty), signed as `how` says.
    pub fn app_token(&self, claims: Value, typ: &str, how: Misbehaviour) -> String {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let mut token = json!({ "iss": self.state.issuer, "iat": now, "exp": now + 300 });
        token
            .as_object_mut()
            .unwrap()
            .extend(claims.as_object().unwrap().clone());
        sign_typed(&self.state, &token, how, typ)
    }

    pub fn last_authorize_request(&self) -> HashMap<String, String> {
        self.state
            .authorize_requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("an authorization request")
    }
}

async fn discovery(State(state): State<Arc<MockState>>) -> Result<Json<Value>, StatusCode> {
    if *state.misbehaviour.lock().unwrap() == Misbehaviour::DiscoveryUnavailable {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    let base = &state.issuer;
    Ok(Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
                "jwks_uri": format!("{base}/jwks"),
        "end_session_endpoint": format!("{base}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })))
}

async fn jwks(State(state): State<Arc<MockState>>) -> Json<Value> {
    let key = state.key.lock().unwrap();
    Json(json!({ "keys": [key.jwk] }))
}

async fn authorize(State(state): State<Arc<MockState>>, Query(query): Query<HashMap<String, String>>) -> Response {
    state.authorize_requests.lock().unwrap().push(query.clone());
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    let mut url = url::Url::parse(&redirect_uri).unwrap();
    let misbehaviour = *state.misbehaviour.lock().unwrap();
    {
        let mut pairs = url.query_pairs_mut();
        if misbehaviour == Misbehaviour::ErrorResponse {
            pairs.append_pair("error", "access_denied");
        } else {
            let code = format!("code-{}", state.authorize_requests.lock().unwrap().len());
            let auth_time = authenticate(&state, &query, misbehaviour);
            let acr = state.acr.lock().unwrap().clone().or_else(|| {
                let asked = query.get("acr_values")?;
                asked.split_whitespace().next().map(String::from)
            });
            state.issued.lock().unwrap().insert(
                code.clone(),
                Issued {
                    nonce: query.get("nonce").cloned(),
                    challenge: query.get("code_challenge").cloned(),
                    auth_time,
                    acr,
                },
            );
            pairs.append_pair("code", &code);
        }
        if let Some(s) = query.get("state") {
            pairs.append_pair("state", s);
        }
        let iss = if misbehaviour == Misbehaviour::WrongCallbackIss {
            "https://evil.example"
        } else {
            &state.issuer
        };
        pairs.append_pair("iss", iss);
    }
    Redirect::to(url.as_str()).into_response()
}

async fn token(
    State(state): State<Arc<MockState>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let misbehaviour = *state.misbehaviour.lock().unwrap();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authenticated = if *state.expect_post_auth.lock().unwrap() {
        headers.get("authorization").is_none()
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
    } else {
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    };
    if !authenticated {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        return refresh(&state, &form).await;
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(issued) = state.issued.lock().unwrap().remove(&code) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))).into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if issued.challenge.as_deref() != Some(challenge.as_str()) || misbehaviour == Misbehaviour::TokenError {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))).into_response();
    }
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut claims = id_token_claims(&state, now);
    let fields = claims.as_object_mut().unwrap();
    if let Some(nonce) = &issued.nonce {
        fields.insert("nonce".into(), json!(nonce));
    }
    if let Some(auth_time) = issued.auth_time {
        fields.insert("auth_time".into(), json!(auth_time));
    }
    if let Some(acr) = &issued.acr {
        fields.insert("acr".into(), json!(acr));
    }
    if let Some(amr) = state.amr.lock().unwrap().clone() {
        fields.insert("amr".into(), amr);
    }
    if let Some(sid) = state.session_id.lock().unwrap().clone() {
        fields.insert("sid".into(), json!(sid));
    }
    match misbehaviour {
        Misbehaviour::WrongIss => drop(fields.insert("iss".into(), json!("https://other.example"))),
        Misbehaviour::WrongAud => drop(fields.insert("aud".into(), json!("someone-else"))),
        Misbehaviour::Expired => {
            fields.insert("iat".into(), json!(now - 3600));
            fields.insert("exp".into(), json!(now - 1800));
        }
        Misbehaviour::NonceMismatch => drop(fields.insert("nonce".into(), json!("not-the-nonce"))),
        Misbehaviour::MissingSub => drop(fields.remove("sub")),
        _ => {}
    }
    let id_token = sign(&state, &claims, misbehaviour);
    Json(json!({
        "access_token": "upstream-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "refresh_token": new_refresh_token(&state),
    }))
    .into_response()
}

/// The person's claims with the mock's iss, aud, iat and exp, as of `now`.
fn id_token_claims(state: &MockState, now: i64) -> Value {
    let mut claims = state.person.lock().unwrap().clone();
    let fields = claims.as_object_mut().unwrap();
    fields.insert("iss".into(), json!(state.issuer));
    fields.insert("aud".into(), json!(CLIENT_ID));
    fields.insert("iat".into(), json!(now));
    fields.insert("exp".into(), json!(now + 300));
    claims
}

fn new_refresh_token(state: &MockState) -> String {
    let token = format!("upstream-refresh-token-{}", rand::random::<u64>());
    state.refresh_tokens.lock().unwrap().insert(token.clone());
    token
}

/// The refresh_token grant: a known token is rotated, and a new ID token (no nonce) says
/// what the mock says of the person now.
async fn refresh(state: &MockState, form: &HashMap<String, String>) -> Response {
    *state.refresh_calls.lock().unwrap() += 1;
    state.refresh_arrived.notify_one();
    drop(state.refresh_gate.lock().await);
    let token = form.get("refresh_token").cloned().unwrap_or_default();
    if !state.refresh_tokens.lock().unwrap().remove(&token) {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_grant" }))).into_response();
    }
    let claims = id_token_claims(state, jsonwebtoken::get_current_timestamp() as i64);
    let id_token = sign(state, &claims, Misbehaviour::None);
    Json(json!({
        "access_token": "upstream-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
        "refresh_token": new_refresh_token(state),
    }))
    .into_response()
}

/// When the person authenticated for this authorization request: their session at the
/// mock, renewed when there is none or the request asks for a fresher one.
fn authenticate(state: &MockState, query: &HashMap<String, String>, misbehaviour: Misbehaviour) -> Option<i64> {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut at = state.authenticated_at.lock().unwrap();
    let prompt_login = query.get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "login"));
    let max_age: Option<i64> = query.get("max_age").and_then(|m| m.parse().ok());
    let too_old = at.is_none_or(|at| prompt_login || max_age.is_some_and(|m| now - at > m));
    if too_old && (at.is_none() || misbehaviour != Misbehaviour::IgnoresFreshness) {
        *at = Some(now);
    }
    (misbehaviour != Misbehaviour::NoAuthTime).then_some(*at).flatten()
}

fn sign(state: &MockState, claims: &Value, misbehaviour: Misbehaviour) -> String {
    sign_typed(state, claims, misbehaviour, "JWT")
}

fn sign_typed(state: &MockState, claims: &Value, misbehaviour: Misbehaviour, typ: &str) -> String {
    let key = state.key.lock().unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    // An empty `typ` leaves the header without one.
    header.typ = (!typ.is_empty()).then(|| typ.to_string());
    match misbehaviour {
        Misbehaviour::AlgNone => {
            let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": key.kid }).to_string());
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("{header}.{payload}.")
        }
        Misbehaviour::Hs256WithPublicKey => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid.clone());
            jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.public_pem.as_bytes())).unwrap()
        }
        Misbehaviour::BadSignature => {
            let other = signing_key(&key.kid);
            jsonwebtoken::encode(&header, claims, &other.key).unwrap()
        }
        _ => jsonwebtoken::encode(&header, claims, &key.key).unwrap(),
    }
}

async fn userinfo(State(state): State<Arc<MockState>>, headers: axum::http::HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer upstream-access-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut info = state.userinfo.lock().unwrap().clone();
    let sub = if *state.misbehaviour.lock().unwrap() == Misbehaviour::UserinfoOtherSub {
        json!("someone-else")
    } else {
        state.person.lock().unwrap()["sub"].clone()
    };
    info.as_object_mut().unwrap().insert("sub".into(), sub);
    Json(info).into_response()
}

async fn logout(State(state): State<Arc<MockState>>, Query(query): Query<HashMap<String, String>>) -> Response {
    state.logout_requests.lock().unwrap().push(query.clone());
    let mut url = url::Url::parse(&query["post_logout_redirect_uri"]).unwrap();
    url.query_pairs_mut().append_pair("state", &query["state"]);
    Redirect::to(url.as_str()).into_response()
}

async fn person_api(State(state): State<Arc<MockState>>, headers: axum::http::HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer upstream-access-token") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (status, body) = state.person_api.lock().unwrap().clone();
    (status, [("content-type", "application/json")], body).into_response()
}
