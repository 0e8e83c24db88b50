//! `load-driver chains BASE TOKENS_FILE SECONDS`: every refresh family in TOKENS_FILE (one
//! token a line, as `setup` writes them) is a client that refreshes again and again for
//! SECONDS, keeping the last token it was given (its acknowledged one) and presenting it
//! again 20 ms after any answer that is not 200, as a client retries after an error. What
//! a fault costs shows in the counts; whether it lost anything shows at the end, when
//! every family's last acknowledged token is presented once more: `lost` counts those
//! that no longer work (a rotation acknowledged and then forgotten, or a family revoked
//! for a retry it should have accepted).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one family's client saw.
#[derive(Default)]
struct Seen {
    rotations: u64,
    /// Answers that were not 200, by status ("none" when no answer came).
    refused: BTreeMap<String, u64>,
    /// The longest time from a first refused answer to the next 200.
    longest_gap: Duration,
    /// When (since the start) the last 200 after refused answers came.
    recovered: Option<Duration>,
}

async fn refresh(base: &str, token: &str) -> Result<(u16, serde_json::Value), String> {
    let response = super::client()
        .post(format!("{base}/token"))
        .basic_auth("app", Some("app-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or_default()))
}

async fn run_chain(base: String, mut token: String, started: Instant, until: Instant) -> (String, Seen) {
    let mut seen = Seen::default();
    let mut refused_since: Option<Instant> = None;
    while Instant::now() < until {
        let answer = refresh(&base, &token).await;
        match answer {
            Ok((200, body)) => {
                token = body["refresh_token"].as_str().expect("a refresh token").to_string();
                seen.rotations += 1;
                if let Some(since) = refused_since.take() {
                    seen.longest_gap = seen.longest_gap.max(since.elapsed());
                    seen.recovered = Some(started.elapsed());
                }
            }
            other => {
                let status = other.map_or("none".to_string(), |(status, _)| status.to_string());
                *seen.refused.entry(status).or_default() += 1;
                refused_since.get_or_insert_with(Instant::now);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    (token, seen)
}

pub async fn chains(base: &str, tokens_file: &std::path::Path, seconds: u64) {
    let tokens = std::fs::read_to_string(tokens_file).expect("read the tokens file");
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let running: Vec<_> = tokens
        .lines()
        .filter(|line| !line.is_empty())
        .map(|token| tokio::spawn(run_chain(base.to_string(), token.to_string(), started, until)))
        .collect();
    let mut rotations = 0;
    let mut refused: BTreeMap<String, u64> = BTreeMap::new();
    let mut longest_gap = Duration::ZERO;
    let mut recovered = None;
    let mut last_tokens = Vec::new();
    for chain in running {
        let (token, seen) = chain.await.expect("a chain");
        rotations += seen.rotations;
        for (status, count) in seen.refused {
            *refused.entry(status).or_default() += count;
        }
        longest_gap = longest_gap.max(seen.longest_gap);
        recovered = recovered.max(seen.recovered);
        last_tokens.push(token);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lost = 0;
    for token in &last_tokens {
        match refresh(base, token).await {
            Ok((200, _)) => {}
            other => {
                lost += 1;
                eprintln!("a family's last acknowledged token no longer works: {other:?}");
            }
        }
    }
    println!("families: {}", last_tokens.len());
    println!("rotations: {rotations}");
    println!("rotations/s: {:.1}", rotations as f64 / elapsed);
    let refused: Vec<String> = refused.iter().map(|(s, n)| format!("{s}={n}")).collect();
    println!(
        "refused: {}",
        if refused.is_empty() {
            "none".into()
        } else {
            refused.join(" ")
        }
    );
    println!("longest_gap_ms: {}", longest_gap.as_millis());
    println!(
        "recovered_at_ms: {}",
        recovered.map_or("-".into(), |at| at.as_millis().to_string())
    );
    println!("lost: {lost}");
}
