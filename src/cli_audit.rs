//! `crmbot audit`: read and check the audit log in the sled database at `data_dir` — list,
//! show one record, export JSON lines, verify the hash chain (and the database against its
//! mirror `audit.jsonl`), recover what a rolled-back database lost. Kept apart from `cli.rs`
//! because it needs neither Salesforce nor a model, only the store.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::Subcommand;
use secrecy::ExposeSecret;

use crmbot::config::Config;
use crmbot::flow::storage::Store;
use crmbot::store::audit::mirror;
use crmbot::store::{AuditFilter, AuditRecord, MIRROR_FILE, MirrorState, VerifyReport};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Records as a table, oldest first: seq, time (UTC), kind, actor, action, summary.
    List(ListArgs),
    /// One record as pretty JSON, detail included.
    Show {
        /// The record's sequence number (the first column of `audit list`).
        seq: u64,
    },
    /// Every record as JSON lines (one record per line, in order).
    Export {
        /// Write JSON lines (the only format; accepted so scripts can say so).
        #[arg(long)]
        jsonl: bool,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check the hash chain, and the database against its mirror (audit.jsonl): exit 0
    /// when intact, 1 with the first bad record (or the records the database lost), 2 when
    /// keyed records need CRMBOT_AUDIT_KEY to be checked.
    Verify,
    /// After a crash or a restore left the database behind its mirror: put the missing
    /// audit records back from audit.jsonl and bring the drafts they are about in line
    /// (an approval without a recorded outcome is looked for in Salesforce at start-up).
    Recover,
}

/// Which records `audit list` shows.
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Only records from this time on: a date (2026-11-25, midnight UTC) or a date and
    /// time (2026-11-25T14:00:00Z; without a zone, UTC).
    #[arg(long, value_name = "DATE|DATETIME", value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Only records caused by this Slack user id (U...).
    #[arg(long, value_name = "SLACKUSER")]
    user: Option<String>,
    /// Only records of this pending action.
    #[arg(long, value_name = "ID")]
    action: Option<String>,
    /// Only the N most recent matching records.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl ListArgs {
    fn filter(self) -> AuditFilter {
        AuditFilter {
            since: self.since,
            user: self.user,
            action_id: self.action,
            limit: self.limit,
        }
    }
}

/// The table of `audit list`, or that nothing matched.
fn print_list(records: &[AuditRecord]) {
    if records.is_empty() {
        eprintln!("no audit records match");
    } else {
        print!("{}", table(records));
    }
}

pub fn run(config: &Config, args: AuditArgs) -> anyhow::Result<ExitCode> {
    let store = match open(config)? {
        Opened::Store(store) => store,
        Opened::Held => return live(config, args.command),
    };
    let log = &store.audit;
    match args.command {
        AuditCommand::List(args) => {
            let records = log
                .list(&args.filter())
                .context("cannot read the audit log")?;
            print_list(&records);
        }
        AuditCommand::Show { seq } => {
            let Some(record) = log.get(seq).context("cannot read the audit log")? else {
                match log.len() {
                    0 => bail!("no audit record {seq}: the audit log is empty"),
                    n => bail!("no audit record {seq}: the audit log holds records 1 to {n}"),
                }
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&record).context("cannot render the record")?
            );
        }
        AuditCommand::Export { jsonl: _, out } => match out {
            Some(path) => {
                let file = File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut writer = BufWriter::new(file);
                let n = log
                    .export_jsonl(&mut writer)
                    .with_context(|| format!("cannot export to {}", path.display()))?;
                eprintln!("exported {n} audit records to {}", path.display());
            }
            None => {
                let stdout = std::io::stdout();
                let mut writer = BufWriter::new(stdout.lock());
                log.export_jsonl(&mut writer)
                    .context("cannot export the audit log")?;
                writer.flush().context("cannot write to standard output")?;
            }
        },
        AuditCommand::Verify => {
            let report = log.verify().context("cannot read the audit log")?;
            let code = report_verify(&report);
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
        AuditCommand::Recover => return recover(config, &store),
    }
    Ok(ExitCode::SUCCESS)
}

