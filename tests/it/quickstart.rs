//! The shipped quickstart config works as the README says: alice logs in through the
//! demo `local` upstream and the demo client gets her claims, and the README's first login
//! with the example application works, from its home page to its logout.

use crate::support;

use gatehouse::Clock;
use support::TestServer;
use support::browser::{Browser, local_login};

/// The shipped quickstart config: everything but the issuer, the port and the data
/// folder, as shipped.
fn quickstart() -> String {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let text = std::fs::read_to_string(format!("{examples}/quickstart.toml")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with("issuer") && !l.starts_with("data_dir"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\"demo-users.toml\"", &format!("\"{examples}/demo-users.toml\""))
        .replace("\"../claim-mappings/", &format!("\"{examples}/../claim-mappings/"))
}

#[tokio::test]
async fn alice_logs_in_with_the_quickstart_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &quickstart(), Clock::System).await;

    let browser = Browser::default();
    let url = format!(
        "{}/authorize?client_id=demo&response_type=code&scope=openid%20profile%20email\
         &redirect_uri=http://127.0.0.1:9000/callback&state=xyz",
        server.base
    );
    let login = browser.follow(&server.base, browser.get(&url).await).await;
    assert!(login.body.contains("Sign in to Demo app"), "{}", login.body);
    assert!(
        login.body.contains("<p class=\"muted\">with Demo accounts</p>"),
        "{}",
        login.body
    );
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

/// The example application (`examples/relying_party.rs`), which `cargo test` builds beside
/// the test binary, run as the README's "Your first login" runs it, against `issuer`;
/// stopped when dropped.
struct RelyingParty(std::process::Child);

impl RelyingParty {
    fn start(issuer: &str) -> RelyingParty {
        let deps = std::env::current_exe().unwrap();
        let build = deps.parent().and_then(|d| d.parent()).expect("target/<profile>/deps");
        let binary = build.join("examples").join("relying_party");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/relying_party.rs");
        let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        assert!(
            modified(&binary) >= modified(std::path::Path::new(source)),
            "{} is missing or older than its source: a plain `cargo test` builds it \
             (`cargo test --test it` alone does not: `cargo build --example relying_party`)",
            binary.display()
        );
        let child = std::process::Command::new(binary)
            .env("GATEHOUSE_ISSUER", issuer)
            .spawn()
            .expect("the example application starts");
        RelyingParty(child)
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_readme_first_login_runs_with_the_example_application() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &quickstart(), Clock::System).await;
    // The app listens where the quickstart's client returns: http://127.0.0.1:9000.
    let _app = RelyingParty::start(&server.base);
    let app = "http://127.0.0.1:9000";
    let browser = Browser::default();
    let mut home = None;
    // Ready once it answers (it discovers Gatehouse first); bounded.
    for _ in 0..300 {
        if let Ok(response) = support::client().get(format!("{app}/")).send().await {
            home = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let home = home.expect("the example application answers within 15 s");
    assert!(home.contains("Log in with Gatehouse"), "{home}");

    let to_gatehouse = browser.get(&format!("{app}/login")).await;
    let authorize = to_gatehouse.location.clone().expect("a redirect to Gatehouse");
    assert!(
        authorize.starts_with(&format!("{}/authorize?", server.base)),
        "{authorize}"
    );
    let answer = local_login(&server.base, &browser, &authorize, "alice", "alice").await;
    let signed_in = browser.follow_while(answer, |_| true).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert!(
        signed_in.body.contains("Logged in as <strong>Alice Example</strong>"),
        "{}",
        signed_in.body
    );
    assert!(
        signed_in.body.contains("alice@example.com"),
        "userinfo: {}",
        signed_in.body
    );

    let logged_out = browser.post(&format!("{app}/logout"), &[]).await;
    let back = browser.follow_while(logged_out, |_| true).await;
    assert!(back.url.starts_with(app), "back at the app: {}", back.url);
    assert!(back.body.contains("You are not logged in"), "{}", back.body);
    server.stop().await;
}
