//! Config validation through the real command line: every mistake is reported as
//! `FILE: key.path: what is wrong`, all at once, and nothing starts.

use crate::support;

use support::gatehouse;

const GOOD: &str = r#"
issuer = "https://login.example.com"
listen = "127.0.0.1:0"

[[clients]]
id = "app"
secret = "s3cret"
redirect_uris = ["https://app.example.com/callback"]

[[upstreams]]
id = "corp"
kind = "oidc"
issuer = "https://idp.example.com"
client_id = "gatehouse"
"#;

/// Writes `text` as a config in a fresh folder and runs `gatehouse check` on it.
fn check(text: &str) -> (i32, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    let (code, stdout, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    (code, stdout, stderr.replace(path.to_str().unwrap(), "FILE"), dir)
}

fn assert_reports(text: &str, expected: &[&str]) {
    let (code, stdout, stderr, _dir) = check(text);
    assert_ne!(code, 0, "accepted:\n{text}\n{stdout}");
    for line in expected {
        assert!(
            // A line that ends in "\n" is the whole line; others its start.
            stderr
                .lines()
                .any(|l| line.strip_suffix('\n').map_or(l.starts_with(line), |whole| l == whole)),
            "missing `{line}` in:\n{stderr}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn check_refuses_a_data_dir_that_cannot_hold_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    for data_dir in [file.clone(), file.join("data")] {
        let text = format!("data_dir = \"{}\"\n{GOOD}", data_dir.display());
        let (code, _, stderr, _dir) = check(&text);
        assert_ne!(code, 0, "{}", data_dir.display());
        assert!(
            stderr.starts_with("FILE: data_dir: ") && stderr.contains("is not a folder"),
            "{stderr}"
        );
    }
    let fresh = dir.path().join("not-yet").join("data");
    let (code, _, stderr, _dir) = check(&format!("data_dir = \"{}\"\n{GOOD}", fresh.display()));
    assert_eq!(code, 0, "a folder serve will create: {stderr}");
    assert!(
        !fresh.exists() && !dir.path().join("not-yet").exists(),
        "check creates nothing"
    );
}

#[test]
fn a_good_config_passes_with_a_summary() {
    let (code, stdout, stderr, _dir) = check(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("OK: issuer https://login.example.com, 1 client(s), 1 upstream(s)"),
        "{stdout}"
    );
}

#[test]
fn the_quickstart_config_passes() {
    let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.toml");
    let (code, stdout, stderr) = gatehouse(&["check", "--config", quickstart]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn an_http_issuer_is_refused_unless_loopback() {
    assert_reports(
        &GOOD.replace("https://login.example.com", "http://login.example.com"),
        &["FILE: issuer: \"http://login.example.com\" must use https"],
    );
    for loopback in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
        let (code, _, stderr, _dir) = check(&GOOD.replace("https://login.example.com", loopback));
        assert_eq!(code, 0, "{loopback}: {stderr}");
    }
}

#[test]
fn duplicate_ids_are_refused() {
    let twice = format!(
        "{GOOD}\n[[clients]]\nid = \"app\"\nredirect_uris = [\"https://b.example.com/cb\"]\n\
         [[upstreams]]\nid = \"corp\"\nkind = \"local\"\n"
    );
    assert_reports(
        &twice,
        &[
            "FILE: clients[1].id: \"app\" is used by another client",
            "FILE: upstreams[1].id: \"corp\" is used by another upstream",
        ],
    );
}

#[test]
fn email_domains_acr_maps_and_the_chooser_are_checked() {
    let text = format!(
        "{GOOD}domains = [\"corp.example\", \"@bad\", \"nodot\"]\n\
         acr_map = {{ \"urn:gatehouse:mfa\" = \"mfa\", \"urn:gatehouse:pwd\" = [\"mfa\"], \"empty\" = [] }}\n\
         [[upstreams]]\nid = \"other\"\nkind = \"local\"\ndomains = [\"CORP.example\"]\nhidden = \"yes\"\n\
         [chooser]\nask_email = true\nshow = 3\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: upstreams[0].domains[1]: \"@bad\" is not a domain name",
            "FILE: upstreams[0].domains[2]: \"nodot\" is not a domain name",
            "FILE: upstreams[0].acr_map.urn:gatehouse:pwd: the upstream value \"mfa\" already stands for \"urn:gatehouse:mfa\"",
            "FILE: upstreams[0].acr_map.empty: must map a non-empty acr value",
            "FILE: upstreams[1].hidden:",
            "FILE: chooser.show:",
        ],
    );
    let taken = format!(
        "{GOOD}domains = [\"corp.example\"]\n[[upstreams]]\nid = \"other\"\nkind = \"local\"\ndomains = [\"CORP.example\"]\n"
    );
    assert_reports(
        &taken,
        &["FILE: upstreams[1].domains[0]: \"corp.example\" is listed by upstream \"corp\" too"],
    );
}

#[test]
fn redirect_uris_must_be_absolute_and_without_fragment() {
    let text = GOOD.replace(
        r#"redirect_uris = ["https://app.example.com/callback"]"#,
        r#"redirect_uris = ["/callback", "https://app.example.com/cb#top"]
post_logout_redirect_uris = ["logged-out"]"#,
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[0].redirect_uris[0]: \"/callback\" is not an absolute URI",
            "FILE: clients[0].redirect_uris[1]: \"https://app.example.com/cb#top\" must not have a fragment",
            "FILE: clients[0].post_logout_redirect_uris[0]: \"logged-out\" is not an absolute URI",
        ],
    );
}

#[test]
fn redirect_uris_are_https_loopback_http_or_a_native_apps_scheme() {
    let text = GOOD.replace(
        r#"redirect_uris = ["https://app.example.com/callback"]"#,
        r#"redirect_uris = ["https://app.example.com/callback", "http://127.0.0.1:8400/cb", "http://[::1]/cb",
  "http://localhost:3000/cb", "com.example.app:/oauth2redirect", "javascript:alert(1)//",
  "http://app.example.com/cb", "data:text/html,hi", "myapp://cb"]
post_logout_redirect_uris = ["http://10.0.0.1/bye", "file:///etc/passwd"]"#,
    );
    let clear = "sends codes and tokens in the clear: use https";
    let scheme = "has a scheme codes must not go to";
    assert_reports(
        &text,
        &[
            &format!("FILE: clients[0].redirect_uris[5]: \"javascript:alert(1)//\" {scheme}"),
            &format!("FILE: clients[0].redirect_uris[6]: \"http://app.example.com/cb\" {clear}"),
            &format!("FILE: clients[0].redirect_uris[7]: \"data:text/html,hi\" {scheme}"),
            &format!("FILE: clients[0].redirect_uris[8]: \"myapp://cb\" {scheme}"),
            &format!("FILE: clients[0].post_logout_redirect_uris[0]: \"http://10.0.0.1/bye\" {clear}"),
            &format!("FILE: clients[0].post_logout_redirect_uris[1]: \"file:///etc/passwd\" {scheme}"),
        ],
    );
    let (_, _, stderr, _dir) = check(&text);
    for allowed in 0..5 {
        assert!(
            !stderr.contains(&format!("clients[0].redirect_uris[{allowed}]:")),
            "redirect_uris[{allowed}] is allowed: {stderr}"
        );
    }
}

