//! Discovery, JWKS and health over real HTTP.

use crate::support;

use gatehouse::Clock;
use support::*;

#[tokio::test]
async fn discovery_lists_exactly_what_is_implemented() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let response = server.get("/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "discovery is JSON"
    );
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], server.base.as_str(), "issuer equals the config's");
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.base));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let endpoint = |path: &str| serde_json::json!(format!("{}{path}", server.base));
    assert_eq!(doc["authorization_endpoint"], endpoint("/authorize"));
    assert_eq!(doc["token_endpoint"], endpoint("/token"));
    assert_eq!(doc["userinfo_endpoint"], endpoint("/userinfo"));
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!([
            "query",
            "fragment",
            "form_post",
            "query.jwt",
            "fragment.jwt",
            "form_post.jwt",
            "jwt"
        ])
    );
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["revocation_endpoint"], endpoint("/revoke"));
    assert_eq!(doc["introspection_endpoint"], endpoint("/introspect"));
    assert_eq!(doc["end_session_endpoint"], endpoint("/end_session"));
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(
        doc["request_uri_parameter_supported"], false,
        "the default (true) would be a lie"
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["openid", "profile", "email", "address", "phone", "offline_access"])
    );
    let mut fields: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "authorization_endpoint",
            "authorization_response_iss_parameter_supported",
            "authorization_signing_alg_values_supported",
            "backchannel_logout_session_supported",
            "backchannel_logout_supported",
            "claims_parameter_supported",
            "claims_supported",
            "code_challenge_methods_supported",
            "dpop_signing_alg_values_supported",
            "end_session_endpoint",
            "grant_types_supported",
            "id_token_signing_alg_values_supported",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "introspection_signing_alg_values_supported",
            "issuer",
            "jwks_uri",
            "pushed_authorization_request_endpoint",
            "request_object_signing_alg_values_supported",
            "request_parameter_supported",
            "request_uri_parameter_supported",
            "require_pushed_authorization_requests",
            "response_modes_supported",
            "response_types_supported",
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "scopes_supported",
            "subject_types_supported",
            "token_endpoint",
            "token_endpoint_auth_methods_supported",
            "userinfo_endpoint",
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_oauth_authorization_server_metadata_is_the_discovery_document() {
    // RFC 8414: what clients of the MCP authorization spec read.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let response = server.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let metadata: serde_json::Value = response.json().await.unwrap();
    let discovery: serde_json::Value = server
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(metadata, discovery);
    assert_eq!(metadata["issuer"], server.base.as_str());
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        server
            .get("/.well-known/oauth-authorization-server/other")
            .await
            .status(),
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn discovery_lists_the_response_types_that_clients_opted_in_to() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[[clients]]
id = "spa"
redirect_uris = ["http://127.0.0.1:9/cb"]
response_types = ["id_token token", "code"]

[[clients]]
id = "portal"
secret = "s3cret"
redirect_uris = ["http://127.0.0.1:9/cb"]
response_types = ["code id_token"]
"#;
    let server = TestServer::start(dir.path(), config, Clock::System).await;
    let doc = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        doc["response_types_supported"],
        serde_json::json!(["code", "id_token token", "code id_token"]),
        "what some client may use, and nothing else"
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials", "implicit"])
    );
    server.stop().await;
}

#[tokio::test]
async fn every_advertised_url_answers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    let doc = server.get_json("/.well-known/openid-configuration").await;
    for (field, value) in doc.as_object().unwrap() {
        if let Some(url) = value.as_str().filter(|v| v.starts_with("http") && field != "issuer") {
            let response = client().get(url).send().await.unwrap();
            let status = response.status().as_u16();
            // /authorize without parameters shows an error page (400), /token is POST-only
            // (405) and /userinfo wants a token (401): all answer, none is missing.
            assert!(
                ![404, 500, 501, 502, 503].contains(&status),
                "{field}: {url} answered {status}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_trailing_slash_on_the_issuer_is_not_repeated_in_urls() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, format!("issuer = \"http://127.0.0.1:{port}/\"\n")).unwrap();
    let config = gatehouse::Config::load(&path, gatehouse::upstream::KINDS).unwrap();
    assert_eq!(config.issuer, format!("http://127.0.0.1:{port}"));
}

#[tokio::test]
async fn the_jwks_verifies_a_token_the_server_signed_with_each_algorithm() {
    for alg in ["RS256", "ES256", "EdDSA"] {
        let dir = tempfile::tempdir().unwrap();
        let config = format!("[tokens]\nsigning_alg = \"{alg}\"\n");
        let server = TestServer::start(dir.path(), &config, Clock::System).await;
        let doc = server.get_json("/.well-known/openid-configuration").await;
        assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!([alg]));
        let jwks = server.get_json("/jwks").await;
        let key = &jwks["keys"][0];
        assert_eq!(key["alg"], alg);
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "{alg}: the JWKS leaks the private part {private}"
            );
        }
        let token = sign_test_token(&server).await;
        let claims = verify_with_jwks(&server, &token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims["sub"], "test");
        // A token whose signature was tampered with does not verify.
        let mut forged = token.clone();
        forged.truncate(forged.len() - 4);
        forged.push_str("AAAA");
        assert!(
            verify_with_jwks(&server, &forged).await.is_err(),
            "{alg}: a forged token verified"
        );
        server.stop().await;
    }
}

#[tokio::test]
async fn health_answers_and_unknown_paths_get_a_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), "", Clock::System).await;
    assert_eq!(server.get_json("/healthz").await["status"], "ok");
    let response = server.get("/no/such/page?code=secret").await;
    assert_eq!(response.status(), 404);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = response.text().await.unwrap();
    assert!(body.contains("<h1>Page not found</h1>"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn templates_can_be_overridden_from_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("pages");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("error.hbs"), "<p class=custom>{{title}}</p>").unwrap();
    let server = TestServer::start(dir.path(), "templates_dir = \"pages\"\n", Clock::System).await;
    let body = server.get("/nowhere").await.text().await.unwrap();
    assert_eq!(body, "<p class=custom>Page not found</p>");
    server.stop().await;
}
