//! The `gatehouse` command: wiring only; the work happens in the library.

mod accounts_command;
mod check_command;
mod clients_command;
mod ldap_test_command;
mod sessions_command;

use clap::{Parser, Subcommand};
use gatehouse::clock::{Clock, iso8601};
use gatehouse::mapping::Mapping;
use gatehouse::operator::Operator;
use gatehouse::{App, Config};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: a federating OpenID Connect provider.",
    long_about = "Gatehouse: a federating OpenID Connect provider.\n\n\
        Applications log people in through Gatehouse with standard OpenID Connect; Gatehouse sends \
        them on to an upstream identity provider (Google, Entra ID, a corporate IdP...), maps what \
        comes back to standard claims and issues its own tokens. Everything is configured in one \
        TOML file; state is kept in the folder named by its `data_dir`.\n\n\
        Start with: gatehouse serve --config examples/quickstart.toml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The TOML config file.
    #[arg(long, short, value_name = "FILE", env = "GATEHOUSE_CONFIG")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (stop it with Ctrl-C or SIGTERM; SIGHUP reloads the config).
    Serve(ConfigArg),
    /// Validate the config, its mapping files and templates without starting anything.
    ///
    /// Exits 0 with a one-line summary, or non-zero listing every problem as
    /// `FILE: key.path: what is wrong`.
    Check(ConfigArg),
    /// List or rotate the signing keys (through the admin API while the server runs).
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
    },
    /// List or end browser sessions (through the admin API while the server runs).
    Sessions {
        #[command(subcommand)]
        action: sessions_command::SessionsCommand,
    },
    /// List the clients, show or delete one that registered itself (through the admin
    /// API while the server runs).
    Clients {
        #[command(subcommand)]
        action: clients_command::ClientsCommand,
    },
    /// Show or remove the upstream identities linked to an account.
    Accounts {
        #[command(subcommand)]
        action: accounts_command::AccountsCommand,
    },
    /// Move state between stores.
    Store {
        #[command(subcommand)]
        action: StoreCommand,
    },
    /// Try a claim mapping on a sample of what an upstream sends, without logging in.
    ///
    /// Prints the claims as JSON with sorted keys (with --scope, only those that scope set
    /// releases), and the subject found to standard error. Exits non-zero on any problem.
    Map(MapArgs),
    /// Try an `ldap` upstream's settings on a username, without a password: prints the
    /// claims its mapping makes of the entry found (the entry's DN and the subject to
    /// standard error). Binds only as the service account. Exits non-zero when a login
    /// would find no single entry or a disabled one.
    LdapTest(ldap_test_command::LdapTestArgs),
    /// Hash a secret read from standard input, for `secret_hash` or `password_hash`.
    #[command(visible_alias = "hash-password")]
    HashSecret,
}