#[test]
fn a_client_may_only_name_known_upstreams() {
    let text = GOOD.replace(
        "secret = \"s3cret\"",
        "secret = \"s3cret\"\nupstreams = [\"corp\", \"google\"]",
    );
    assert_reports(&text, &["FILE: clients[0].upstreams[1]: no upstream has id \"google\""]);
}

#[test]
fn each_kind_refuses_the_keys_of_other_kinds_and_names_what_it_lacks() {
    let with_oauth2_key = GOOD.replace(
        "client_id = \"gatehouse\"",
        "userinfo_url = \"https://idp.example.com/u\"",
    );
    assert_reports(
        &with_oauth2_key,
        &[
            "FILE: upstreams[0].userinfo_url: unknown key",
            "FILE: upstreams[0].client_id: is required for kind \"oidc\"",
        ],
    );
    let local_with_issuer = GOOD
        .replace("kind = \"oidc\"", "kind = \"local\"")
        .replace("client_id = \"gatehouse\"\n", "");
    assert_reports(&local_with_issuer, &["FILE: upstreams[0].issuer: unknown key"]);
}

#[test]
fn an_unknown_kind_is_refused() {
    assert_reports(
        &GOOD.replace("kind = \"oidc\"", "kind = \"wsfed\""),
        &[
            "FILE: upstreams[0].kind: unknown variant `wsfed`, expected one of `oidc`, `oauth2`, `local`, `ldap`, `saml`",
        ],
    );
}

