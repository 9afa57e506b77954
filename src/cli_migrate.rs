//! `crmbot migrate --from sled --to postgres://…`: moves a sled data folder to PostgreSQL
//! (see `crmbot::flow::migrate`). Kept apart from `cli.rs`: one command, its own room.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crmbot::config::Config;
use crmbot::flow::migrate::sled_to_postgres;
use crmbot::flow::storage::Store;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Source {
    Sled,
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Where the data is now.
    #[arg(long, value_enum)]
    from: Source,
    /// The PostgreSQL database to copy into (postgres://user:password@host/db). Default:
    /// store.database_url (CRMBOT_DATABASE_URL, or CRMBOT_DATABASE_URL_FILE), which keeps
    /// the password off the command line.
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// The sled data folder. Default: data_dir (CRMBOT_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub fn run(config: &Config, args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let Source::Sled = args.from;
    let url = match (&args.to, &config.store.database_url) {
        (Some(u), _) => SecretString::from(u.clone()),
        (None, Some(u)) => u.clone(),
        (None, None) => bail!(
            "say where to copy to: --to postgres://user:password@host/database, or set CRMBOT_DATABASE_URL"
        ),
    };
    let dir = args.data_dir.unwrap_or_else(|| config.data_dir.clone());
    if !dir.is_dir() {
        bail!(
            "no crmbot database at {}: nothing to migrate",
            dir.display()
        );
    }
    let from: Store = match crmbot::store::Store::open_with(&dir, config.audit_key.clone()) {
        Ok(s) => s.into(),
        Err(crmbot::store::StoreError::Open { error, .. }) if crmbot::store::is_locked(&error) => {
            bail!(
                "{} is in use: stop crmbot serve before migrating (its drafts must not change during the copy)",
                dir.display()
            )
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the sled database at {}", dir.display()));
        }
    };
    let to = Store::postgres(&url, config.audit_key.clone())
        .context("cannot open the PostgreSQL database")?;
    let done = sled_to_postgres(&from, &to).context("migration stopped")?;
    println!(
        "copied {} draft(s), {} thread plan(s) and {} audit record(s) from {} to PostgreSQL ({} already there); the audit chain there verifies: {} record(s)",
        done.actions,
        done.threads,
        done.audit_records,
        dir.display(),
        done.already_there,
        done.audit_total
    );
    println!(
        "next: set CRMBOT_DATABASE_URL for crmbot serve, and keep {} as a backup",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
