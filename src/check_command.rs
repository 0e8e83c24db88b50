//! `gatehouse check`: the config, its mapping files and templates validated, and the store
//! tried the way `serve` will use it (the sled folder writable, the PostgreSQL role able
//! to create and use the tables), without starting anything.

use crate::load;
use std::path::Path;

/// Validates everything `serve` reads and checks that its store can be used, starting nothing.
pub fn run(path: &Path) -> Result<(), String> {
    let config = load(path)?;
    for warning in config.warnings() {
        eprintln!("{}: {}: warning: {}", path.display(), warning.key, warning.message);
    }
    let (mappings, pages) = gatehouse::load_referenced_files(&config).map_err(|e| e.to_string())?;
    let store = match &config.store.postgres {
        // The shared database must answer, with a schema this binary runs on, and let the
        // role do there what serve will.
        Some(postgres) => {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
            runtime
                .block_on(gatehouse::store::Store::check_usable(postgres))
                .map_err(|e| format!("{}: store.url: {e}", path.display()))?;
            "PostgreSQL (reachable, the schema and a write rehearsed)".to_string()
        }
        None => {
            writable(&config.data_dir).map_err(|e| format!("{}: data_dir: {e}", path.display()))?;
            format!("sled in {}", config.data_dir.display())
        }
    };
    println!(
        "{}: OK: issuer {}, {} client(s), {} upstream(s), {} mapping(s), {} template(s), store: {store}",
        path.display(),
        config.issuer,
        config.clients.len(),
        config.upstreams.len(),
        mappings.len(),
        pages.len()
    );
    Ok(())
}

/// Whether `serve` can keep its database in `dir`: a file can be made (and is removed
/// again) in it, or, when it does not exist yet, in the folder it would be created in.
fn writable(dir: &Path) -> Result<(), String> {
    let existing = dir
        .ancestors()
        .find(|a| a.as_os_str().is_empty() || a.exists())
        .map(|a| if a.as_os_str().is_empty() { Path::new(".") } else { a })
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Err(format!(
            "{} cannot be the database folder: {} is not a folder",
            dir.display(),
            existing.display()
        ));
    }
    let probe = existing.join(format!(".gatehouse-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| format!("{} is not writable: {e}", existing.display()))
}
