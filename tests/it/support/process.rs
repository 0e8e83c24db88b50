//! `gatehouse serve` as a real process, for what only a process shows: signals, a kill
//! in the middle of writes, and what it logs.

use super::client;
use super::config::{TestClient, TestConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `gatehouse serve` process on a loopback port, with its database in a temporary folder.
pub struct Server {
    child: Child,
    pub base: String,
    config: PathBuf,
}

impl Server {
    /// Writes the config (EdDSA keys, a `local` upstream with bob) for a free port.
    pub fn configure(dir: &Path) -> PathBuf {
        Server::configure_with(dir, "5s")
    }

    pub fn configure_with(dir: &Path, shutdown_grace: &str) -> PathBuf {
        Server::configure_with_tables(dir, shutdown_grace, "")
    }

    /// [`Server::configure_with`], and `tables` (TOML) at the end.
    pub fn configure_with_tables(dir: &Path, shutdown_grace: &str, tables: &str) -> PathBuf {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("gatehouse.toml");
        let text = TestConfig::new()
            .set("issuer", &format!("\"http://127.0.0.1:{port}\""))
            .set("data_dir", "\"data\"")
            .set("shutdown_grace", &format!("\"{shutdown_grace}\""))
            .tables("[tokens]\nsigning_alg = \"EdDSA\"\n")
            .client(TestClient::confidential("app", "app-secret").no_consent())
            .bob()
            .tables(tables)
            .build();
        std::fs::write(&config, text).unwrap();
        config
    }

    /// A replica's config: the shared `issuer`, its own `listen_port`, then `tables`.
    /// `tokens`: more lines of its `[tokens]` table.
    pub fn configure_replica(
        dir: &Path,
        name: &str,
        issuer: &str,
        listen_port: u16,
        tokens: &str,
        tables: &str,
    ) -> PathBuf {
        let config = dir.join(format!("{name}.toml"));
        let text = TestConfig::new()
            .set("issuer", &format!("\"{issuer}\""))
            .set("listen", &format!("\"127.0.0.1:{listen_port}\""))
            .set("data_dir", &format!("\"data-{name}\""))
            .tables(&format!("[tokens]\nsigning_alg = \"EdDSA\"\n{tokens}"))
            .client(
                TestClient::confidential("app", "app-secret")
                    .no_consent()
                    .with("introspect", "true"),
            )
            .client(
                TestClient::confidential("machine", "machine-secret")
                    .with("grant_types", "[\"client_credentials\"]")
                    .with("scopes", "[\"openid\"]"),
            )
            .bob()
            .tables(tables)
            .build();
        std::fs::write(&config, text).unwrap();
        config
    }

    /// Starts the binary on `config` and waits until it answers.
    pub async fn start(config: &Path) -> Server {
        let text = std::fs::read_to_string(config).unwrap();
        let base = text
            .lines()
            .find_map(|l| l.strip_prefix("issuer = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap()
            .to_string();
        Server::start_at(config, &base).await
    }

    /// Starts the binary on `config`, which listens at `base`, and waits until it answers.
    pub async fn start_at(config: &Path, base: &str) -> Server {
        let base = base.to_string();
        let log = std::fs::File::create(config.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(["serve", "--config"])
            .arg(config)
            // The default level, whatever the test run's environment says.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base,
            config: config.to_path_buf(),
        };
        server.wait_until_ready().await;
        server
    }

    pub async fn wait_until_ready(&self) {
        // A fresh start generates a key and a restart after kill -9 recovers the log.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = client().get(format!("{}/healthz", self.base)).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "the server did not come up: {}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The peak resident memory of the process so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        kib * 1024
    }

    /// The log once every line of the requests answered so far is in it: lines are
    /// written in order, a moment after they are logged, so this asks for one more
    /// request and waits until its line is there.
    pub async fn settled_log(&self) -> String {
        let marker = client()
            .get(format!("{}/healthz/live", self.base))
            .send()
            .await
            .unwrap();
        let id = marker.headers()["x-request-id"].to_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(&id) {
                return log;
            }
            assert!(Instant::now() < deadline, "the log never caught up: {log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the server wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.config.with_extension("log")).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `limit`; its exit status.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
