//! `gatehouse clients`: the clients of the config and those that registered themselves
//! (RFC 7591), one registration shown whole, and ending one (through the admin API while
//! the server runs).

use crate::{ConfigArg, operate};
use clap::Subcommand;
use gatehouse::clock::iso8601;
use std::path::Path;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Print every client: the config's, then the registered ones, soonest to expire first.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print one registered client's registration as JSON.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        client_id: String,
    },
    /// End a registered client: its refresh tokens stop working and the consents given
    /// to it end. A config client is removed from the config instead.
    Delete {
        #[command(flatten)]
        config: ConfigArg,
        client_id: String,
    },
}

pub fn run(action: ClientsCommand) -> Result<(), String> {
    match action {
        ClientsCommand::List { config } => list(&config.config),
        ClientsCommand::Show { config, client_id } => show(&config.config, &client_id),
        ClientsCommand::Delete { config, client_id } => delete(&config.config, &client_id),
    }
}

fn list(path: &Path) -> Result<(), String> {
    let (configured, mut registered) = operate(path, async |operator, config| {
        let configured: Vec<(String, String, String)> = config
            .clients
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    c.name.clone(),
                    c.token_endpoint_auth_method.as_str().to_string(),
                )
            })
            .collect();
        Ok((configured, operator.clients().await?))
    })?;
    registered.sort_by_key(|c| c.expires_at);
    println!(
        "{:<28} {:<10} {:<20} {:<30} EXPIRES",
        "CLIENT_ID", "ORIGIN", "AUTH", "NAME"
    );
    for (id, name, auth) in configured {
        println!("{id:<28} {:<10} {auth:<20} {name:<30} -", "config");
    }
    for client in registered {
        let metadata = &client.metadata;
        println!(
            "{:<28} {:<10} {:<20} {:<30} {}",
            client.client_id,
            "registered",
            metadata.token_endpoint_auth_method.as_deref().unwrap_or_default(),
            metadata.client_name.as_deref().unwrap_or_default(),
            iso8601(client.expires_at)
        );
    }
    Ok(())
}

fn show(path: &Path, client_id: &str) -> Result<(), String> {
    let client = operate(path, async |operator, _| operator.client(client_id).await)?
        .ok_or_else(|| no_such_client(path, client_id))?;
    let text = serde_json::to_string_pretty(&client).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

fn delete(path: &Path, client_id: &str) -> Result<(), String> {
    if !operate(path, async |operator, _| operator.delete_client(client_id).await)? {
        return Err(no_such_client(path, client_id));
    }
    println!("client {client_id} deleted: its refresh tokens and the consents given to it ended");
    Ok(())
}

fn no_such_client(path: &Path, client_id: &str) -> String {
    let configured = crate::load(path)
        .map(|config| config.client(client_id).is_some())
        .unwrap_or(false);
    if configured {
        format!("{client_id} is a client of the config: change or remove its [[clients]] table there")
    } else {
        format!("no registered client {client_id}")
    }
}
