//! What each upstream event does at B (the chain of `support::ssf_chain`), and what B's
//! app hears of it: a disabled account ends its sessions and cannot log in through the
//! upstream until it is enabled again; a changed credential makes the next sign-in go to
//! the upstream; a lowered assurance revokes the refresh families granted at another
//! level.

use crate::support;

use crate::shared_signals::a_tells_b;
use serde_json::{Value, json};
use support::browser::Browser;
use support::client;
use support::ssf_chain::{Chain, PushEndpoint, chain, ssf_token};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

/// The app's push stream at B for `events`.
async fn app_stream(chain: &Chain, endpoint: &PushEndpoint, events: &[String]) {
    let token = ssf_token(&chain.b, ("app", "app-secret")).await;
    let created = client()
        .post(format!("{}/signals/streams", chain.b.base))
        .bearer_auth(&token)
        .json(&json!({
            "delivery": { "method": "urn:ietf:rfc:8935", "endpoint_url": endpoint.url },
            "events_requested": events,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}

/// Bob as A names him to B.
async fn bob_at_a(chain: &Chain) -> Value {
    let now = chain.b.clock.now();
    let sessions = chain.b.app.state().store.sessions.entries(now).await.unwrap();
    let subject = sessions[0].1.upstream_subject.clone().unwrap();
    json!({ "format": "iss_sub", "iss": chain.a.base, "sub": subject })
}

/// Starts bob's sign-in at B for the app; where B sends the browser first.
async fn sign_in_goes_to(chain: &Chain, browser: &Browser) -> String {
    let challenge = gatehouse::secrets::s256(&"v".repeat(43));
    let url = format!(
        "{}/authorize?client_id=app&response_type=code&scope=openid&redirect_uri={}\
         &code_challenge={challenge}&code_challenge_method=S256",
        chain.b.base,
        support::config::REDIRECT
    );
    let page = browser.get(&url).await;
    let page = browser.follow(&chain.b.base, page).await;
    page.location.unwrap_or(page.url)
}

#[tokio::test]
async fn a_disabled_account_is_signed_out_and_kept_out_until_it_is_enabled() {
    let chain = chain("{ delivery = \"push\" }", false, "").await;
    let pushed = PushEndpoint::start().await;
    let wanted = [format!("{RISC}account-disabled"), format!("{CAEP}session-revoked")];
    app_stream(&chain, &pushed, &wanted).await;
    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    let bob = bob_at_a(&chain).await;

    let (status, body) = a_tells_b(&chain, &format!("{RISC}account-disabled"), bob.clone(), json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(chain.b.userinfo_status(&access_token).await, 401, "signed out at once");
    chain
        .until("the app hears of both", || async { pushed.events().len() >= 2 })
        .await;
    let heard: Vec<String> = pushed
        .events()
        .iter()
        .flat_map(|e| e["events"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        .collect();
    assert!(heard.contains(&wanted[0]) && heard.contains(&wanted[1]), "{heard:?}");
    let disabled = pushed
        .events()
        .into_iter()
        .find(|e| e["events"].get(&wanted[0]).is_some())
        .unwrap();
    assert_eq!(disabled["sub_id"]["format"], "iss_sub");
    assert_eq!(disabled["sub_id"]["iss"], chain.b.base);

    // Bob signs in at A again, but B turns him away.
    let again = Browser::default();
    let at_a = sign_in_goes_to(&chain, &again).await;
    let refused = support::browser::local_login(&chain.a.base, &again, &at_a, "bob", "bob").await;
    let answer = again
        .follow_while(refused, |next| !next.starts_with(support::config::REDIRECT))
        .await;
    assert_eq!(answer.redirect_params()["error"], "access_denied");

    // Enabled again: he gets in.
    let (status, _) = a_tells_b(&chain, &format!("{RISC}account-enabled"), bob, json!({})).await;
    assert_eq!(status, 202);
    let tokens = chain.log_in(&Browser::default()).await;
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn a_changed_credential_sends_the_next_sign_in_to_the_upstream() {
    let chain = chain("{ delivery = \"push\" }", false, "").await;
    let pushed = PushEndpoint::start().await;
    app_stream(&chain, &pushed, &[format!("{CAEP}credential-change")]).await;
    let browser = Browser::default();
    let tokens = chain.log_in(&browser).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    // While the session stands, B answers the app without asking A.
    assert!(
        sign_in_goes_to(&chain, &browser)
            .await
            .starts_with(support::config::REDIRECT)
    );

    let change = json!({ "credential_type": "password", "change_type": "update" });
    let (status, _) = a_tells_b(
        &chain,
        &format!("{CAEP}credential-change"),
        bob_at_a(&chain).await,
        change,
    )
    .await;
    assert_eq!(status, 202);
    let goes_to = sign_in_goes_to(&chain, &browser).await;
    assert!(goes_to.starts_with(&chain.a.base), "the sign-in goes to A: {goes_to}");
    // No assurance level was granted with the family: it lives on.
    assert_eq!(
        chain.b.refresh(("app", "app-secret"), &refresh_token).await.status(),
        200
    );
    chain
        .until("the app hears of it", || async { !pushed.events().is_empty() })
        .await;
    let heard = &pushed.events()[0];
    let event = &heard["events"][format!("{CAEP}credential-change")];
    assert_eq!(event["credential_type"], "password");
    assert_eq!(heard["sub_id"]["format"], "complex");
}

#[tokio::test]
async fn a_lowered_assurance_sends_the_next_sign_in_upstream_and_is_passed_on() {
    let chain = chain("{ delivery = \"push\" }", false, "").await;
    let pushed = PushEndpoint::start().await;
    let event = format!("{CAEP}assurance-level-change");
    app_stream(&chain, &pushed, std::slice::from_ref(&event)).await;
    let browser = Browser::default();
    chain.log_in(&browser).await;

    // Raised: nothing to do.
    let raised = json!({ "namespace": "RFC8176", "current_level": "mfa", "previous_level": "pwd", "change_direction": "increase" });
    assert_eq!(a_tells_b(&chain, &event, bob_at_a(&chain).await, raised).await.0, 202);
    assert!(
        sign_in_goes_to(&chain, &browser)
            .await
            .starts_with(support::config::REDIRECT)
    );

    let lowered = json!({ "namespace": "RFC8176", "current_level": "pwd", "previous_level": "mfa", "change_direction": "decrease", "reason_admin": { "en": "internal note" } });
    assert_eq!(a_tells_b(&chain, &event, bob_at_a(&chain).await, lowered).await.0, 202);
    let goes_to = sign_in_goes_to(&chain, &browser).await;
    assert!(goes_to.starts_with(&chain.a.base), "the sign-in goes to A: {goes_to}");
    chain
        .until("the app hears of both", || async { pushed.events().len() >= 2 })
        .await;
    let heard = pushed.events();
    let last = heard
        .iter()
        .map(|e| &e["events"][&event])
        .find(|e| e["change_direction"] == "decrease")
        .expect("the lowered level is passed on");
    assert_eq!(last["current_level"], "pwd");
    assert!(
        last.get("reason_admin").is_none(),
        "the upstream's own words stay with Gatehouse"
    );
}

#[tokio::test]
async fn an_email_subject_finds_the_person_by_what_the_upstream_said() {
    let chain = chain("{ delivery = \"push\" }", false, "").await;
    let tokens = chain.log_in(&Browser::default()).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    let someone_else = json!({ "format": "email", "email": "alice@example.org" });
    let revoked = format!("{CAEP}session-revoked");
    assert_eq!(a_tells_b(&chain, &revoked, someone_else, json!({})).await.0, 202);
    assert_eq!(chain.b.userinfo_status(&access_token).await, 200, "not bob");
    let bob = json!({ "format": "email", "email": "Bob@Example.org" });
    assert_eq!(a_tells_b(&chain, &revoked, bob, json!({})).await.0, 202);
    assert_eq!(chain.b.userinfo_status(&access_token).await, 401);
}