#[test]
fn a_missing_mapping_file_is_refused() {
    let text = GOOD.replace(
        "client_id = \"gatehouse\"",
        "client_id = \"gatehouse\"\nmapping = \"maps/corp.toml\"",
    );
    assert_reports(&text, &["FILE: upstreams[0].mapping: file not found:"]);
    let (code, _, stderr, dir) = check(&text);
    assert_ne!(code, 0);
    std::fs::create_dir(dir.path().join("maps")).unwrap();
    std::fs::write(dir.path().join("maps/corp.toml"), "").unwrap();
    let path = dir.path().join("gatehouse.toml");
    let (code, _, stderr_after) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "the mapping path is relative to the config file: {stderr}\n{stderr_after}"
    );
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    let text = r#"
issuer = "https://login.example.com"
listen = "127.0.0.1:0"
isuser = "typo"
[tokens]
id_token_tll = "1h"
[scopes.tenant]
claims = ["tenant_name"]
claim = "x"
[[clients]]
id = "app"
redirect_uri = "https://app.example.com/cb"
redirect_uris = ["https://app.example.com/cb"]
[[upstreams]]
id = "local"
kind = "local"
[[upstreams.users]]
username = "a"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$aQFj0jTUZMtHsG+aJTkNsg$fh8CTh/zu2okcTbnh+r4C7GP/lmelsPBbnSK9nIY9uI"
pasword = "oops"
"#;
    assert_reports(
        text,
        &[
            "FILE: isuser: unknown key (did you mean \"issuer\"?)",
            "FILE: tokens.id_token_tll: unknown key (did you mean \"id_token_ttl\"?)",
            "FILE: scopes.tenant.claim: unknown key (did you mean \"claims\"?)",
            "FILE: clients[0].redirect_uri: unknown key (did you mean \"redirect_uris\"?)",
            // Too far from every key a user has to be a slip: no guess.
            "FILE: upstreams[0].users[0].pasword: unknown key (upstream \"local\")\n",
        ],
    );
}

#[test]
fn a_misspelt_key_is_answered_with_the_key_meant() {
    // The README's example, and the kind's own keys on an upstream.
    let text = GOOD
        .replace(
            "client_id = \"gatehouse\"",
            "client_id = \"gatehouse\"\nuserinfo_ur = \"x\"",
        )
        .replace("[[clients]]", "[tokens]\nacess_token_ttl = \"5m\"\n[[clients]]");
    assert_reports(
        &text,
        &[
            "FILE: tokens.acess_token_ttl: unknown key (did you mean \"access_token_ttl\"?)\n",
            "FILE: upstreams[0].userinfo_ur: unknown key (did you mean \"userinfo\"?) (upstream \"corp\")\n",
        ],
    );
}

#[test]
fn values_of_the_wrong_shape_are_each_reported() {
    let text = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\n[tokens]\nsigning_alg = \"HS256\"\ncode_ttl = \"5x\"\nsession_ttl = 60",
    );
    assert_reports(
        &text,
        &[
            "FILE: tokens.signing_alg: unknown variant `HS256`",
            "FILE: tokens.code_ttl: \"5x\" has unknown unit \"x\"",
            "FILE: tokens.session_ttl: invalid type: integer `60`, expected a string",
        ],
    );
}

#[test]
fn a_refresh_family_cannot_end_before_its_tokens_idle_out() {
    let text = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\n[tokens]\nrefresh_token_ttl = \"30d\"\nrefresh_token_absolute_ttl = \"7d\"",
    );
    assert_reports(
        &text,
        &["FILE: tokens.refresh_token_absolute_ttl: is shorter than refresh_token_ttl"],
    );
}

