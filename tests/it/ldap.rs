//! Logging in against a real directory: Debian's OpenLDAP `slapd` (`support::slapd`),
//! through the `ldap` upstream and the shipped `claim-mappings/ldap.toml`.

use crate::support::browser::{Browser, local_login, local_login_tokens};
use crate::support::config::{REDIRECT, TestClient, TestConfig};
use crate::support::slapd::{ADMIN_DN, ADMIN_PASSWORD, PEOPLE, Slapd};
use crate::support::{TestServer, jwt_claims, refresh_at};
use gatehouse::Clock;

const NOW: i64 = 1_700_000_000;

/// The upstream `corp` on the directory at `url`, with `lines` of its own keys.
fn config(url: &str, lines: &str) -> String {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/ldap.toml");
    TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .tables(&format!(
            r#"
[scopes.groups]
claims = ["groups"]

[[upstreams]]
id = "corp"
name = "Corporate directory"
kind = "ldap"
mapping = "{mapping}"
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{ADMIN_PASSWORD}"
user_base = "ou=people,dc=example,dc=org"
group_base = "ou=groups,dc=example,dc=org"
timeout = "2s"
{lines}
"#
        ))
        .build()
}

async fn start(dir: &tempfile::TempDir, config: &str, clock: Clock) -> TestServer {
    TestServer::start(dir.path(), config, clock).await
}

fn authorize_url(base: &str, scope: &str) -> String {
    format!("{base}/authorize?client_id=app&response_type=code&scope={scope}&redirect_uri={REDIRECT}")
}

/// Logs `user` in with `password` for `app`; the page the form answered with (the
/// redirect to the app when the password was right).
async fn sign_in(server: &TestServer, user: &str, password: &str) -> crate::support::browser::Page {
    let url = authorize_url(&server.base, "openid");
    local_login(&server.base, &Browser::default(), &url, user, password).await
}

/// The claims of the ID token `user` gets with `scope` (space-separated).
async fn id_token_claims(server: &TestServer, user: &str, password: &str, scope: &str) -> serde_json::Value {
    let url = authorize_url(&server.base, &scope.replace(' ', "%20"));
    let answer = local_login(&server.base, &Browser::default(), &url, user, password).await;
    let code = answer.redirect_params()["code"].clone();
    let tokens = server.redeem(("app", "app-secret"), &code, REDIRECT, None).await;
    jwt_claims(tokens["id_token"].as_str().expect("an ID token"))
}

#[tokio::test]
async fn a_person_logs_in_with_the_claims_and_nested_groups_of_their_entry() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), "nested_groups = true"), Clock::manual(NOW)).await;
    let claims = id_token_claims(&server, "ada", "correct horse", "openid profile email phone groups").await;
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["given_name"], "Ada");
    assert_eq!(claims["family_name"], "Lovelace");
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["email"], "ada@example.org");
    // A directory's mail is what someone typed, not an address proven to be theirs.
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["phone_number"], "+44 20 7946 0000");
    // staff directly, engineering through staff, and the loop once each.
    assert_eq!(
        claims["groups"],
        serde_json::json!(["engineering", "loop-a", "loop-b", "staff"])
    );
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    // The password was checked by a bind as the entry itself.
    assert!(slapd.wait_for_log("BIND dn=\"uid=ada,ou=people,dc=example,dc=org\" method=128"));
    server.stop().await;
}

#[tokio::test]
async fn without_nested_groups_only_the_direct_ones_count() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    let claims = id_token_claims(&server, "ada", "correct horse", "openid groups").await;
    assert_eq!(claims["groups"], serde_json::json!(["loop-a", "staff"]));
    let claims = id_token_claims(&server, "zoë", "zoë's password", "openid profile groups").await;
    assert_eq!(claims["name"], "Zoë Example");
    assert!(claims.get("groups").is_none(), "in no group, no groups claim: {claims}");
    server.stop().await;
}

