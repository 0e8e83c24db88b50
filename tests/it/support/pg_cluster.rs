//! PostgreSQL clusters of a test's own, for what the shared test server cannot show: a
//! primary and its streaming standby (`pg_basebackup`), the primary killed, the standby
//! promoted. Debian's binaries (`.ci/with-postgres` installs them), run as an
//! unprivileged user when the tests run as root (PostgreSQL refuses root), on loopback
//! ports, in a temporary folder removed with the cluster.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Stdio;

pub struct Cluster {
    pub port: u16,
    data: PathBuf,
    bin: PathBuf,
    run_as: Option<String>,
    /// The folder of the data and the socket; removed on drop.
    _root: tempfile::TempDir,
}

/// The newest PostgreSQL's binaries, or why the test cannot run.
fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL in /usr/lib/postgresql ({e})"))?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop().ok_or_else(|| "no PostgreSQL binaries".to_string())
}

/// Whom to run PostgreSQL as: nobody else unless the tests run as root.
fn unprivileged_user() -> Option<String> {
    // The effective user, as `id -u` says.
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    ["postgres", "gatehouse-ci"]
        .into_iter()
        .map(str::to_string)
        .find(|user| {
            std::process::Command::new("id")
                .arg("-u")
                .arg(user)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Cluster {
    /// A new primary with `settings` (`name=value`) and a database `gatehouse`, or `None`
    /// (with a printed reason) where PostgreSQL cannot run.
    pub async fn primary(test: &str, settings: &[&str]) -> Option<Cluster> {
        if std::env::var(super::postgres::ENV).is_err() {
            eprintln!("skipped {test}: run the tests under .ci/with-postgres");
            return None;
        }
        let bin = match binaries() {
            Ok(bin) => bin,
            Err(why) => {
                eprintln!("skipped {test}: {why}");
                return None;
            }
        };
        let cluster = Cluster::empty(bin);
        cluster
            .run(
                "initdb",
                &[
                    "-D",
                    path(&cluster.data),
                    "-U",
                    "gatehouse",
                    "--auth=trust",
                    "--no-instructions",
                ],
            )
            .await;
        cluster.start(settings).await;
        super::postgres::query(&cluster.url("postgres"), "CREATE DATABASE gatehouse").await;
        Some(cluster)
    }

    /// A streaming standby of `primary`, started.
    pub async fn standby_of(primary: &Cluster) -> Cluster {
        let cluster = Cluster::empty(primary.bin.clone());
        let port = primary.port.to_string();
        cluster
            .run(
                "pg_basebackup",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "gatehouse",
                    "-D",
                    path(&cluster.data),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                ],
            )
            .await;
        cluster.start(&[]).await;
        cluster
    }

    fn empty(bin: PathBuf) -> Cluster {
        let root = tempfile::Builder::new().prefix("gatehouse-pg-").tempdir().unwrap();
        let run_as = unprivileged_user();
        if let Some(user) = &run_as {
            std::process::Command::new("chown")
                .arg(user)
                .arg(root.path())
                .status()
                .unwrap();
        }
        Cluster {
            port: free_port(),
            data: root.path().join("data"),
            bin,
            run_as,
            _root: root,
        }
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://gatehouse@127.0.0.1:{}/{database}", self.port)
    }

    async fn start(&self, settings: &[&str]) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=on",
            self.port,
            path(self.data.parent().unwrap())
        );
        for setting in settings {
            options.push_str(&format!(" -c {setting}"));
        }
        let log = self.data.parent().unwrap().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                path(&self.data),
                "-l",
                path(&log),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        )
        .await;
    }

    /// Stops the server at once, as a crash would (no shutdown checkpoint).
    pub async fn kill(&self) {
        self.run("pg_ctl", &["-D", path(&self.data), "-m", "immediate", "stop"])
            .await;
    }

    /// Makes a standby the primary; returns once it accepts writes.
    pub async fn promote(&self) {
        self.run("pg_ctl", &["-D", path(&self.data), "-w", "promote"]).await;
    }

    /// Runs a PostgreSQL program to its end, off the test's async workers.
    async fn run(&self, program: &str, args: &[&str]) {
        let mut command = self.command(program);
        command.args(args);
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A PostgreSQL program, as the unprivileged user when there is one.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program);
                command
            }
            None => Command::new(&program),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", path(&self.data), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}