#[test]
fn secrets_come_from_the_environment_and_a_missing_variable_is_an_error() {
    let text = GOOD.replace("secret = \"s3cret\"", "secret = \"${GATEHOUSE_TEST_SECRET_NOT_SET}\"");
    assert_reports(
        &text,
        &["FILE: clients[0].secret: environment variable GATEHOUSE_TEST_SECRET_NOT_SET is not set"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(
        &path,
        GOOD.replace("secret = \"s3cret\"", "secret = \"${GATEHOUSE_TEST_SECRET}\""),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config", path.to_str().unwrap()])
        .env("GATEHOUSE_TEST_SECRET", "from-the-environment")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn client_secrets_and_auth_methods_must_agree() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"public\"\nredirect_uris = [\"https://p.example.com/cb\"]\n\
         token_endpoint_auth_method = \"client_secret_post\"\n\
         [[clients]]\nid = \"both\"\nsecret = \"a\"\nsecret_hash = \"b\"\nredirect_uris = [\"https://b.example.com/cb\"]\n\
         [[clients]]\nid = \"badhash\"\nsecret_hash = \"not-a-hash\"\nredirect_uris = [\"https://c.example.com/cb\"]\n\
         [[clients]]\nid = \"spa\"\nredirect_uris = [\"https://s.example.com/cb\"]\nintrospect = true\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[1].token_endpoint_auth_method: needs secret or secret_hash",
            "FILE: clients[2].secret_hash: set either secret or secret_hash, not both",
            "FILE: clients[3].secret_hash: is not an argon2 PHC string",
            "FILE: clients[4].introspect: needs secret, secret_hash or keys: a public client cannot prove who it is",
        ],
    );
}

#[test]
fn jwt_client_authentication_is_checked_key_by_key() {
    let text = format!(
        r#"{GOOD}
[[clients]]
id = "no-keys"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"

[[clients]]
id = "hashed"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "client_secret_jwt"
secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"

[[clients]]
id = "short"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "client_secret_jwt"
secret = "short"

[[clients]]
id = "private"
grant_types = ["client_credentials"]
jwks = {{ keys = [{{ kty = "OKP", crv = "Ed25519", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" }}] }}

[[clients]]
id = "both"
grant_types = ["client_credentials"]
jwks = {{ keys = [{{ kty = "OKP", crv = "Ed25519", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }}] }}
jwks_uri = "https://keys.example/jwks"

[[clients]]
id = "plain-http"
grant_types = ["client_credentials"]
jwks_uri = "http://keys.example/jwks"
"#
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[1].token_endpoint_auth_method: private_key_jwt needs jwks or jwks_uri",
            "FILE: clients[2].token_endpoint_auth_method: client_secret_jwt signs with the secret itself",
            "FILE: clients[3].token_endpoint_auth_method: client_secret_jwt needs a secret of 32 bytes or more",
            "FILE: clients[4].jwks: holds a private or symmetric key",
            "FILE: clients[5].jwks_uri: set either jwks or jwks_uri, not both",
            "FILE: clients[6].jwks_uri: \"http://keys.example/jwks\" must use https",
        ],
    );
}

#[test]
fn response_types_are_checked_one_by_one() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"spa\"\nredirect_uris = [\"https://s.example.com/cb\"]\n\
         response_types = [\"id_token token\", \"token\", \"code id_token\"]\n\
         [[clients]]\nid = \"machine\"\nsecret = \"s\"\ngrant_types = [\"client_credentials\"]\n\
         response_types = [\"code token\"]\n\
         [[clients]]\nid = \"nothing\"\nredirect_uris = [\"https://n.example.com/cb\"]\nresponse_types = []\n\
         [[clients]]\nid = \"nowhere\"\nresponse_types = [\"id_token\"]\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[1].response_types[1]: \"token\" is not a response type (one of: code, id_token, \
             id_token token, code id_token, code token, code id_token token)",
            "FILE: clients[2].response_types[0]: \"code token\" returns a code: add authorization_code to grant_types",
            "FILE: clients[2].redirect_uris: must list at least one redirect URI",
            "FILE: clients[3].response_types: is empty",
            "FILE: clients[4].redirect_uris: must list at least one redirect URI",
        ],
    );
    let (code, _, stderr, _dir) = check(&format!(
        "{GOOD}\n[[clients]]\nid = \"spa\"\nredirect_uris = [\"https://s.example.com/cb\"]\n\
         response_types = [\"token id_token\", \"code\"]\n"
    ));
    assert_eq!(code, 0, "words in any order: {stderr}");
}

#[test]
fn invalid_toml_names_the_line() {
    assert_reports(
        "issuer = \"https://a.example.com\"\n\nclients = [\n",
        &["FILE: not valid TOML"],
    );
    let (_, _, stderr, _dir) = check("issuer = \"https://a.example.com\"\nlisten = \n");
    assert!(stderr.contains("(line 2)"), "{stderr}");
}

#[test]
fn every_problem_is_listed_at_once_and_serve_refuses_to_start() {
    let text = r#"
issuer = "http://login.example.com"
listen = "127.0.0.1:0"
data_dir = "state"
colour = "blue"
[[clients]]
id = "app"
redirect_uris = ["relative"]
upstreams = ["nope"]
[[upstreams]]
id = "corp"
kind = "oidc"
issuer = "https://idp.example.com"
client_id = "x"
mapping = "missing.toml"
"#;
    let (code, _, check_stderr, dir) = check(text);
    assert_ne!(code, 0);
    let expected = [
        "FILE: issuer:",
        "FILE: colour: unknown key",
        "FILE: clients[0].redirect_uris[0]:",
        "FILE: clients[0].upstreams[0]:",
        "FILE: upstreams[0].mapping:",
    ];
    for line in expected {
        assert!(
            check_stderr.lines().any(|l| l.starts_with(line)),
            "missing `{line}` in:\n{check_stderr}"
        );
    }
    assert_eq!(check_stderr.lines().count(), expected.len(), "{check_stderr}");

    let path = dir.path().join("gatehouse.toml");
    let (code, _, serve_stderr) = gatehouse(&["serve", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0, "serve started with a broken config");
    let serve_stderr = serve_stderr.replace(path.to_str().unwrap(), "FILE");
    assert_eq!(serve_stderr, check_stderr, "serve and check print the same problems");
    assert!(
        !dir.path().join("state").exists(),
        "nothing was created by a refused start"
    );
}

#[test]
fn a_missing_config_file_is_reported() {
    let (code, _, stderr) = gatehouse(&["check", "--config", "/nonexistent/gatehouse.toml"]);
    assert_ne!(code, 0);
    assert!(
        stderr.starts_with("/nonexistent/gatehouse.toml: cannot read the file"),
        "{stderr}"
    );
}

#[test]
fn check_validates_the_referenced_mapping_files_and_serve_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("maps")).unwrap();
    std::fs::write(
        dir.path().join("maps/corp.toml"),
        "[claims]\nname = \"{{shout name}}\"\nsub = \"x\"\n",
    )
    .unwrap();
    let path = dir.path().join("gatehouse.toml");
    let text = GOOD.replace(
        "client_id = \"gatehouse\"",
        "client_id = \"gatehouse\"\nmapping = \"maps/corp.toml\"",
    );
    std::fs::write(
        &path,
        text.replace(
            "listen = \"127.0.0.1:0\"",
            "listen = \"127.0.0.1:0\"\ndata_dir = \"state\"",
        ),
    )
    .unwrap();
    let mapping_file = dir.path().join("maps/corp.toml");
    let mapping_file = mapping_file.to_str().unwrap();

    let (code, _, check_stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        check_stderr.contains(&format!("{mapping_file}: claims.name: unknown helper \"shout\"")),
        "{check_stderr}"
    );
    assert!(
        check_stderr.contains(&format!("{mapping_file}: claims.sub: ")),
        "{check_stderr}"
    );

    let (code, _, serve_stderr) = gatehouse(&["serve", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert_eq!(serve_stderr.trim_end(), check_stderr.trim_end());
    assert!(
        !dir.path().join("state").exists(),
        "nothing was created by a refused start"
    );

    std::fs::write(
        dir.path().join("maps/corp.toml"),
        "subject = \"{{oid}}\"\n[claims]\nname = \"{{name}}\"\n",
    )
    .unwrap();
    let (code, stdout, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 mapping(s)"), "{stdout}");
}

#[test]
fn local_users_may_come_from_a_file_whose_problems_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    let config =
        "issuer = \"http://127.0.0.1:8080\"\n[[upstreams]]\nid = \"demo\"\nkind = \"local\"\nusers = \"people.toml\"\n";
    std::fs::write(&path, config).unwrap();
    let (code, _, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("upstreams[0].users: cannot read"), "{stderr}");

    let people = dir.path().join("people.toml");
    std::fs::write(
        &people,
        "[[users]]\nusername = \"a\"\npassword_hash = \"nope\"\nnickname = \"x\"\n",
    )
    .unwrap();
    let (code, _, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_ne!(code, 0);
    let people = people.to_str().unwrap();
    assert!(
        stderr.contains(&format!("upstreams[0].users: {people}: users[0].nickname: unknown key")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "upstreams[0].users: {people}: users[0].password_hash: is not an argon2"
        )),
        "{stderr}"
    );

    let hash = "$argon2id$v=19$m=19456,t=2,p=1$aQFj0jTUZMtHsG+aJTkNsg$fh8CTh/zu2okcTbnh+r4C7GP/lmelsPBbnSK9nIY9uI";
    std::fs::write(
        dir.path().join("people.toml"),
        format!("[[users]]\nusername = \"a\"\npassword_hash = \"{hash}\"\n"),
    )
    .unwrap();
    let (code, _, stderr) = gatehouse(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn hash_password_makes_an_argon2_hash_that_check_accepts() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"correct horse\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success());
    let hash = String::from_utf8(output.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let text = GOOD.replace("secret = \"s3cret\"", &format!("secret_hash = \"{}\"", hash.trim()));
    let (code, _, stderr, _dir) = check(&text);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn client_credentials_backchannel_and_admin_settings_are_checked() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"m2m\"\ngrant_types = [\"client_credentials\"]\n\
         [[clients]]\nid = \"bcl\"\nsecret = \"x\"\nredirect_uris = [\"https://b.example.com/cb\"]\nbackchannel_logout_uri = \"logout\"\n\
         initiate_login_uri = \"http://b.example.com/login\"\n\
         [[clients]]\nid = \"frag\"\nsecret = \"x\"\nredirect_uris = [\"https://f.example.com/cb\"]\ninitiate_login_uri = \"https://f.example.com/login#x\"\n"
    )
    .replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:0\"\nadmin_listen = 9091");
    assert_reports(
        &text,
        &[
            "FILE: clients[1].grant_types: client_credentials is for confidential clients",
            "FILE: clients[2].backchannel_logout_uri: \"logout\" must be an absolute http(s) URL",
            "FILE: clients[2].initiate_login_uri: \"http://b.example.com/login\" must use https",
            "FILE: clients[3].initiate_login_uri: \"https://f.example.com/login#x\" must not have a fragment",
            "FILE: admin_token: is required when admin_listen is set",
        ],
    );
}

#[test]
fn a_client_scope_list_names_known_scopes_and_client_credentials_without_one_is_warned_about() {
    let text = format!(
        "{GOOD}\n[scopes.\"api:read\"]\nclaims = [\"name\"]\n\
         [[clients]]\nid = \"m2m\"\nsecret = \"x\"\ngrant_types = [\"client_credentials\"]\n\
         [[clients]]\nid = \"listed\"\nsecret = \"x\"\ngrant_types = [\"client_credentials\"]\nscopes = [\"api:read\"]\n"
    );
    let (code, _, stderr, _dir) = check(&text);
    assert_eq!(code, 0, "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("FILE: clients[1].scopes: warning: client \"m2m\" may use client_credentials"),
        "{stderr}"
    );
    let unknown = text.replace("scopes = [\"api:read\"]", "scopes = [\"profile\", \"api:write\"]");
    assert_reports(
        &unknown,
        &["FILE: clients[2].scopes[1]: \"api:write\" is neither a standard scope"],
    );
}

#[test]
fn the_person_api_example_config_passes_with_its_secrets_set() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/person-api-upstream.toml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["check", "--config", example])
        .env("PORTAL_SECRET", "portal-secret")
        .env("EID_SECRET", "eid-secret")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_shutdown_grace_that_is_no_duration_is_reported() {
    let text = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nshutdown_grace = \"ten\"",
    );
    assert_reports(
        &text,
        &["FILE: shutdown_grace: \"ten\" does not start with a whole number"],
    );
    let fine = GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nshutdown_grace = \"30s\"",
    );
    let (code, _, stderr, _dir) = check(&fine);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn dpop_settings_are_checked_key_by_key() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"spa\"\nredirect_uris = [\"https://s.example.com/cb\"]\nrequire_dpop = \"yes\"\n\
         [dpop]\nrequire_nonce = 1\nnonce_lifetime = \"5m\"\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[1].require_dpop: invalid type: string \"yes\", expected a boolean",
            "FILE: dpop.require_nonce: invalid type: integer `1`, expected a boolean",
            "FILE: dpop.nonce_lifetime: unknown key",
        ],
    );
}

