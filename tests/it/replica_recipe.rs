//! The README's "Running several replicas" as written: its SQL makes the role and the
//! database, its shell lines make the key-encryption key and run `check` and two `serve`s
//! on the shipped `examples/replicas/gatehouse.toml`, and a person logs in across the two.
//! Only names are changed: the ports, the role and database (unique per run), the binary's
//! folder on `PATH`, and the database's address in the config. Skipped (saying so) when
//! `GATEHOUSE_TEST_POSTGRES` is unset; CI always sets it.

use crate::support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::browser::Browser;

const README: &str = include_str!("../../README.md");
const CONFIG: &str = include_str!("../../examples/replicas/gatehouse.toml");
const REDIRECT: &str = "http://127.0.0.1:9000/callback";

/// The fenced blocks of the README's "Running several replicas" section, in order.
fn recipe_blocks() -> Vec<String> {
    let start = README.find("\n## Running several replicas\n").expect("the section");
    let section = &README[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in section.lines() {
        let line = line.trim_start();
        match (&mut current, line.starts_with("```")) {
            (None, true) => current = Some(Vec::new()),
            (Some(lines), true) => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            (Some(lines), false) => lines.push(line),
            (None, false) => {}
        }
    }
    blocks
}

/// The shell lines of the recipe, run by bash in their own process group (both `serve`s
/// in the background, as written); killed with the group when dropped.
struct Recipe {
    bash: Child,
    log: std::path::PathBuf,
}

impl Recipe {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Recipe {
    fn drop(&mut self) {
        let group = format!("-{}", self.bash.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.bash.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run_shell(dir: &Path, script: &str, log: &Path) -> Child {
    let binary = Path::new(env!("CARGO_BIN_EXE_gatehouse"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = std::fs::File::create(log).unwrap();
    Command::new("bash")
        .args(["-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap()
}

async fn wait_until_ready(base: &str, recipe: &mut Recipe) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = support::client().get(format!("{base}/healthz/ready")).send().await
            && response.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = recipe.bash.try_wait() {
            panic!("the recipe's commands stopped ({status}):\n{}", recipe.log());
        }
        assert!(Instant::now() < deadline, "{base} did not come up:\n{}", recipe.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_readme_shows_the_shipped_replica_config() {
    let blocks = recipe_blocks();
    let shown = blocks
        .iter()
        .find(|b| b.starts_with("issuer ="))
        .expect("the config block");
    // Each line the README shows is the shipped file's, in the same order ("# ..." elides).
    let mut rest = CONFIG.lines().map(str::trim);
    for line in shown.lines().filter(|l| !l.is_empty() && !l.starts_with("# ...")) {
        assert!(
            rest.any(|l| l == line),
            "README line {line:?} is not in examples/replicas/gatehouse.toml (in this order)"
        );
    }
}

#[tokio::test]
async fn the_replica_recipe_runs_as_written() {
    let Ok(admin_url) = std::env::var(support::postgres::ENV) else {
        eprintln!(
            "skipped the_replica_recipe_runs_as_written: {} is not set",
            support::postgres::ENV
        );
        return;
    };
    let blocks = recipe_blocks();
    let [sql, key, _config, start, ..] = &blocks[..] else {
        panic!("the recipe starts with four blocks: SQL, key, config, start; found {blocks:#?}");
    };

    // 1. The role and its database, under a name of this run's own.
    let name = format!("gatehouse_recipe_{}", support::postgres::random_suffix());
    for statement in sql.replace("gatehouse", &name).split(';').map(str::trim) {
        if !statement.is_empty() {
            support::postgres::query(&admin_url, statement).await;
        }
    }

    // 2. and 3. The key, and the shipped config pointed at this database and these files.
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .args(["-c", key])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "{key}");
    let server = url::Url::parse(&admin_url).unwrap();
    let database = format!("{}:{}", server.host_str().unwrap(), server.port().unwrap_or(5432));
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let config = CONFIG
        .replace("postgres://gatehouse:", &format!("postgres://{name}:"))
        .replace("@127.0.0.1:5432/gatehouse", &format!("@{database}/{name}"))
        .replace("\"../demo-users.toml\"", &format!("\"{examples}/demo-users.toml\""))
        .replace("\"../../claim-mappings/", &format!("\"{examples}/../claim-mappings/"));
    let config_path = dir.path().join("gatehouse.toml");
    std::fs::write(&config_path, config).unwrap();

    // 4. check, then both replicas, on ports of this run's own.
    let (a, b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let script = start
        .replace("127.0.0.1:8081", &a)
        .replace("127.0.0.1:8082", &b)
        .replace("examples/replicas/gatehouse.toml", config_path.to_str().unwrap());
    let log = dir.path().join("recipe.log");
    let mut recipe = Recipe {
        bash: run_shell(dir.path(), &format!("set -e\n{script}\nwait"), &log),
        log,
    };
    let (a, b) = (format!("http://{a}"), format!("http://{b}"));
    wait_until_ready(&a, &mut recipe).await;
    wait_until_ready(&b, &mut recipe).await;
    assert!(recipe.log().contains("OK"), "check said: {}", recipe.log());

    // A person starts at A, signs in at B, consents at A; the code is redeemed at B.
    let browser = Browser::default();
    let authorize = format!(
        "{a}/authorize?client_id=demo&response_type=code&scope=openid%20profile%20email\
         &redirect_uri={REDIRECT}&state=s1"
    );
    let login = browser.follow(&a, browser.get(&authorize).await).await;
    assert!(login.body.contains("Sign in to Demo app"), "{}", login.body);
    let consent = browser
        .post(
            &format!("{b}{}", login.form_action()),
            &[
                ("csrf", &login.field("csrf")),
                ("username", "alice"),
                ("password", "alice"),
            ],
        )
        .await;
    assert!(consent.body.contains("Allow Demo app"), "{}", consent.body);
    let redirect = browser
        .post(
            &format!("{a}/consent"),
            &[
                ("pending", &consent.field("pending")),
                ("csrf", &consent.field("csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let code = redirect.redirect_params()["code"].clone();
    let tokens = support::redeem_at(&b, ("demo", "demo-secret"), &code, REDIRECT, None).await;
    let id_token = support::jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], a.as_str(), "the issuer is the first replica's address");
    let info: serde_json::Value = support::client()
        .get(format!("{a}/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Alice Example");

    drop(recipe);
    support::postgres::query(&admin_url, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    support::postgres::query(&admin_url, &format!("DROP ROLE {name}")).await;
}
