//! Every shipped mapping on a realistic sample of its upstream's output, compared with
//! the exact expected claims.

use gatehouse::mapping::Mapping;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check_fixture(name: &str) {
    let file = root().join(format!("claim-mappings/{name}.toml"));
    let mapping = Mapping::parse(&file, &std::fs::read_to_string(&file).unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let fixtures = root().join("tests/fixtures/mappings");
    let input = read_json(&fixtures.join(format!("{name}.input.json")));
    let expected = read_json(&fixtures.join(format!("{name}.expected.json")));
    let mapped = mapping.evaluate(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
    let actual = json!({ "subject": mapped.subject, "claims": mapped.claims });
    assert_eq!(
        actual,
        expected,
        "{name}: got\n{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

#[test]
fn person_api() {
    check_fixture("person-api");
}

#[test]
fn google() {
    check_fixture("google");
}

#[test]
fn entra() {
    check_fixture("entra");
}

#[test]
fn okta() {
    check_fixture("okta");
}

#[test]
fn keycloak() {
    check_fixture("keycloak");
}

#[test]
fn github() {
    check_fixture("github");
}

#[test]
fn generic_oidc() {
    check_fixture("generic-oidc");
}

#[test]
fn ldap() {
    check_fixture("ldap");
}

#[test]
fn active_directory() {
    check_fixture("active-directory");
}

#[test]
fn saml_generic() {
    check_fixture("saml-generic");
}

#[test]
fn adfs() {
    check_fixture("adfs");
}

#[test]
fn entra_saml() {
    check_fixture("entra-saml");
}

#[test]
fn every_shipped_mapping_has_a_fixture() {
    for entry in std::fs::read_dir(root().join("claim-mappings")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let fixture = root().join(format!("tests/fixtures/mappings/{name}.expected.json"));
        assert!(fixture.is_file(), "claim-mappings/{name}.toml has no fixture");
    }
}

#[test]
fn entra_counts_an_email_as_verified_only_when_entra_says_so() {
    let file = root().join("claim-mappings/entra.toml");
    let mapping = Mapping::parse(&file, &std::fs::read_to_string(&file).unwrap()).unwrap();
    let input = json!({"oid": "o", "email": "a@x", "xms_edov": true});
    assert_eq!(mapping.evaluate(&input).unwrap().claims["email_verified"], true);
    let input = json!({"oid": "o", "email": "a@x"});
    assert_eq!(mapping.evaluate(&input).unwrap().claims["email_verified"], false);
}

/// Evaluations per second of person-api.toml on its fixture. Run with
/// `cargo test --release --test mapping_fixtures -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: prints a figure, asserts nothing about speed"]
fn benchmark_person_api() {
    let file = root().join("claim-mappings/person-api.toml");
    let mapping = Mapping::parse(&file, &std::fs::read_to_string(&file).unwrap()).unwrap();
    let input = read_json(&root().join("tests/fixtures/mappings/person-api.input.json"));
    for _ in 0..1_000 {
        std::hint::black_box(mapping.evaluate(&input).unwrap());
    }
    let rounds = 50_000;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(mapping.evaluate(std::hint::black_box(&input)).unwrap());
    }
    let elapsed = started.elapsed();
    println!(
        "person-api.toml: {rounds} evaluations in {:.3}s = {:.0} evaluations/s ({:.1} µs each)",
        elapsed.as_secs_f64(),
        f64::from(rounds) / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / f64::from(rounds)
    );
}