#[test]
fn token_exchange_settings_are_checked_key_by_key() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"svc\"\nsecret = \"x\"\ngrant_types = [\"client_credentials\"]\n\
         token_exchange = [\"corp\", \"nowhere\"]\nexchange_actors = [\"svc\"]\n\
         [[clients]]\nid = \"exchanger\"\nsecret = \"x\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:token-exchange\"]\nexchange_actors = [\"svc\", \"ghost\"]\n\
         [[clients]]\nid = \"bearer\"\nsecret = \"x\"\n\
         grant_types = [\"urn:ietf:params:oauth:grant-type:jwt-bearer\"]\n\
         [limits]\nuser_code_failures_per_hour = 0\n\
         [[upstreams]]\nid = \"partner\"\nkind = \"oidc\"\nissuer = \"https://partner.example.com\"\n\
         client_id = \"gatehouse\"\nexchange_audiences = [\"mobile\"]\n\
         [[resource_servers]]\naudience = \"https://api.example.com\"\nscopes = [\"nope\"]\n\
         [[resource_servers]]\naudience = \"https://api.example.com\"\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: upstreams[1].exchange_audiences: only applies with exchange = true",
            "FILE: clients[1].token_exchange: needs urn:ietf:params:oauth:grant-type:token-exchange or urn:ietf:params:oauth:grant-type:jwt-bearer in grant_types",
            "FILE: clients[1].token_exchange[0]: upstream \"corp\" does not have exchange = true (an oidc upstream whose tokens may be exchanged)",
            "FILE: clients[1].token_exchange[1]: no upstream has id \"nowhere\"",
            "FILE: clients[1].exchange_actors: needs urn:ietf:params:oauth:grant-type:token-exchange in grant_types",
            "FILE: clients[2].exchange_actors[1]: no client has id \"ghost\" (client \"exchanger\")",
            "FILE: clients[3].grant_types: urn:ietf:params:oauth:grant-type:jwt-bearer needs token_exchange: the upstreams whose tokens the client may present",
            // Each problem of a client's or upstream's table names it by id.
            "FILE: clients[1].token_exchange[1]: no upstream has id \"nowhere\" (client \"svc\")",
            "FILE: upstreams[1].exchange_audiences: only applies with exchange = true (upstream \"partner\")",
            "FILE: limits.user_code_failures_per_hour: must be at least 1",
            "FILE: resource_servers[0].scopes[0]: \"nope\" is neither a standard scope nor one under [scopes]",
            "FILE: resource_servers[1].audience: \"https://api.example.com\" is named by another resource server",
        ],
    );
}