/// `crmbot audit recover`.
fn recover(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    let Some(sled) = store.as_sled() else {
        bail!(
            "`crmbot audit recover` repairs a sled database from its mirror; PostgreSQL keeps no mirror (restore it from your database backups)"
        );
    };
    let log = &sled.audit;
    match log
        .check_mirror()
        .context("cannot compare the database with its mirror")?
    {
        MirrorState::None => bail!("this database has no audit mirror to recover from"),
        MirrorState::InStep { records } => {
            println!(
                "nothing to recover: the database and {MIRROR_FILE} both end at record {records}"
            );
            return Ok(ExitCode::SUCCESS);
        }
        MirrorState::Extended { added } => {
            println!(
                "nothing to recover: {MIRROR_FILE} was behind the database and was brought up to it ({added} record(s))"
            );
            return Ok(ExitCode::SUCCESS);
        }
        MirrorState::Diverged { seq } => bail!(
            "the database and {MIRROR_FILE} disagree at record {seq}: one of them was changed, so neither can be trusted to repair the other; restore both from a backup"
        ),
        MirrorState::Behind { .. } => {}
    }
    let path = config.data_dir.join(MIRROR_FILE);
    let copies = mirror::read_all(&path).context("cannot read the audit mirror")?;
    let from = log.last_seq().context("cannot read the audit log")?;
    let missing: Vec<AuditRecord> = copies.into_iter().filter(|r| r.seq > from).collect();
    // The mirror's own chain must hold before it repairs anything.
    let key = config
        .audit_key
        .as_ref()
        .map(|k| k.expose_secret().as_bytes().to_vec());
    for r in &missing {
        match r
            .expected_hash(key.as_deref())
            .context("cannot hash a mirrored record")?
        {
            None => bail!(
                "record {} in {MIRROR_FILE} is sealed with a key: set CRMBOT_AUDIT_KEY and run this again",
                r.seq
            ),
            Some(expected) if expected != r.hash => bail!(
                "record {} in {MIRROR_FILE} was changed after it was written; restore from a backup",
                r.seq
            ),
            Some(_) => {}
        }
    }
    let restored = log
        .restore(&missing)
        .context("cannot put the records back")?;
    let actions = crmbot::flow::recover::apply(store, &missing, config.drafting.expire_after_days)
        .context("cannot bring the drafts in line")?;
    store.flush().context("cannot write the database")?;
    println!(
        "restored {restored} audit record(s) ({} to {}) from {MIRROR_FILE}",
        from + 1,
        from + restored
    );
    for a in &actions {
        let before = a.before.map_or("missing", |s| s.as_str());
        let note = match a.after.as_str() {
            "unknown" => " — crmbot will look for its write in Salesforce when it starts",
            _ => "",
        };
        println!("  draft {}: {before} -> {}{note}", a.id, a.after.as_str());
    }
    match log.verify().context("cannot read the audit log")? {
        VerifyReport::Broken { seq, reason } => {
            println!("the chain is still broken at record {seq}: {reason}");
            Ok(ExitCode::from(1))
        }
        _ => {
            println!("audit chain intact; `crmbot serve` can start again");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The database, or word that a running `crmbot serve` holds it.
enum Opened {
    Store(Store),
    Held,
}

/// Opens the database read-write (sled has no read-only mode) without creating it, and
/// whatever state its audit log is in: verify reports it, recover repairs it.
fn open(config: &Config) -> anyhow::Result<Opened> {
    if let Some(url) = &config.store.database_url {
        // PostgreSQL serves many readers: no need for the mirror while serve runs.
        return Store::postgres(url, config.audit_key.clone())
            .map(Opened::Store)
            .context("cannot open the PostgreSQL database (store.database_url)");
    }
    let dir = &config.data_dir;
    if !dir.is_dir() {
        bail!(
            "no crmbot database at {}: nothing has been recorded there yet \
             (the folder is data_dir in crmbot.toml, or CRMBOT_DATA_DIR)",
            dir.display()
        );
    }
    match crmbot::store::Store::open_for_repair(dir, config.audit_key.clone()) {
        Ok(store) => Ok(Opened::Store(store.into())),
        Err(crmbot::store::StoreError::Open { error, .. }) if crmbot::store::is_locked(&error) => {
            Ok(Opened::Held)
        }
        Err(e) => Err(anyhow!(e).context(format!("cannot open the database at {}", dir.display()))),
    }
}

/// `crmbot audit` while `crmbot serve` runs: sled lets one process open the database, so
/// the records are read from its mirror, `audit.jsonl`, which gets each record (synced)
/// as soon as the database has it. `recover` still needs the database.
fn live(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let dir = &config.data_dir;
    let path = dir.join(MIRROR_FILE);
    let in_use = |more: &str| {
        anyhow!(
            "the database at {} is in use by another process (a running `crmbot serve`?): \
             sled allows one process at a time{more}; stop it and run this command again",
            dir.display()
        )
    };
    if !path.exists() {
        return Err(in_use(
            ", and there is no audit.jsonl beside it to read instead",
        ));
    }
    if matches!(command, AuditCommand::Recover) {
        return Err(in_use(" and recover writes to it"));
    }
    eprintln!(
        "crmbot serve is using the database; reading its mirror {} (every record is there as soon as it is written)",
        path.display()
    );
    // Read once; the chain is walked only for `verify`.
    let records =
        mirror::read_complete(&path).with_context(|| format!("cannot read {}", path.display()))?;
    match command {
        AuditCommand::List(args) => {
            let filter = args.filter();
            let mut matching: Vec<AuditRecord> =
                records.into_iter().filter(|r| filter.matches(r)).collect();
            if let Some(n) = filter.limit {
                matching.drain(..matching.len().saturating_sub(n));
            }
            print_list(&matching);
        }
        AuditCommand::Show { seq } => {
            let Some(record) = records.iter().find(|r| r.seq == seq) else {
                bail!(
                    "no audit record {seq}: the mirror holds records 1 to {}",
                    records.len()
                );
            };
            println!(
                "{}",
                serde_json::to_string_pretty(record).context("cannot render the record")?
            );
        }
        AuditCommand::Export { jsonl: _, out } => {
            let mut writer: Box<dyn Write> = match &out {
                Some(p) => Box::new(BufWriter::new(
                    File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
                )),
                None => Box::new(BufWriter::new(std::io::stdout().lock())),
            };
            for r in &records {
                serde_json::to_writer(&mut writer, r).context("cannot write a record")?;
                writer.write_all(b"\n").context("cannot write a record")?;
            }
            writer.flush().context("cannot write the export")?;
            if let Some(p) = out {
                eprintln!(
                    "exported {} audit records to {}",
                    records.len(),
                    p.display()
                );
            }
        }
        AuditCommand::Verify => {
            let report = crmbot::store::audit::verify_records(&records, config.audit_key.as_ref())
                .with_context(|| format!("cannot check {}", path.display()))?;
            let code = report_verify(&report);
            println!(
                "(checked in {}; the database itself is checked against it when crmbot serve is stopped)",
                path.display()
            );
            return Ok(code);
        }
        AuditCommand::Recover => return Err(in_use(" and recover writes to it")),
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a verify report; its exit code.
fn report_verify(report: &VerifyReport) -> ExitCode {
    match report {
        VerifyReport::Intact { records } => {
            println!("audit chain intact: {records} records");
            ExitCode::SUCCESS
        }
        VerifyReport::Broken { seq, reason } => {
            println!("audit chain broken at record {seq}: {reason}");
            ExitCode::from(1)
        }
        VerifyReport::NeedsKey { records, keyed } => {
            println!(
                "audit chain of {records} records is linked, but {keyed} of them are sealed with a key: set CRMBOT_AUDIT_KEY to check them"
            );
            ExitCode::from(2)
        }
    }
}

/// `--since`: an RFC 3339 time, a date and time without zone (UTC), or a date (midnight UTC).
fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(format!(
        "'{s}' is not a date (2026-11-25) or a date and time (2026-11-25T14:00:00Z; \
         without a zone, UTC)"
    ))
}

/// The `audit list` table; the summary is last and not padded.
fn table(records: &[AuditRecord]) -> String {
    let header = ["SEQ", "TIME (UTC)", "KIND", "ACTOR", "ACTION", "SUMMARY"];
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            [
                r.seq.to_string(),
                r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                r.entry.kind.to_string(),
                r.entry.actor.clone().unwrap_or_else(|| "-".into()),
                r.entry.action_id.clone(),
                // One line per record, whatever the summary holds.
                r.entry.summary.replace(['\n', '\r'], " "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_and_times() {
        let day = parse_since("2026-11-25").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-11-25T00:00:00+00:00");
        assert_eq!(
            parse_since("2026-11-25T14:00:00Z").unwrap().to_rfc3339(),
            "2026-11-25T14:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-25T16:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-25T14:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-25 14:00").unwrap().to_rfc3339(),
            "2026-11-25T14:00:00+00:00"
        );
        assert!(parse_since("yesterday").unwrap_err().contains("not a date"));
    }
}