#[tokio::test]
async fn the_subject_is_the_entry_uuid_so_a_renamed_person_keeps_their_account() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    let first = id_token_claims(&server, "bob", "battery staple", "openid").await;
    let again = id_token_claims(&server, "bob", "battery staple", "openid").await;
    assert_eq!(first["sub"], again["sub"]);
    let account = server
        .app
        .state()
        .store
        .accounts
        .get(first["sub"].as_str().unwrap(), NOW)
        .await
        .unwrap()
        .expect("the account");
    let links = gatehouse::domain::accounts::links_of(&account);
    let subject = &links[0].subject;
    assert!(
        subject.len() == 36 && subject.matches('-').count() == 4,
        "the account is linked by the entry's entryUUID, not its DN: {subject}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_an_unknown_name_and_an_empty_password_get_the_same_answer() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    for (user, password) in [("ada", "wrong"), ("nobody", "correct horse"), ("ada", "")] {
        let page = sign_in(&server, user, password).await;
        assert_eq!(page.status, 401, "{user}/{password:?}");
        assert!(page.body.contains("Wrong username or password."), "{user}/{password:?}");
    }
    // The empty password never reached the directory as a bind (an unauthenticated bind,
    // which many servers let through): once bob's wrong bind is logged, ada's would be too.
    let page = sign_in(&server, "bob", "wrong").await;
    assert_eq!(page.status, 401);
    assert!(slapd.wait_for_log("BIND dn=\"uid=bob,ou=people,dc=example,dc=org\""));
    let ada_binds = slapd
        .log()
        .matches("BIND dn=\"uid=ada,ou=people,dc=example,dc=org\"")
        .count();
    assert_eq!(ada_binds, 1, "one bind for the wrong password, none for the empty one");
    // The unknown name cost a bind too (to an entry that cannot exist), as a wrong
    // password does: the time taken does not tell which names exist.
    assert!(slapd.wait_for_log("BIND dn=\"cn=gatehouse-no-such-entry,ou=people,dc=example,dc=org\" method=128"));
    server.stop().await;
}

#[tokio::test]
async fn what_a_username_holds_goes_into_the_filter_escaped() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    // Seven wrong passwords from one address: more than the backoff lets through by default.
    let config = config(&slapd.url(), "") + "\n[limits]\npassword_failures_before_backoff = 50\n";
    let server = start(&dir, &config, Clock::manual(NOW)).await;
    // Unescaped, each of these would find ada's entry (a wildcard, a widened filter);
    // escaped, each names nobody.
    for user in ["ad*", "*", "ada)(uid=*", "*)(|(uid=*", "ada\\", "ada\u{0}", "(uid=ada)"] {
        let page = sign_in(&server, user, "correct horse").await;
        assert_eq!(page.status, 401, "{user:?} must not log in as ada");
    }
    assert!(
        slapd.wait_for_log("filter=\"(uid=ad\\2A)\""),
        "the wildcard went in escaped: {}",
        slapd.log()
    );
    // Beyond ASCII is a name like any other.
    let page = sign_in(&server, "zoë", "zoë's password").await;
    assert!(
        page.redirect_params().contains_key("code"),
        "zoë logs in: {}",
        page.body
    );
    server.stop().await;
}

#[tokio::test]
async fn a_directory_that_stops_answers_503_within_the_timeout_and_logins_work_again_when_it_is_back() {
    let mut slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    assert!(
        sign_in(&server, "ada", "correct horse")
            .await
            .redirect_params()
            .contains_key("code")
    );
    slapd.stop();
    let started = std::time::Instant::now();
    let page = sign_in(&server, "ada", "correct horse").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("temporarily unavailable"), "{}", page.body);
    // timeout = "2s", and the login form itself answers at once.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    slapd.resume();
    let page = sign_in(&server, "ada", "correct horse").await;
    assert!(
        page.redirect_params().contains_key("code"),
        "no restart needed: {}",
        page.body
    );
    server.stop().await;
}

#[tokio::test]
async fn a_deleted_entry_ends_the_refresh_family_at_the_next_refresh() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let lines = "refresh = \"on_refresh\"\nrefresh_interval = \"60s\"";
    let server = start(&dir, &config(&slapd.url(), lines), clock.clone()).await;
    let tokens = local_login_tokens(&server.base, &Browser::default(), "bob", "battery staple", REDIRECT).await;
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
    clock.advance(61);
    // Read again and still there: the family goes on.
    let response = refresh_at(&server.base, ("app", "app-secret"), &refresh_token).await;
    assert_eq!(response.status(), 200);
    let refresh_token = response.json::<serde_json::Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    slapd.delete("uid=bob,ou=people,dc=example,dc=org").await;
    clock.advance(61);
    let response = refresh_at(&server.base, ("app", "app-secret"), &refresh_token).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    server.stop().await;
}

#[tokio::test]
async fn ldaps_and_starttls_are_checked_against_the_configured_ca() {
    let slapd = Slapd::start(PEOPLE, true);
    let ca = slapd.ca_file();
    for (url, extra) in [(slapd.ldaps_url(), ""), (slapd.localhost_url(), "start_tls = true")] {
        let dir = tempfile::tempdir().unwrap();
        let lines = format!("ca_file = \"{}\"\n{extra}", ca.display());
        let server = start(&dir, &config(&url, &lines), Clock::manual(NOW)).await;
        let page = sign_in(&server, "ada", "correct horse").await;
        assert!(
            page.redirect_params().contains_key("code"),
            "{url} {extra}: {}",
            page.body
        );
        server.stop().await;
    }
    // Without the CA, the system roots do not vouch for the test certificate.
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.ldaps_url(), ""), Clock::manual(NOW)).await;
    let page = sign_in(&server, "ada", "correct horse").await;
    assert_eq!(page.status, 503, "an unverified directory is not talked to");
    server.stop().await;
}