#[derive(clap::Args)]
struct MapArgs {
    /// The mapping file, e.g. claim-mappings/google.toml.
    #[arg(long, value_name = "FILE")]
    mapping: PathBuf,
    /// A JSON sample: the upstream's ID token claims and userinfo as one object.
    #[arg(long, value_name = "SAMPLE.json")]
    input: PathBuf,
    /// Only print what these space-separated scopes release, e.g. "openid profile email".
    #[arg(long)]
    scope: Option<String>,
    /// A Gatehouse config whose custom [scopes.*] --scope may name.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy an embedded (sled) database into the PostgreSQL database of --config, which
    /// must be empty, and seal its signing keys there. Stop the server that uses the
    /// folder first.
    Migrate {
        #[command(flatten)]
        config: ConfigArg,
        /// The sled database folder to copy from (the old config's data_dir).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print every key: kid, algorithm, when it was made, and whether it signs (active)
    /// or is only still published (retired).
    List(ConfigArg),
    /// Make a new active signing key. The old one stays in the JWKS until every token
    /// it signed has expired.
    Rotate(ConfigArg),
    /// Seal every private key under store.key_encryption_key: after changing that key
    /// (list the old one in store.previous_key_encryption_keys until this has run), or
    /// to seal keys stored before there was one.
    Rewrap(ConfigArg),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args.config),
        Command::Check(args) => check_command::run(&args.config),
        Command::Keys {
            action: KeysCommand::List(args),
        } => keys_list(&args.config),
        Command::Keys {
            action: KeysCommand::Rotate(args),
        } => keys_rotate(&args.config),
        Command::Keys {
            action: KeysCommand::Rewrap(args),
        } => keys_rewrap(&args.config),
        Command::Sessions { action } => sessions_command::run(action),
        Command::Clients { action } => clients_command::run(action),
        Command::Accounts { action } => accounts_command::run(action),
        Command::Store {
            action: StoreCommand::Migrate { config, from },
        } => store_migrate(&config.config, &from),
        Command::Map(args) => map(&args),
        Command::LdapTest(args) => ldap_test_command::run(&args),
        Command::HashSecret => hash_secret(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Loads and validates the config; every problem becomes one line of the error.
fn load(path: &Path) -> Result<Config, String> {
    Config::load(path, gatehouse::upstream::KINDS).map_err(|e| e.to_string())
}

fn serve(path: &Path) -> Result<(), String> {
    let config = load(path)?;
    let _written_at_exit =
        gatehouse::logging::init(&config.log).map_err(|e| format!("cannot start the log writer: {e}"))?;
    for warning in config.warnings() {
        tracing::warn!(key = %warning.key, "{}", warning.message);
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(async {
        let listen = config.listen;
        let config_admin = config.admin_listen;
        let issuer = config.issuer.clone();
        let app = App::build(config, Clock::System).await.map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let admin = match config_admin {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr} (admin_listen): {e}"))?,
            ),
            None => None,
        };
        #[cfg(unix)]
        gatehouse::app::reload_on_sighup(&app);
        tracing::info!(%listen, %issuer, "Gatehouse is serving");
        gatehouse::serve(app, listener, admin, shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    // Requests cut off at the end of the grace period may still hold tasks (and
    // blocking work): the process does not wait for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    served
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// Runs an operator command against the state of `path`'s config: its database, or
/// the admin API of the server that holds it.
fn operate<T>(path: &Path, command: impl AsyncFnOnce(&Operator, &Config) -> Result<T, String>) -> Result<T, String> {
    gatehouse::install_tls_provider();
    let config = load(path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let operator = Operator::connect(&config).await?;
        command(&operator, &config).await
    })
}

fn keys_list(path: &Path) -> Result<(), String> {
    let keys = operate(path, async |operator, _| operator.keys().await)?;
    if keys.is_empty() {
        println!("no signing keys yet: `gatehouse serve` or `gatehouse keys rotate` makes the first");
        return Ok(());
    }
    println!("{:<45} {:<6} {:<21} STATE", "KID", "ALG", "CREATED");
    let now = Clock::System.now();
    for key in keys {
        let mut state = match (key.activates_at, key.retired_at, key.published_until) {
            (Some(at), _, _) => format!("next: published, signs from {}", iso8601(at)),
            (None, Some(at), Some(until)) if at > now => {
                format!("active until {}, then published until {}", iso8601(at), iso8601(until))
            }
            (None, _, Some(until)) => format!("retired, published until {}", iso8601(until)),
            _ => key.state().to_string(),
        };
        if key.sealed {
            state.push_str(" (sealed)");
        }
        println!(
            "{:<45} {:<6} {:<21} {state}",
            key.kid,
            key.alg.to_string(),
            iso8601(key.created_at)
        );
    }
    Ok(())
}

fn keys_rotate(path: &Path) -> Result<(), String> {
    let now = Clock::System.now();
    let (kid, config) = operate(path, async |operator, config| {
        Ok((operator.rotate_key().await?, config.clone()))
    })?;
    let retire_secs = config.tokens.longest_signed_token_ttl().as_secs_i64();
    if config.store.postgres.is_some() {
        // Every replica publishes it before any signs with it (see the README).
        let activates = now.saturating_add(config.store.poll_interval.as_secs_i64().saturating_mul(2));
        println!(
            "new key {kid} ({}): published now, signs from {}; keys it replaced stay published until {}",
            config.tokens.signing_alg,
            iso8601(activates),
            iso8601(activates.saturating_add(retire_secs))
        );
    } else {
        println!(
            "new active key {kid} ({}); keys it replaced stay published until {}",
            config.tokens.signing_alg,
            iso8601(now.saturating_add(retire_secs))
        );
    }
    Ok(())
}

fn store_migrate(path: &Path, from: &Path) -> Result<(), String> {
    gatehouse::install_tls_provider();
    let config = load(path)?;
    if !from.join("conf").is_file() {
        return Err(format!("{}: no sled database here (no `conf` file)", from.display()));
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (copied, sealed) = runtime.block_on(gatehouse::operator::migrate_store(&config, from))?;
    println!(
        "copied {copied} record(s) from {}; {sealed} signing key(s) sealed",
        from.display()
    );
    Ok(())
}

fn keys_rewrap(path: &Path) -> Result<(), String> {
    let count = operate(path, async |operator, _| operator.rewrap_keys().await)?;
    println!("{count} key(s) sealed anew under store.key_encryption_key");
    Ok(())
}

fn map(args: &MapArgs) -> Result<(), String> {
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()));
    let mapping = Mapping::parse(&args.mapping, &read(&args.mapping)?).map_err(|e| e.to_string())?;
    let input: serde_json::Value = serde_json::from_str(&read(&args.input)?)
        .map_err(|e| format!("{}: not valid JSON: {e}", args.input.display()))?;
    if !input.is_object() {
        return Err(format!("{}: must be a JSON object", args.input.display()));
    }
    let mapped = mapping
        .evaluate(&input)
        .map_err(|e| format!("{}: {e}", args.mapping.display()))?;
    let custom_scopes = match &args.config {
        Some(path) => load(path)?.scopes,
        None => Default::default(),
    };
    let claims = match &args.scope {
        Some(scope) => {
            gatehouse::mapping::release(&mapped.claims, &gatehouse::scope::Scopes::parse(scope), &custom_scopes)
        }
        None => mapped.claims,
    };
    let pretty = serde_json::to_string_pretty(&serde_json::Value::Object(claims))
        .map_err(|e| format!("cannot print the claims: {e}"))?;
    eprintln!("subject: {}", mapped.subject);
    println!("{pretty}");
    Ok(())
}

fn hash_secret() -> Result<(), String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let mut secret = String::new();
    std::io::stdin()
        .read_line(&mut secret)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let secret = secret.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        return Err("no secret on standard input: echo -n 'the secret' | gatehouse hash-secret".into());
    }
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| format!("cannot hash: {e}"))?;
    println!("{hash}");
    Ok(())
}