#[test]
fn the_cache_back_channel_and_consent_settings_are_checked_key_by_key() {
    let text = format!(
        "{GOOD}\n[[clients]]\nid = \"b\"\nredirect_uris = [\"https://b.example.com/cb\"]\nconsent_ttl = 5\n\
         [store]\ncache_mb = 0\n[backchannel]\nretry_for = \"0s\"\nretries = 3\n[tokens]\nconsent_ttl = \"forever\"\n"
    );
    assert_reports(
        &text,
        &[
            "FILE: store.cache_mb: must be at least 1",
            "FILE: backchannel.retry_for: \"0s\" must be longer than zero",
            "FILE: backchannel.retries: unknown key",
            "FILE: clients[1].consent_ttl: ",
            "FILE: tokens.consent_ttl: ",
        ],
    );
}

#[test]
fn every_mistake_in_an_ldap_upstream_is_reported_by_key() {
    let text = format!(
        r#"{GOOD}
[[upstreams]]
id = "dir"
kind = "ldap"
url = "ldaps://ldap.example.org"
start_tls = true
ca_file = "no-such-ca.pem"
bind_dn = "cn=gatehouse,dc=example,dc=org"
bind_password = ""
user_filter = "(uid=x)"
group_filter = "(member={{dn}}"
nested_groups = true
timeout = "2m"
refresh_interval = "1m"

[[upstreams]]
id = "dir2"
kind = "ldap"
url = "https://ldap.example.org"
user_base = "dc=example,dc=org"
bind_password = "secret"
disabled_filter = "(nsAccountLock=TRUE"
"#
    );
    assert_reports(
        &text,
        &[
            "FILE: upstreams[1].start_tls: cannot be used with an ldaps:// url",
            "FILE: upstreams[1].ca_file: cannot read",
            "FILE: upstreams[1].bind_password: must not be empty",
            "FILE: upstreams[1].user_base: is required for kind \"ldap\"",
            "FILE: upstreams[1].user_filter: must contain {username}",
            "FILE: upstreams[1].group_filter: is not a valid LDAP filter",
            "FILE: upstreams[1].nested_groups: needs group_base",
            "FILE: upstreams[1].timeout: must be between 1s and 60s",
            "FILE: upstreams[1].refresh_interval: only applies with refresh = \"on_refresh\"",
            "FILE: upstreams[2].url: must start with ldap:// or ldaps://",
            "FILE: upstreams[2].bind_dn: is required with bind_password",
            "FILE: upstreams[2].disabled_filter: is not a valid LDAP filter",
        ],
    );
}