#[tokio::test]
async fn the_readme_examples_load_and_the_openldap_one_logs_people_in() {
    let examples = crate::support::readme_blocks("LDAP and Active Directory", "toml");
    assert_eq!(examples.len(), 2, "the OpenLDAP and the Active Directory examples");
    let slapd = Slapd::start(PEOPLE, true);
    let root = env!("CARGO_MANIFEST_DIR");
    // The OpenLDAP example against the test directory: its server, service account and
    // CA are the test's; everything else is as printed.
    let openldap = examples[0]
        .replace("ldaps://ldap.example.org", &slapd.ldaps_url())
        .replace("cn=gatehouse,ou=services,dc=example,dc=org", ADMIN_DN)
        .replace("${LDAP_BIND_PASSWORD}", ADMIN_PASSWORD)
        .replace("claim-mappings/ldap.toml", &format!("{root}/claim-mappings/ldap.toml"))
        .replace(
            "url = ",
            &format!("ca_file = \"{}\"\nurl = ", slapd.ca_file().display()),
        );
    let config = TestConfig::new()
        .client(TestClient::confidential("app", "app-secret").no_consent())
        .tables(&openldap)
        .build();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config, Clock::manual(NOW)).await;
    let claims = id_token_claims(&server, "ada", "correct horse", "openid email groups").await;
    assert_eq!(claims["email"], "ada@example.org");
    assert_eq!(
        claims["groups"],
        serde_json::json!(["engineering", "loop-a", "loop-b", "staff"])
    );
    server.stop().await;
    // The README's `gatehouse ldap-test` command, on the same config.
    let commands = crate::support::readme_blocks("LDAP and Active Directory", "sh");
    assert_eq!(commands.len(), 1, "the ldap-test command");
    let path = crate::support::write_config(dir.path(), 0, &config);
    let command = commands[0]
        .trim()
        .replace("--config gatehouse.toml", &format!("--config {}", path.display()))
        .replacen("gatehouse ", &format!("{} ", env!("CARGO_BIN_EXE_gatehouse")), 1);
    let output = tokio::task::spawn_blocking(move || std::process::Command::new("sh").arg("-c").arg(command).output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let claims: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["email"], "ada@example.org", "{claims}");
    assert_eq!(claims["groups"].as_array().map(Vec::len), Some(4), "{claims}");
    // The Active Directory example is a valid config (there is no AD here to log in at).
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(slapd.ca_file(), dir.path().join("corp-root-ca.pem")).unwrap();
    std::fs::create_dir(dir.path().join("claim-mappings")).unwrap();
    std::fs::copy(
        format!("{root}/claim-mappings/active-directory.toml"),
        dir.path().join("claim-mappings/active-directory.toml"),
    )
    .unwrap();
    let ad = examples[1].replace("${AD_BIND_PASSWORD}", "not-the-real-one");
    let path = crate::support::write_config(dir.path(), 0, &ad);
    if let Err(e) = gatehouse::Config::load(&path, gatehouse::upstream::KINDS) {
        panic!("the README's AD example does not load: {e}");
    }
}

#[tokio::test]
async fn a_directory_that_accepts_connections_but_never_answers_is_given_up_after_the_timeout() {
    // A black hole: connections are taken and held, nothing is ever said.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", hole.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((connection, _)) = hole.accept().await {
            connections.push(connection);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&url, ""), Clock::manual(NOW)).await;
    let started = std::time::Instant::now();
    let page = sign_in(&server, "ada", "correct horse").await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(page.body.contains("temporarily unavailable"), "{}", page.body);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_secs(2) && waited < std::time::Duration::from_secs(8),
        "given up after timeout = \"2s\", not before and not much after: {waited:?}"
    );
    held.abort();
    server.stop().await;
}

