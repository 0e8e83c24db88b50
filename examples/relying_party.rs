//! A small web application that logs people in through Gatehouse with the openidconnect
//! crate, and shows the claims it got and the raw ID token.
//!
//!     cargo run --release -- serve --config examples/quickstart.toml   # Gatehouse, in one terminal
//!     cargo run --release -p relying-party                               # this app, in another
//!
//! then open http://127.0.0.1:9000 and log in as alice / alice. Settings come from the
//! environment: GATEHOUSE_ISSUER (http://127.0.0.1:8080), RP_CLIENT_ID (demo),
//! RP_CLIENT_SECRET (demo-secret), RP_LISTEN (127.0.0.1:9000).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// A login on its way: what the callback needs to finish it.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
}

/// What the app shows of a logged-in person.
struct Person {
    claims: serde_json::Value,
    userinfo: serde_json::Value,
    id_token: String,
}

struct App {
    client: Client,
    http: reqwest::Client,
    issuer: String,
    base: String,
    pending: Mutex<HashMap<String, Pending>>,
    people: Mutex<HashMap<String, Person>>,
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The HTTP client's TLS (for an https issuer) runs on the crypto provider Gatehouse
    // itself uses: rustls needs it named once per process.
    gatehouse::install_tls_provider();
    let issuer = setting("GATEHOUSE_ISSUER", "http://127.0.0.1:8080");
    let listen = setting("RP_LISTEN", "127.0.0.1:9000");
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http)
        .await
        .map_err(|e| format!("cannot discover Gatehouse at {issuer} (is it running?): {e}"))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(setting("RP_CLIENT_ID", "demo")),
        Some(ClientSecret::new(setting("RP_CLIENT_SECRET", "demo-secret"))),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{base}/callback"))?);
    let app = Arc::new(App {
        client,
        http,
        issuer,
        base: base.clone(),
        pending: Mutex::new(HashMap::new()),
        people: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("the example app is at {base}/ (log in as alice / alice)");
    axum::serve(listener, router).await?;
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>Example app</title><style>body{{font:16px/1.5 \
         system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}pre{{white-space:pre-wrap;\
         word-break:break-all;background:#f2f4f7;padding:1rem;border-radius:8px}}</style></head><body>\
         <h1>Example app</h1>{body}</body></html>"
    ))
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::COOKIE)?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("rp_session=").map(String::from))
}

async fn home(State(app): State<Arc<App>>, headers: HeaderMap) -> Html<String> {
    let people = app.people.lock().unwrap_or_else(|e| e.into_inner());
    match session_of(&headers).and_then(|s| people.get(&s)) {
        None => page("<p>You are not logged in.</p><p><a href=\"/login\">Log in with Gatehouse</a></p>"),
        Some(person) => {
            let pretty = |v: &serde_json::Value| escape(&serde_json::to_string_pretty(v).unwrap_or_default());
            page(&format!(
                "<p>Logged in as <strong>{}</strong>.</p><form method=\"post\" action=\"/logout\">\
                 <button type=\"submit\">Log out</button></form>\
                 <h2>ID token claims</h2><pre>{}</pre><h2>Userinfo</h2><pre>{}</pre><h2>Raw ID token</h2><pre>{}</pre>",
                escape(
                    person.claims["name"]
                        .as_str()
                        .or(person.claims["sub"].as_str())
                        .unwrap_or_default()
                ),
                pretty(&person.claims),
                pretty(&person.userinfo),
                escape(&person.id_token)
            ))
        }
    }
}

async fn login(State(app): State<Arc<App>>) -> Redirect {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = app
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    app.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(state.secret().clone(), Pending { verifier, nonce });
    Redirect::to(url.as_str())
}

async fn callback(State(app): State<Arc<App>>, Query(query): Query<HashMap<String, String>>) -> Response {
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").map(String::as_str).unwrap_or_default();
        return (
            StatusCode::BAD_REQUEST,
            page(&format!(
                "<p>Login failed: {} ({})</p><p><a href=\"/\">Back</a></p>",
                escape(error),
                escape(description)
            )),
        )
            .into_response();
    }
    let pending = query
        .get("state")
        .and_then(|s| app.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(s));
    let (Some(pending), Some(code)) = (pending, query.get("code")) else {
        return (
            StatusCode::BAD_REQUEST,
            page("<p>This login is unknown or already used.</p><p><a href=\"/\">Back</a></p>"),
        )
            .into_response();
    };
    match finish(&app, code, pending).await {
        Ok(person) => {
            let session = CsrfToken::new_random().secret().clone();
            app.people
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(session.clone(), person);
            let cookie = format!("rp_session={session}; Path=/; HttpOnly; SameSite=Lax");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            page(&format!("<p>Login failed: {}</p>", escape(&e))),
        )
            .into_response(),
    }
}

/// Exchanges the code and checks the ID token (signature, issuer, audience, nonce,
/// at_hash) the way any certified RP library does.
async fn finish(app: &App, code: &str, pending: Pending) -> Result<Person, String> {
    let tokens = app
        .client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(pending.verifier)
        .request_async(&app.http)
        .await
        .map_err(|e| format!("token exchange: {e}"))?;
    let id_token = tokens.id_token().ok_or("no ID token")?;
    let verifier = app.client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &pending.nonce)
        .map_err(|e| format!("ID token: {e}"))?;
    let userinfo: serde_json::Value = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Person {
        claims: serde_json::to_value(claims).map_err(|e| e.to_string())?,
        userinfo,
        id_token: id_token.to_string(),
    })
}

#[derive(serde::Deserialize)]
struct Nothing {}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, _: Form<Nothing>) -> Response {
    let person = session_of(&headers).and_then(|s| app.people.lock().unwrap_or_else(|e| e.into_inner()).remove(&s));
    let Some(person) = person else {
        return Redirect::to("/").into_response();
    };
    let mut url = format!("{}/end_session", app.issuer);
    let params = [
        ("id_token_hint", person.id_token.as_str()),
        ("post_logout_redirect_uri", &format!("{}/", app.base)),
    ];
    url.push('?');
    url.push_str(
        &params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&"),
    );
    Redirect::to(&url).into_response()
}
