//! `gatehouse ldap-test`: what a login through an `ldap` upstream would find for a
//! username, without the password: the service account's search, the entry's groups, and
//! the claims its mapping makes of them. For getting the settings right before anyone
//! logs in; nothing is bound as the person and nothing is stored.

use crate::load;
use gatehouse::upstream::Upstream;
use gatehouse::upstream::ldap::LookedUp;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct LdapTestArgs {
    /// The TOML config file.
    #[arg(long, short, value_name = "FILE", env = "GATEHOUSE_CONFIG")]
    config: PathBuf,
    /// The id of the `ldap` upstream to try.
    #[arg(long, value_name = "ID")]
    upstream: String,
    /// The username as a person would type it on the form.
    #[arg(long, value_name = "NAME")]
    username: String,
    /// Only print what these space-separated scopes release, e.g. "openid profile groups".
    #[arg(long)]
    scope: Option<String>,
    /// Print the document the mapping reads (the entry's attributes and groups) instead
    /// of the claims.
    #[arg(long)]
    document: bool,
}

pub fn run(args: &LdapTestArgs) -> Result<(), String> {
    let path = args.config.display();
    let config = load(&args.config)?;
    let (mappings, _) = gatehouse::load_referenced_files(&config).map_err(|e| e.to_string())?;
    let Some(table) = config.upstreams.iter().find(|u| u.id == args.upstream) else {
        let ids: Vec<&str> = config.upstreams.iter().map(|u| u.id.as_str()).collect();
        return Err(format!(
            "{path}: no upstream `{}` (the upstreams are: {})",
            args.upstream,
            ids.join(", ")
        ));
    };
    let Some(Upstream::Ldap(directory)) = Upstream::open(&*table.settings, &table.id, &config.issuer) else {
        return Err(format!("{path}: upstream `{}` is not kind = \"ldap\"", args.upstream));
    };
    let mapping = mappings
        .get(&table.id)
        .ok_or_else(|| format!("{path}: upstream `{}` has no mapping", args.upstream))?;
    gatehouse::install_tls_provider();
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let found = runtime
        .block_on(directory.look_up(&args.username))
        .map_err(|e| format!("upstream `{}`: {e}", args.upstream))?;
    let (dn, document) = match found {
        LookedUp::Found { dn, document } => (dn, document),
        LookedUp::NoSingleEntry { filter } => {
            return Err(format!(
                "upstream `{}`: the search {filter} under user_base found no entry, or more than one: \
                 a login as {:?} would be refused",
                args.upstream, args.username
            ));
        }
        LookedUp::Disabled { dn } => {
            return Err(format!(
                "upstream `{}`: {dn} is disabled: a login as {:?} would be refused",
                args.upstream, args.username
            ));
        }
    };
    eprintln!("entry: {dn}");
    let printed = if args.document {
        document
    } else {
        let mapped = mapping
            .evaluate(&document)
            .map_err(|e| format!("the mapping of upstream `{}`: {e}", args.upstream))?;
        eprintln!("subject: {}", mapped.subject);
        let claims = match &args.scope {
            Some(scope) => {
                gatehouse::mapping::release(&mapped.claims, &gatehouse::scope::Scopes::parse(scope), &config.scopes)
            }
            None => mapped.claims,
        };
        serde_json::Value::Object(claims)
    };
    let pretty = serde_json::to_string_pretty(&printed).map_err(|e| format!("cannot print: {e}"))?;
    println!("{pretty}");
    Ok(())
}