#[tokio::test]
async fn directory_calls_and_login_outcomes_are_counted_in_the_metrics() {
    let mut slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with_admin(dir.path(), &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    let page = sign_in(&server, "ada", "correct horse").await;
    assert!(page.redirect_params().contains_key("code"), "{}", page.body);
    assert_eq!(sign_in(&server, "ada", "wrong").await.status, 401);
    slapd.stop();
    assert_eq!(sign_in(&server, "ada", "correct horse").await.status, 503);

    let scrape = crate::support::metrics::scrape(&server).await;
    let count = |series: &str| crate::support::metrics::metric(&scrape, series);
    let calls = |outcome: &str| {
        count(&format!(
            "gatehouse_upstream_requests_total{{upstream=\"corp\",endpoint=\"login\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(calls("ok"), 1.0, "{scrape}");
    assert_eq!(calls("refused"), 1.0, "{scrape}");
    assert_eq!(calls("failed"), 1.0, "{scrape}");
    assert_eq!(
        count("gatehouse_logins_completed_total{upstream=\"corp\"}"),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        count("gatehouse_logins_failed_total{upstream=\"corp\",reason=\"wrong_password\"}"),
        1.0,
        "{scrape}"
    );
    assert_eq!(
        count("gatehouse_logins_failed_total{upstream=\"corp\",reason=\"unavailable\"}"),
        1.0,
        "{scrape}"
    );
    // Whatever was typed stays out of the scrape.
    assert!(!scrape.contains("correct horse") && !scrape.contains(ADMIN_PASSWORD));
    server.stop().await;
}

#[tokio::test]
async fn a_disabled_filter_refuses_the_entries_it_matches_like_a_wrong_password() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let lines = "disabled_filter = \"(uid=bob)\"";
    let server = start(&dir, &config(&slapd.url(), lines), Clock::manual(NOW)).await;
    let page = sign_in(&server, "bob", "battery staple").await;
    assert_eq!(page.status, 401, "{}", page.body);
    assert!(page.body.contains("Wrong username or password."));
    let page = sign_in(&server, "ada", "correct horse").await;
    assert!(page.redirect_params().contains_key("code"), "{}", page.body);
    server.stop().await;
}

/// Runs `gatehouse ldap-test` on the upstream `corp` of `config` with `args`.
async fn ldap_test(dir: &tempfile::TempDir, config: &str, args: &[&str]) -> (i32, String, String) {
    let path = crate::support::write_config(dir.path(), 0, config);
    let mut all = vec!["ldap-test", "--config", path.to_str().unwrap(), "--upstream", "corp"];
    all.extend_from_slice(args);
    crate::support::gatehouse_async(&all).await
}

#[tokio::test]
async fn ldap_test_prints_the_mapped_claims_of_an_entry_without_binding_as_it() {
    let slapd = Slapd::start(PEOPLE, false);
    let dir = tempfile::tempdir().unwrap();
    let config = config(&slapd.url(), "nested_groups = true\ndisabled_filter = \"(uid=bob)\"");
    let (code, stdout, stderr) =
        ldap_test(&dir, &config, &["--username", "ada", "--scope", "openid email groups"]).await;
    assert_eq!(code, 0, "{stderr}");
    let claims: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        claims,
        serde_json::json!({
            "email": "ada@example.org",
            "email_verified": false,
            "groups": ["engineering", "loop-a", "loop-b", "staff"],
        })
    );
    assert!(
        stderr.contains("entry: uid=ada,ou=people,dc=example,dc=org"),
        "{stderr}"
    );
    let subject = stderr
        .lines()
        .find_map(|line| line.strip_prefix("subject: "))
        .expect("the subject on standard error");
    assert_eq!(subject.len(), 36, "the entryUUID: {subject}");

    // --document: what the mapping reads.
    let (code, stdout, stderr) = ldap_test(&dir, &config, &["--username", "ada", "--document"]).await;
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["dn"], "uid=ada,ou=people,dc=example,dc=org");
    assert_eq!(document["mail"], "ada@example.org");
    assert!(document.get("userPassword").is_none(), "{document}");

    // Nobody, and a disabled entry: the reason, and a failing exit.
    let (code, _, stderr) = ldap_test(&dir, &config, &["--username", "nobody"]).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("(uid=nobody)") && stderr.contains("found no entry"),
        "{stderr}"
    );
    let (code, _, stderr) = ldap_test(&dir, &config, &["--username", "bob"]).await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("uid=bob,ou=people,dc=example,dc=org is disabled"),
        "{stderr}"
    );

    // Only the service account bound: bob's search is logged after ada's, and no bind as
    // either person is.
    assert!(slapd.wait_for_log("filter=\"(uid=bob)\""));
    let log = slapd.log();
    assert!(
        !log.contains("BIND dn=\"uid=ada") && !log.contains("BIND dn=\"uid=bob"),
        "{log}"
    );

    // An upstream the config does not have.
    let (code, _, stderr) = ldap_test(
        &dir,
        &config.replace("id = \"corp\"", "id = \"other\""),
        &["--username", "ada"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("no upstream `corp` (the upstreams are: other)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn ready_waits_for_the_directory_as_for_an_oidc_upstream_unless_it_is_optional() {
    let mut slapd = Slapd::start(PEOPLE, false);
    slapd.stop();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), ""), Clock::manual(NOW)).await;
    let (status, body) = server.ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["waiting_for"], serde_json::json!(["upstream corp"]));
    slapd.resume();
    server.until_ready().await;
    server.stop().await;

    slapd.stop();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, &config(&slapd.url(), "optional = true"), Clock::manual(NOW)).await;
    assert_eq!(server.ready().await, (200, serde_json::json!({ "status": "ready" })));
    server.stop().await;
}
