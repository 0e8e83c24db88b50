//! A throwaway OpenLDAP `slapd` for a test: Debian's server (`.ci/run` installs it) on a
//! free loopback port, its database and config in a folder of its own, filled from an
//! LDIF with `slapadd`, logging every operation (`-d stats`) to a file the test can read.
//! With `tls`, it also listens for ldaps and StartTLS with a certificate of a test CA
//! (made by `openssl`), whose certificate is at [`Slapd::ca_file`].

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret";

/// A running slapd (killed when dropped).
pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// People and groups: ada (in staff, which is in engineering; loop-a and loop-b are in
/// each other), bob (in no group), zoë (a name beyond ASCII).
pub const PEOPLE: &str = include_str!("../../fixtures/ldap/people.ldif");

impl Slapd {
    /// A slapd with `ldif` loaded, listening on ldap:// (and with `tls`, on ldaps:// too).
    pub fn start(ldif: &str, tls: bool) -> Slapd {
        assert!(
            Path::new(SLAPD).is_file(),
            "the LDAP tests need Debian's slapd: apt-get install slapd (.ci/run installs it)"
        );
        let dir = tempfile::tempdir().expect("a folder for slapd");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        if tls {
            make_certificates(dir.path());
        }
        std::fs::write(dir.path().join("slapd.conf"), config(dir.path(), tls)).unwrap();
        std::fs::write(dir.path().join("data.ldif"), ldif).unwrap();
        let loaded = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(dir.path().join("slapd.conf"))
            .arg("-l")
            .arg(dir.path().join("data.ldif"))
            .output()
            .expect("slapadd runs");
        assert!(
            loaded.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let mut slapd = Slapd {
            dir,
            port: free_port(),
            tls_port: tls.then(free_port),
            child: None,
        };
        slapd.resume();
        slapd
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://localhost:PORT` (the certificate names localhost).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://localhost:{}", self.tls_port.expect("started with tls"))
    }

    /// `ldap://localhost:PORT`, for StartTLS against the certificate's name.
    pub fn localhost_url(&self) -> String {
        format!("ldap://localhost:{}", self.port)
    }

    /// The test CA's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// What slapd logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// Waits until the log has a line with `text` (slapd writes each operation as it
    /// ends); false after ten seconds.
    pub fn wait_for_log(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Stops the server (its database stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports with the same database, once it answers.
    pub fn resume(&mut self) {
        let mut listen = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(tls_port) = self.tls_port {
            listen.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("slapd.log"))
            .unwrap();
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(&listen)
            // Foreground, logging each connection and operation (stats).
            .args(["-d", "256"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports = std::iter::once(self.port).chain(self.tls_port);
        for port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "slapd did not listen on {port}: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Deletes the entry `dn`, as the directory's administrator.
    pub async fn delete(&self, dn: &str) {
        let (connection, mut ldap) = ldap3::LdapConnAsync::new(&self.url()).await.expect("connect to slapd");
        ldap3::drive!(connection);
        ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap.delete(dn).await.unwrap().success().unwrap();
        ldap.unbind().await.unwrap();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server's config: `tests/fixtures/ldap/slapd.conf` (which `.ci/with-slapd` fills in
/// too) for the folder `dir`, with TLS lines when `tls`.
fn config(dir: &Path, tls: bool) -> String {
    let dir = dir.display();
    let tls = if tls {
        format!(
            "TLSCACertificateFile {dir}/ca.pem\nTLSCertificateFile {dir}/server.pem\nTLSCertificateKeyFile {dir}/server.key\n"
        )
    } else {
        String::new()
    };
    include_str!("../../fixtures/ldap/slapd.conf")
        .replace("@DIR@", &dir.to_string())
        .replace("@TLS@", &tls)
}

/// A CA, and a certificate it signed for localhost and 127.0.0.1.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Gatehouse test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
