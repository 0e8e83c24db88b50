//! The claim-mapping rules, one test each, through the library's public API.

use gatehouse::mapping::{Mapping, release};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

fn mapping(text: &str) -> Mapping {
    Mapping::parse(Path::new("test.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// The problems as `key: message` lines.
fn problems(text: &str) -> Vec<String> {
    match Mapping::parse(Path::new("test.toml"), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect(),
    }
}

fn assert_problem(text: &str, expected: &str) {
    let found = problems(text);
    assert!(
        found.iter().any(|p| p.starts_with(expected)),
        "no `{expected}` in {found:#?}"
    );
}

fn claims(text: &str, input: Value) -> Value {
    Value::Object(mapping(text).evaluate(&input).unwrap().claims)
}

#[test]
fn a_string_is_a_template_over_the_input() {
    let out = claims(
        "[claims]\nname = \"{{profile.name.first}} {{profile.name.last}}\"",
        json!({"sub": "1", "profile": {"name": {"first": "Ada", "last": "Lovelace"}}}),
    );
    assert_eq!(out, json!({"name": "Ada Lovelace"}));
}

#[test]
fn array_elements_are_reached_by_index() {
    let out = claims(
        "[claims]\nemail = \"{{emails.[1].value}}\"",
        json!({"sub": "1", "emails": [{"value": "a@x"}, {"value": "b@x"}]}),
    );
    assert_eq!(out, json!({"email": "b@x"}));
}

#[test]
fn a_missing_path_renders_as_empty() {
    let out = claims(
        "[claims]\nname = \"{{first}} {{missing.deeply}}\"",
        json!({"sub": "1", "first": "Ada"}),
    );
    assert_eq!(out, json!({"name": "Ada"}));
}

#[test]
fn results_are_trimmed_and_inner_runs_of_spaces_collapsed() {
    let out = claims(
        "[claims]\nname = \"  {{a}}   {{b}}\\n\\t{{c}}  \"",
        json!({"sub": "1", "a": "de", "b": "  la ", "c": "Cruz"}),
    );
    assert_eq!(out, json!({"name": "de la Cruz"}));
}

#[test]
fn an_empty_result_omits_the_claim() {
    let out = claims(
        "[claims]\nname = \"{{name}}\"\nnickname = \"  \"\nemail = { from = \"email\" }\nphone = { from = \"phone\" }",
        json!({"sub": "1", "name": "", "email": null}),
    );
    assert_eq!(out, json!({}), "never \"\", never null");
}

#[test]
fn an_object_claim_is_built_from_its_fields_and_omitted_when_all_are() {
    let text = "[claims.address]\nlocality = \"{{city}}\"\ncountry = \"{{country}}\"";
    assert_eq!(
        claims(text, json!({"sub": "1", "city": "Delft"})),
        json!({"address": {"locality": "Delft"}})
    );
    assert_eq!(claims(text, json!({"sub": "1"})), json!({}));
}

#[test]
fn from_copies_a_value_with_its_json_type() {
    let out = claims(
        "[claims]\ngroups = { from = \"groups\" }\nage = { from = \"p.age\" }\nok = { from = \"p.ok\" }\naddress = { from = \"p.addr\" }\nfirst = { from = \"groups.0\" }",
        json!({"sub": "1", "groups": ["a", "b"], "p": {"age": 42, "ok": false, "addr": {"country": "NL"}}}),
    );
    assert_eq!(
        out,
        json!({"groups": ["a", "b"], "age": 42, "ok": false, "address": {"country": "NL"}, "first": "a"})
    );
}

#[test]
fn from_accepts_bracketed_indexes_too() {
    let out = claims(
        "[claims]\nv = { from = \"list.[1]\" }",
        json!({"sub": "1", "list": [1, 2]}),
    );
    assert_eq!(out, json!({"v": 2}));
}

#[test]
fn type_bool_coerces_true_false_one_and_zero() {
    let text = "[claims]\na = { from = \"a\", type = \"bool\" }\nb = { from = \"b\", type = \"bool\" }\n\
                c = { from = \"c\", type = \"bool\" }\nd = { from = \"d\", type = \"bool\" }\n\
                e = { template = \"{{e}}\", type = \"bool\" }";
    let out = claims(
        text,
        json!({"sub": "1", "a": "true", "b": "false", "c": 1, "d": 0, "e": true}),
    );
    assert_eq!(out, json!({"a": true, "b": false, "c": true, "d": false, "e": true}));
}

#[test]
fn type_number_coerces_numeric_strings() {
    let text = "[claims]\na = { from = \"a\", type = \"number\" }\nb = { template = \"{{b}}\", type = \"number\" }";
    assert_eq!(
        claims(text, json!({"sub": "1", "a": "1700000000", "b": "2.5"})),
        json!({"a": 1_700_000_000, "b": 2.5})
    );
}

#[test]
fn type_string_and_json_coerce() {
    let text = "[claims]\na = { from = \"a\", type = \"string\" }\nb = { template = \"{{b}}\", type = \"json\" }";
    let out = claims(text, json!({"sub": "1", "a": 583231, "b": "{\"x\": [1, 2]}"}));
    assert_eq!(out, json!({"a": "583231", "b": {"x": [1, 2]}}));
}

#[test]
fn a_value_that_cannot_be_coerced_is_an_error_naming_the_claim() {
    let m = mapping("[claims]\nemail_verified = { from = \"v\", type = \"bool\" }");
    let error = m.evaluate(&json!({"sub": "1", "v": "maybe"})).unwrap_err();
    assert_eq!(error.key, "claims.email_verified");
    assert!(error.message.contains("cannot be a boolean"), "{error}");
    let m = mapping("[claims.address]\npostal = { from = \"p\", type = \"number\" }");
    assert_eq!(
        m.evaluate(&json!({"sub": "1", "p": "12AB"})).unwrap_err().key,
        "claims.address.postal"
    );
}

#[test]
fn default_applies_when_the_result_is_empty() {
    let text = "[claims]\nlocale = { template = \"{{lower locale}}\", default = \"en\" }\n\
                verified = { from = \"v\", type = \"bool\", default = false }";
    assert_eq!(
        claims(text, json!({"sub": "1"})),
        json!({"locale": "en", "verified": false})
    );
    assert_eq!(
        claims(text, json!({"sub": "1", "locale": "NL", "v": "1"})),
        json!({"locale": "nl", "verified": true})
    );
}

#[test]
fn value_is_a_literal() {
    let text = "[claims]\ntenant_name = { value = \"Acme\" }\nlevel = { value = 3 }\ntags = { value = [\"a\"] }";
    assert_eq!(
        claims(text, json!({"sub": "1"})),
        json!({"tenant_name": "Acme", "level": 3, "tags": ["a"]})
    );
}

#[test]
fn helpers_lower_upper_trim() {
    let text = "[claims]\na = \"{{lower x}}\"\nb = \"{{upper x}}\"\nc = \"[{{trim y}}]\"";
    assert_eq!(
        claims(text, json!({"sub": "1", "x": "NlNl", "y": "  v  "})),
        json!({"a": "nlnl", "b": "NLNL", "c": "[v]"})
    );
}

#[test]
fn helper_coalesce_takes_the_first_non_empty_argument() {
    let text = "[claims]\nemail = \"{{coalesce email upn \\\"fallback\\\"}}\"";
    assert_eq!(
        claims(text, json!({"sub": "1", "email": "", "upn": "u@x"})),
        json!({"email": "u@x"})
    );
    assert_eq!(claims(text, json!({"sub": "1"})), json!({"email": "fallback"}));
}

#[test]
fn helper_join_joins_an_array() {
    let text = "[claims]\nroles = \"{{join roles \\\", \\\"}}\"";
    assert_eq!(
        claims(text, json!({"sub": "1", "roles": ["a", "", "b"]})),
        json!({"roles": "a, b"})
    );
}

#[test]
fn helper_find_picks_the_element_whose_field_matches() {
    let text = "[claims]\nemail = \"{{lookup (find emails \\\"primary\\\" true) \\\"value\\\"}}\"";
    let input =
        json!({"sub": "1", "emails": [{"value": "old@x", "primary": false}, {"value": "main@x", "primary": true}]});
    assert_eq!(claims(text, input), json!({"email": "main@x"}));
    assert_eq!(claims(text, json!({"sub": "1", "emails": []})), json!({}));
}

#[test]
fn output_is_not_html_escaped() {
    let out = claims(
        "[claims]\nname = \"{{n}}\"",
        json!({"sub": "1", "n": "O'Brien & Sons <Ltd>"}),
    );
    assert_eq!(out, json!({"name": "O'Brien & Sons <Ltd>"}));
}

#[test]
fn the_subject_defaults_to_sub_and_can_be_mapped() {
    assert_eq!(mapping("").evaluate(&json!({"sub": "abc"})).unwrap().subject, "abc");
    let m = mapping("subject = \"{{profile.id}}\"");
    assert_eq!(m.evaluate(&json!({"profile": {"id": 42}})).unwrap().subject, "42");
}

#[test]
fn an_empty_subject_is_an_error() {
    let error = mapping("subject = \"{{oid}}\"")
        .evaluate(&json!({"sub": "x"}))
        .unwrap_err();
    assert_eq!(error.key, "subject");
}

#[test]
fn invalid_template_syntax_is_reported() {
    assert_problem("[claims]\nname = \"{{first\"", "claims.name: template syntax:");
    assert_problem("subject = \"{{#if x}}\"", "subject: template syntax:");
}

#[test]
fn unknown_helpers_are_reported() {
    assert_problem(
        "[claims]\nname = \"{{shout name}}\"",
        "claims.name: unknown helper \"shout\"",
    );
    assert_problem(
        "[claims]\nname = \"{{lower (shout name)}}\"",
        "claims.name: unknown helper \"shout\"",
    );
    assert_problem(
        "[claims]\nname = \"{{log name}}\"",
        "claims.name: unknown helper \"log\"",
    );
    assert_problem(
        "[claims]\nname = \"{{#nope x}}y{{/nope}}\"",
        "claims.name: unknown helper \"nope\"",
    );
}

#[test]
fn unknown_keys_are_reported() {
    assert_problem("subjet = \"{{sub}}\"", "subjet: unknown key");
    assert_problem(
        "[claims]\nlocale = { from = \"l\", defualt = \"en\" }",
        "claims.locale.defualt: unknown key",
    );
}

#[test]
fn a_table_with_two_sources_is_reported() {
    assert_problem(
        "[claims]\nname = { from = \"name\", value = \"x\" }",
        "claims.name: has two sources (from, value): keep one",
    );
}

#[test]
fn a_table_without_a_source_is_reported() {
    assert_problem("[claims]\nname = { type = \"string\" }", "claims.name: needs a source");
}

#[test]
fn claim_names_must_be_json_safe() {
    assert_problem(
        "[claims]\n\"has space\" = \"x\"",
        "claims.\"has space\": a claim name must be",
    );
    assert_problem("[claims]\n\"quo\\\"te\" = \"x\"", "claims.");
    assert_problem("[claims]\n\"\" = \"x\"", "claims.\"\": a claim name must be");
}

#[test]
fn sub_and_other_token_claims_cannot_be_mapped() {
    assert_problem(
        "[claims]\nsub = \"{{id}}\"",
        "claims.sub: \"sub\" is set by Gatehouse itself",
    );
    assert_problem("[claims]\naud = \"x\"", "claims.aud:");
}

#[test]
fn an_unknown_type_is_reported() {
    assert_problem(
        "[claims]\nx = { from = \"x\", type = \"boolean\" }",
        "claims.x.type: \"boolean\" is not a type",
    );
}

#[test]
fn a_template_given_as_a_path_is_reported() {
    assert_problem(
        "[claims]\nx = { from = \"{{x}}\" }",
        "claims.x.from: \"{{x}}\" is a template, not a path",
    );
    assert_problem("[claims]\nx = { from = \"a..b\" }", "claims.x.from:");
}

#[test]
fn partials_are_refused() {
    assert_problem("[claims]\nx = \"{{> other}}\"", "claims.x: partials");
}

#[test]
fn a_claim_must_be_a_string_or_a_table() {
    assert_problem("[claims]\nx = 5", "claims.x: must be a template string or a table");
}

#[test]
fn invalid_toml_is_reported() {
    assert_problem("[claims\n", ": not valid TOML");
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = problems("subjet = \"x\"\n[claims]\na = \"{{b\"\nsub = \"x\"\nc = { from = \"c\", value = 1 }\n");
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn the_error_names_the_file() {
    let error = Mapping::parse(Path::new("claim-mappings/corp.toml"), "[claims]\nx = 5")
        .err()
        .unwrap();
    assert!(
        error.to_string().starts_with("claim-mappings/corp.toml: claims.x: "),
        "{error}"
    );
}

#[test]
fn release_follows_the_standard_scopes() {
    let all = json!({
        "name": "A", "given_name": "A", "email": "a@x", "email_verified": true,
        "address": {"country": "NL"}, "phone_number": "+31", "phone_number_verified": false,
        "groups": ["g"], "tenant_name": "Acme"
    });
    let all = all.as_object().unwrap();
    let none = BTreeMap::new();
    let released = |scope: &str| Value::Object(release(all, &scope.into(), &none));
    assert_eq!(released("openid"), json!({}));
    assert_eq!(released("openid profile"), json!({"name": "A", "given_name": "A"}));
    assert_eq!(
        released("openid email"),
        json!({"email": "a@x", "email_verified": true})
    );
    assert_eq!(released("openid address"), json!({"address": {"country": "NL"}}));
    assert_eq!(
        released("openid phone"),
        json!({"phone_number": "+31", "phone_number_verified": false})
    );
    assert_eq!(released("openid unknown"), json!({}));
}

#[test]
fn release_follows_custom_scopes_from_the_config() {
    let all = json!({"name": "A", "tenant_name": "Acme", "groups": ["g"]});
    let custom = BTreeMap::from([(
        "tenant".to_string(),
        vec!["tenant_name".to_string(), "tenant_sub".to_string()],
    )]);
    let released = release(all.as_object().unwrap(), &"openid tenant".into(), &custom);
    assert_eq!(
        Value::Object(released),
        json!({"tenant_name": "Acme"}),
        "groups needs a scope that lists it"
    );
}

#[test]
fn the_subject_is_taken_exactly_and_an_object_subject_fails() {
    let m = mapping("");
    let spaced = m.evaluate(&json!({"sub": "a  b"})).unwrap().subject;
    let tabbed = m.evaluate(&json!({"sub": " a\tb "})).unwrap().subject;
    assert_eq!((spaced.as_str(), tabbed.as_str()), ("a  b", " a\tb "));
    for not_scalar in [json!({"id": 1}), json!(["a", "b"])] {
        let error = m.evaluate(&json!({ "sub": not_scalar })).unwrap_err();
        assert_eq!(error.key, "subject");
        assert!(
            error.message.contains("{{sub}} is an object or a list"),
            "{}",
            error.message
        );
    }
    let nested = mapping("subject = \"{{profile.id}}\"")
        .evaluate(&json!({"profile": {"id": {"value": 7}}}))
        .unwrap_err();
    assert!(
        nested.message.contains("{{profile.id}} is an object"),
        "{}",
        nested.message
    );
}
