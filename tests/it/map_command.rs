//! `gatehouse map`, run as a process: what it prints and how it exits.

use crate::support;

use serde_json::Value;
use support::gatehouse;

const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/person-api.toml");
const INPUT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mappings/person-api.input.json"
);
const EXPECTED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/mappings/person-api.expected.json"
);

fn expected_claims() -> Value {
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(EXPECTED).unwrap()).unwrap();
    expected["claims"].clone()
}

#[test]
fn prints_the_claims_as_sorted_pretty_json_and_the_subject_to_stderr() {
    let (code, stdout, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", INPUT]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.trim_end(),
        serde_json::to_string_pretty(&expected_claims()).unwrap()
    );
    let keys: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "keys are sorted");
    assert_eq!(stderr.trim(), "subject: NL-7f3e9a12-0c44-4b5e-9d1a-2f6c8e0b1a77");
}

#[test]
fn with_scope_prints_only_what_the_scopes_release() {
    let (code, stdout, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", INPUT, "--scope", "openid email"]);
    assert_eq!(code, 0, "{stderr}");
    let claims: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        claims,
        serde_json::json!({"email": "johanna.devries@example.nl", "email_verified": true})
    );

    let (_, stdout, _) = gatehouse(&["map", "--mapping", MAPPING, "--input", INPUT, "--scope", "openid"]);
    assert_eq!(stdout.trim(), "{}");
}

#[test]
fn custom_scopes_come_from_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("m.toml");
    std::fs::write(
        &mapping,
        "[claims]\ntenant_name = { value = \"Acme\" }\nname = \"{{name}}\"",
    )
    .unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"sub": "s", "name": "N"}"#).unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        "issuer = \"http://127.0.0.1:8080\"\n[scopes.tenant]\nclaims = [\"tenant_name\"]\n",
    )
    .unwrap();
    let args = [
        "map",
        "--mapping",
        mapping.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--scope",
        "openid tenant",
    ];
    let (code, stdout, stderr) = gatehouse(&[&args[..], &["--config", config.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        serde_json::json!({"tenant_name": "Acme"})
    );
    let (_, stdout, _) = gatehouse(&args);
    assert_eq!(stdout.trim(), "{}", "without the config, tenant is an unknown scope");
}

#[test]
fn a_broken_mapping_fails_with_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("bad.toml");
    std::fs::write(&mapping, "[claims]\nname = \"{{shout name}}\"\nsub = \"x\"").unwrap();
    let (code, stdout, stderr) = gatehouse(&["map", "--mapping", mapping.to_str().unwrap(), "--input", INPUT]);
    assert_ne!(code, 0);
    assert!(stdout.is_empty(), "{stdout}");
    let file = mapping.to_str().unwrap();
    assert!(
        stderr.contains(&format!("{file}: claims.name: unknown helper \"shout\"")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{file}: claims.sub: ")), "{stderr}");
}

#[test]
fn bad_input_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("x.json");
    std::fs::write(&not_json, "{ nope").unwrap();
    let (code, _, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", not_json.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not valid JSON"), "{stderr}");

    let array = dir.path().join("a.json");
    std::fs::write(&array, "[1]").unwrap();
    let (code, _, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", array.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("must be a JSON object"), "{stderr}");

    let (code, _, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", "/nonexistent.json"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("/nonexistent.json: cannot read"), "{stderr}");
}

#[test]
fn an_evaluation_error_names_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        r#"{"profile": {"id": "x", "email_addresses": [{"value": "a@x", "verified": "perhaps"}]}}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", input.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("claims.email_verified: \"perhaps\" cannot be a boolean"),
        "{stderr}"
    );

    std::fs::write(&input, r#"{"sub": "not the profile id"}"#).unwrap();
    let (code, _, stderr) = gatehouse(&["map", "--mapping", MAPPING, "--input", input.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("subject: is empty"), "{stderr}");
}

#[test]
fn a_value_that_fails_its_type_is_reported_even_with_a_multibyte_character_at_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.json");
    // The preview of a failing value is cut after 37 characters: here the 37th byte of
    // its JSON text falls inside "é".
    let address = format!("{}éééé, Île-de-France", "a".repeat(35));
    std::fs::write(
        &input,
        serde_json::json!({ "sub": "x", "address": address }).to_string(),
    )
    .unwrap();
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/claim-mappings/generic-oidc.toml");
    let (code, _, stderr) = gatehouse(&["map", "--mapping", mapping, "--input", input.to_str().unwrap()]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("claims.address: \"{}é... is not JSON text", "a".repeat(35))),
        "{stderr}"
    );
}