#[test]
fn every_mistake_in_a_saml_upstream_is_reported_by_key() {
    let files = tempfile::tempdir().unwrap();
    let broken = files.path().join("broken.xml");
    std::fs::write(
        &broken,
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\"",
    )
    .unwrap();
    let keyless = files.path().join("keyless.xml");
    std::fs::write(
        &keyless,
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
    )
    .unwrap();
    // Everything an IdP needs but a logout service.
    let sloless = files.path().join("sloless.xml");
    let idp = crate::support::saml_idp::TestIdp::new();
    std::fs::write(&sloless, idp.metadata().replace("<md:SingleLogoutService", "<md:Other")).unwrap();
    let text = format!(
        r#"{GOOD}
[[upstreams]]
id = "broken"
kind = "saml"
idp_metadata_file = "{}"
name_id_format = "whatever"
clock_skew = "1h"

[[upstreams]]
id = "keyless"
kind = "saml"
idp_metadata_file = "{}"

[[upstreams]]
id = "neither"
kind = "saml"
sp_entity_id = ""
sign_requests = true
sp_cert_file = "{}"

[[upstreams]]
id = "unkeyed"
kind = "saml"
idp_metadata_file = "{}"
sign_requests = true

[[upstreams]]
id = "not-pem"
kind = "saml"
idp_metadata_file = "{}"
sp_key_file = "{}"
sp_cert_file = "{}"

[[upstreams]]
id = "plain-http"
kind = "saml"
idp_metadata_url = "http://idp.example/metadata"

[[upstreams]]
id = "both"
kind = "saml"
idp_metadata_url = "https://idp.example/metadata"
idp_metadata_file = "{}"

[[upstreams]]
id = "no-logout-service"
kind = "saml"
idp_metadata_file = "{}"
logout_upstream = true
"#,
        broken.display(),
        keyless.display(),
        keyless.display(),
        keyless.display(),
        keyless.display(),
        broken.display(),
        broken.display(),
        keyless.display(),
        sloless.display()
    );
    assert_reports(
        &text,
        &[
            "FILE: upstreams[1].idp_metadata_file: ",
            "FILE: upstreams[1].name_id_format: must be persistent, transient, emailAddress, unspecified or a NameID format URN",
            "FILE: upstreams[1].clock_skew: must be at most 10m",
            "FILE: upstreams[2].idp_metadata_file: ",
            "FILE: upstreams[3].idp_metadata_file: is required for kind = \"saml\"",
            "FILE: upstreams[3].sp_entity_id: must not be empty",
            "FILE: upstreams[3].sp_key_file: is required with sp_cert_file",
            "FILE: upstreams[5].sp_key_file: ",
            "FILE: upstreams[5].sp_cert_file: ",
            "FILE: upstreams[6].idp_metadata_url: \"http://idp.example/metadata\" must use https (http is only allowed on loopback)",
            "FILE: upstreams[7].idp_metadata_url: cannot be given with idp_metadata_file: one of them",
            "FILE: upstreams[8].logout_upstream: the identity provider's metadata has no SingleLogoutService with the HTTP-Redirect binding",
        ],
    );
    let (_, _, stderr, _dir) = check(&text);
    assert!(stderr.contains("not well-formed XML"), "{stderr}");
    assert!(stderr.contains("has no signing certificate"), "{stderr}");
}

