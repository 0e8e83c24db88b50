//! The shipped quickstart config works as the README says: alice logs in through the
//! demo `local` upstream and the demo client gets her claims.

use crate::support;

use gatehouse::Clock;
use support::TestServer;
use support::browser::Browser;

#[tokio::test]
async fn alice_logs_in_with_the_quickstart_config() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let text = std::fs::read_to_string(format!("{examples}/quickstart.toml")).unwrap();
    // Everything but the issuer, the port and the data folder, as shipped.
    let rest: String = text
        .lines()
        .filter(|l| !l.starts_with("issuer") && !l.starts_with("data_dir"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\"demo-users.toml\"", &format!("\"{examples}/demo-users.toml\""))
        .replace("\"../claim-mappings/", &format!("\"{examples}/../claim-mappings/"));
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;

    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=demo&response_type=code&scope=openid%20profile%20email\
         &redirect_uri=http://127.0.0.1:9000/callback&state=xyz",
        server.base
    );
    let login = browser.follow(&server.base, browser.get(&url).await).await;
    assert!(login.body.contains("Sign in to Demo app"), "{}", login.body);
    assert!(login.body.contains("with your Demo accounts account"), "{}", login.body);
    let action = format!("{}{}", server.base, login.form_action());
    let consent = browser
        .post(
            &action,
            &[
                ("csrf", &login.field("csrf")),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert!(
        consent.body.contains("Allow Demo app to use your account?"),
        "{}",
        consent.body
    );
    let redirect = browser
        .post(
            &format!("{}/consent", server.base),
            &[
                ("pending", &consent.field("pending")),
                ("csrf", &consent.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = redirect.redirect_params()["code"].clone();

    let tokens = server
        .redeem(("demo", "demo-secret"), &code, "http://127.0.0.1:9000/callback", None)
        .await;
    let info = server.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Alice Example");
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], true);
    server.stop().await;
}
