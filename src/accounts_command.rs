//! `gatehouse accounts`: the upstream identities that sign in to an account, and taking
//! one away (through the admin API while the server runs).

use crate::{ConfigArg, operate};
use clap::Subcommand;
use gatehouse::clock::iso8601;

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Print the upstream identities that sign in to the account `SUB`, the first first.
    Links {
        #[command(flatten)]
        config: ConfigArg,
        /// The account's `sub` (as ID tokens and `sessions list` show it).
        #[arg(allow_hyphen_values = true)]
        sub: String,
    },
    /// Take the account's identity at an upstream away: logging in there then makes a
    /// new account. The account's only identity cannot be taken away.
    Unlink {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(allow_hyphen_values = true)]
        sub: String,
        /// The upstream's id.
        #[arg(long)]
        upstream: String,
    },
    /// Withdraw the account's consent to a client: its next sign-in there asks again, and
    /// the client's refresh tokens for the account stop working.
    WithdrawConsent {
        #[command(flatten)]
        config: ConfigArg,
        #[arg(allow_hyphen_values = true)]
        sub: String,
        /// The client's id.
        #[arg(long)]
        client: String,
    },
}

pub fn run(action: AccountsCommand) -> Result<(), String> {
    match action {
        AccountsCommand::Links { config, sub } => {
            let links = operate(&config.config, async |operator, _| operator.account_links(&sub).await)?;
            println!("{:<16} {:<21} SUBJECT", "UPSTREAM", "LINKED");
            for link in links {
                println!("{:<16} {:<21} {}", link.upstream, iso8601(link.linked_at), link.subject);
            }
            Ok(())
        }
        AccountsCommand::Unlink { config, sub, upstream } => {
            let removed = operate(&config.config, async |operator, _| {
                operator.unlink(&sub, &upstream).await
            })?;
            println!(
                "the identity {} at {} no longer signs in to {sub}",
                removed.subject, removed.upstream
            );
            Ok(())
        }
        AccountsCommand::WithdrawConsent { config, sub, client } => {
            let withdrawn = operate(&config.config, async |operator, _| {
                operator.withdraw_consent(&sub, &client).await
            })?;
            println!(
                "{sub}'s consent to {client} is withdrawn (scopes: {}); {} refresh famil{} revoked; \
                 the access tokens issued until now are ended",
                withdrawn.scopes.join(" "),
                withdrawn.revoked_families,
                if withdrawn.revoked_families == 1 { "y" } else { "ies" }
            );
            Ok(())
        }
    }
}
