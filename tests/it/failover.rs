//! PostgreSQL failover under refresh load: Gatehouse's `[store] url` names the primary and
//! its synchronous standby with `target_session_attrs=read-write`; the primary is killed
//! and the standby promoted while clients refresh. The pool finds the new primary by
//! itself within seconds, every answer meanwhile is a 200 or a 503 (never a 500), and
//! no rotation a client was answered is lost.

use crate::support;

use gatehouse::Clock;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::browser::local_login_tokens;
use support::config::{REDIRECT, TestClient, TestConfig};
use support::pg_cluster::Cluster;
use support::{TestServer, refresh_at};

const APP: (&str, &str) = ("app", "app-secret");
const FAMILIES: usize = 4;

/// One client refreshing over and over, presenting its last acknowledged token again
/// after anything but a 200.
struct Chain {
    token: String,
    rotations: Arc<AtomicUsize>,
    /// Answers other than 200 and 503.
    wrong: Vec<String>,
}

async fn run_chain(base: String, token: String, rotations: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> Chain {
    let mut chain = Chain {
        token,
        rotations,
        wrong: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let response = refresh_at(&base, APP, &chain.token).await;
        match response.status().as_u16() {
            200 => {
                let body: Value = response.json().await.unwrap();
                chain.token = body["refresh_token"].as_str().unwrap().to_string();
                chain.rotations.fetch_add(1, Ordering::SeqCst);
            }
            503 => tokio::time::sleep(Duration::from_millis(20)).await,
            status => {
                chain
                    .wrong
                    .push(format!("{status}: {}", response.text().await.unwrap_or_default()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    chain
}

/// Waits until every counter has grown by `by` from `from`, or fails after `within`.
async fn until_each_grew(counters: &[Arc<AtomicUsize>], from: &[usize], by: usize, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while counters
        .iter()
        .zip(from)
        .any(|(counter, from)| counter.load(Ordering::SeqCst) < from + by)
    {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The README's `[store]` table for failover, with only names changed: the two hosts
/// are the test's clusters on loopback (which speak no TLS, and trust the role), the key
/// is the tests' own.
fn readme_store_table(primary: u16, standby: u16) -> String {
    let example = support::readme_blocks("Running several replicas", "toml")
        .into_iter()
        .find(|block| block.contains("target_session_attrs=read-write"))
        .expect("the README's failover example");
    let table = example
        .replace("db1.internal:5432", &format!("127.0.0.1:{primary}"))
        .replace("db2.internal:5432", &format!("127.0.0.1:{standby}"))
        .replace("sslmode=require&", "")
        .replace("gatehouse:${GATEHOUSE_DB_PASSWORD}@", "gatehouse@")
        .replace("${GATEHOUSE_KEK}", support::postgres::KEK_BASE64);
    assert!(!table.contains("${"), "every placeholder replaced: {table}");
    format!("{table}poll_interval = \"1s\"\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_dies_its_standby_is_promoted_and_no_acknowledged_rotation_is_lost() {
    let Some(primary) = Cluster::primary("failover", &[]).await else {
        return;
    };
    let standby = Cluster::standby_of(&primary).await;
    // Synchronous from now on: a commit returns once the standby has it (set before the
    // standby streams, every commit would wait for it).
    let admin = primary.url("postgres");
    support::postgres::query(&admin, "ALTER SYSTEM SET synchronous_standby_names = '*'").await;
    support::postgres::query(&admin, "SELECT pg_reload_conf()").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = support::postgres::query(
            &admin,
            "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
        )
        .await;
        if rows[0].get::<_, i64>(0) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the standby never streamed synchronously");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rest = format!(
        "{}\n{}",
        readme_store_table(primary.port, standby.port),
        TestConfig::new()
            .client(TestClient::confidential(APP.0, APP.1).no_consent())
            .bob()
            .build()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), &rest, Clock::System).await;
    let mut tokens = Vec::new();
    for _ in 0..FAMILIES {
        let browser = support::browser::Browser::default();
        let answer = local_login_tokens(&server.base, &browser, "bob", "bob", REDIRECT).await;
        tokens.push(answer["refresh_token"].as_str().unwrap().to_string());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicUsize>> = (0..FAMILIES).map(|_| Arc::default()).collect();
    let chains: Vec<_> = tokens
        .into_iter()
        .zip(&counters)
        .map(|(token, counter)| tokio::spawn(run_chain(server.base.clone(), token, counter.clone(), stop.clone())))
        .collect();
    let zero = vec![0; FAMILIES];
    until_each_grew(&counters, &zero, 3, Duration::from_secs(30), "the load never ran").await;

    primary.kill().await;
    standby.promote().await;
    let promoted = Instant::now();
    let at_promotion: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    until_each_grew(
        &counters,
        &at_promotion,
        3,
        Duration::from_secs(10),
        "refreshes did not resume within 10 s of the promotion",
    )
    .await;
    eprintln!(
        "every family rotated again {:?} after the promotion",
        promoted.elapsed()
    );
    stop.store(true, Ordering::SeqCst);

    for chain in chains {
        let chain = chain.await.unwrap();
        assert!(
            chain.wrong.is_empty(),
            "only 200 and 503 while failing over: {:?}",
            chain.wrong
        );
        // The last rotation the client was answered is on the new primary.
        let response = refresh_at(&server.base, APP, &chain.token).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        assert!(chain.rotations.load(Ordering::SeqCst) > 0);
    }
    server.stop().await;
    drop(standby);
    drop(primary);
}
