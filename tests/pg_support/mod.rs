//! A PostgreSQL database per test. The server is `CRMBOT_TEST_POSTGRES_URL` when set (a URL
//! whose user may create databases); otherwise one this test binary starts itself in a
//! temporary folder when `initdb` and `pg_ctl` are found (as the `postgres` user when run as
//! root: initdb refuses root), stopped when the binary exits. With neither, a test prints
//! "SKIPPED: PostgreSQL not available (…)" and passes — unless `CRMBOT_REQUIRE_POSTGRES=1`,
//! then it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use secrecy::SecretString;

/// The server's URL (to its `postgres` database), or why there is none.
fn server() -> &'static Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("CRMBOT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_string()),
        _ => start_own(),
    })
}

/// A new, empty database for one test: its URL. `None` (after printing why) when there is
/// no PostgreSQL and it is not required.
pub fn fresh_database(test: &str) -> Option<SecretString> {
    let admin = match server() {
        Ok(url) => url.clone(),
        Err(why) => {
            if std::env::var("CRMBOT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL required (CRMBOT_REQUIRE_POSTGRES=1) but not available: {why}");
            }
            eprintln!("SKIPPED: PostgreSQL not available ({why}): {test}");
            return None;
        }
    };
    let name = format!("crmbot_test_{}", uuid::Uuid::new_v4().simple());
    let admin2 = admin.clone();
    let create = format!("CREATE DATABASE {name}");
    on_own_runtime(async move {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin2)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(&create)
            .execute(&mut conn)
            .await
            .expect("create the test database");
    });
    let mut url = url::Url::parse(&admin).expect("CRMBOT_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(SecretString::from(url.to_string()))
}

/// Runs `sql` on the database at `url` (to change what crmbot stored behind its back).
pub fn execute(url: &SecretString, sql: &str) -> u64 {
    use secrecy::ExposeSecret;
    let (url, sql) = (url.expose_secret().to_string(), sql.to_string());
    on_own_runtime(async move {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::query(&sql)
            .execute(&mut conn)
            .await
            .expect("run SQL")
            .rows_affected()
    })
}

/// Runs `fut` to completion on a runtime of its own thread, so plain and async tests alike
/// may call it.
fn on_own_runtime<R: Send + 'static>(
    fut: impl std::future::Future<Output = R> + Send + 'static,
) -> R {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(fut)
    })
    .join()
    .expect("the database task")
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`.
fn bin_dir() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = dirs.flatten().map(|d| d.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` run as the `postgres` user when this process is root.
fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn start_own() -> Result<String, String> {
    let bin =
        bin_dir().ok_or("CRMBOT_TEST_POSTGRES_URL is not set and no initdb/pg_ctl was found")?;
    let root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "crmbot-pg-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if root {
        let chown = Command::new("chown")
            .args(["postgres:", &dir.display().to_string()])
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chown.success() {
            return Err("running as root and there is no `postgres` user to run initdb as".into());
        }
    }
    let data = dir.join("data");
    let out = command(&bin, "initdb", root)
        .args([
            "-A",
            "trust",
            "-U",
            "crmbot",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        dir.display()
    );
    let out = command(&bin, "pg_ctl", root)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-o", &options, "-w", "-t", "60", "start"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("pg_ctl: {e}"))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {} {log}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Stops the server and removes its folder once this test binary has exited.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas} {pg_ctl} -D {data} -m immediate stop; rm -rf {dir}",
        pid = std::process::id(),
        runas = if root { "runuser -u postgres --" } else { "" },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the watcher: {e}"))?;
    Ok(format!("postgres://crmbot@127.0.0.1:{port}/postgres"))
}