#[test]
fn every_mistake_in_the_registration_policy_is_reported_by_key() {
    let text = format!(
        r#"{GOOD}
[registration]
enabled = true
client_lifetime = "30d"
allowed_grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]
allowed_auth_methods = ["none", "client_secret_jwt"]
allowed_scopes = ["openid", "payroll"]

[limits]
registered_clients = 0
"#
    );
    assert_reports(
        &text,
        &[
            "FILE: registration.initial_access_tokens: registration is enabled and not open",
            "FILE: registration.allowed_grant_types[1]: urn:ietf:params:oauth:grant-type:token-exchange names upstreams",
            "FILE: registration.allowed_auth_methods[1]: client_secret_jwt needs the secret in clear",
            "FILE: registration.allowed_scopes[1]: \"payroll\" is neither a standard scope",
            "FILE: limits.registered_clients: must be at least 1",
        ],
    );
    let short = format!(
        "{GOOD}\n[registration]\nenabled = true\ninitial_access_tokens = [\"short\"]\n\n[[clients]]\nid = \"dyn.mine\"\nredirect_uris = [\"https://app.example/cb\"]\n"
    );
    assert_reports(
        &short,
        &[
            "FILE: registration.initial_access_tokens[0]: is shorter than 16 characters",
            "FILE: clients[1].id: \"dyn.\" starts the ids of clients that register themselves",
        ],
    );
}

#[test]
fn a_fapi2_client_that_cannot_meet_the_profile_is_refused_by_key() {
    let text = format!(
        r#"{GOOD}
[[clients]]
id = "bank"
profile = "fapi2"
secret = "a-shared-secret"
redirect_uris = ["http://127.0.0.1:9/cb", "https://bank.example/cb"]
response_types = ["code", "code id_token"]
"#
    );
    assert_reports(
        &text,
        &[
            "FILE: clients[1].token_endpoint_auth_method: profile = \"fapi2\" needs private_key_jwt",
            "FILE: clients[1].secret: a fapi2 client proves itself with its keys",
            "FILE: clients[1].response_types: a fapi2 client uses response_type=code only",
            "FILE: clients[1].redirect_uris[0]: \"http://127.0.0.1:9/cb\": a fapi2 client's redirect URIs are https",
        ],
    );
}
