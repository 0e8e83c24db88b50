//! Test configs from parts: the clients and upstreams most tests need, written once
//! (everything but the issuer, which `TestServer::start` adds).

use super::BOB_HASH;

/// The redirect URI of test clients: nothing listens there, tests read the redirect.
pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A `[[clients]]` table.
pub struct TestClient {
    lines: Vec<String>,
}

impl TestClient {
    /// A public client with the test redirect URI.
    pub fn public(id: &str) -> TestClient {
        TestClient {
            lines: vec![format!("id = \"{id}\""), format!("redirect_uris = [\"{REDIRECT}\"]")],
        }
    }

    /// A confidential client (client_secret_basic) with the test redirect URI.
    pub fn confidential(id: &str, secret: &str) -> TestClient {
        TestClient::public(id).with("secret", &format!("\"{secret}\""))
    }

    /// Logs people in without asking their consent.
    pub fn no_consent(self) -> TestClient {
        self.with("consent", "false")
    }

    /// `key = value`, the value written as TOML (in place of the key's earlier value).
    pub fn with(mut self, key: &str, value: &str) -> TestClient {
        let set = format!("{key} = ");
        self.lines.retain(|line| !line.starts_with(&set));
        self.lines.push(format!("{key} = {value}"));
        self
    }
}

/// A config under construction.
#[derive(Default)]
pub struct TestConfig {
    top: Vec<String>,
    tables: Vec<String>,
}

impl TestConfig {
    pub fn new() -> TestConfig {
        TestConfig::default()
    }

    /// A top-level key (before any table), written as TOML.
    pub fn set(mut self, key: &str, value: &str) -> TestConfig {
        self.top.push(format!("{key} = {value}"));
        self
    }

    pub fn client(mut self, client: TestClient) -> TestConfig {
        self.tables.push(format!("[[clients]]\n{}\n", client.lines.join("\n")));
        self
    }

    /// The `local` upstream `demo` with bob (password "bob").
    pub fn bob(self) -> TestConfig {
        self.bob_with("")
    }

    /// [`TestConfig::bob`], with these `[upstreams.users.attributes]` lines.
    pub fn bob_with(mut self, attributes: &str) -> TestConfig {
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!("[upstreams.users.attributes]\n{attributes}\n")
        };
        self.tables.push(format!(
            "[[upstreams]]\nid = \"demo\"\nkind = \"local\"\n[[upstreams.users]]\nusername = \"bob\"\npassword_hash = \"{BOB_HASH}\"\n{attributes}"
        ));
        self
    }

    /// An upstream of a mock OP (`support::mock_op`): `kind`, Gatehouse's client there,
    /// and `lines` of the kind's own keys.
    pub fn mock_upstream(mut self, id: &str, kind: &str, lines: &str) -> TestConfig {
        use super::mock_op::{CLIENT_ID, CLIENT_SECRET};
        self.tables.push(format!(
            "[[upstreams]]\nid = \"{id}\"\nkind = \"{kind}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{lines}\n"
        ));
        self
    }

    /// Any other tables (scopes, tokens, upstreams of other kinds), as TOML.
    pub fn tables(mut self, toml: &str) -> TestConfig {
        self.tables.push(toml.to_string());
        self
    }

    pub fn build(&self) -> String {
        format!("{}\n\n{}", self.top.join("\n"), self.tables.join("\n"))
    }
}
