//! `cargo xtask backup` and `cargo xtask restore FILE`: the database as a pg_dump archive in the
//! custom format (compressed; pg_restore can read it table by table).
//!
//! Two places the database can be: the release's own PostgreSQL pod, reached with `kubectl exec`
//! (the pod's pg_dump and pg_restore, so their version is the server's, and the password, read
//! from the pod's environment, never leaves it); or any PostgreSQL named by `--database-url`
//! (an external database, `cargo xtask dev --postgres`), with this machine's pg_dump and
//! pg_restore. A restore first backs up what is there, then replaces it in one transaction: a
//! failed restore changes nothing, a mistaken one can be undone.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::exec::Command;
use crate::flags::{BackupArgs, ReleaseArgs, RestoreArgs};
use crate::project::target_dir;
use crate::tools::kubectl::Kubectl;

/// The first bytes of every custom-format archive.
const ARCHIVE_MAGIC: &[u8] = b"PGDMP";
const DUMP_FLAGS: [&str; 3] = ["--format=custom", "--no-owner", "--no-privileges"];
const RESTORE_FLAGS: [&str; 5] = [
    "--clean",
    "--if-exists",
    "--no-owner",
    "--no-privileges",
    "--single-transaction",
];

pub fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let database = Database::find(&args.release, args.database_url.as_deref())?;
    let file = args
        .output
        .clone()
        .unwrap_or_else(|| default_file(&args.release.release, ""));
    dump(&database, &file)?;
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"file": file, "bytes": bytes, "database": database.to_string()}))?
        );
    } else {
        println!("backed up {database} to {} ({})", file.display(), size(bytes));
    }
    Ok(())
}

pub fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    check_archive(&args.file)?;
    let database = Database::find(&args.release, args.database_url.as_deref())?;
    let safety = default_file(&args.release.release, "-before-restore");
    let restore = database.restore_command();
    if args.dry_run {
        println!(
            "$ {} > {}\n$ {restore} < {}",
            database.dump_command(),
            safety.display(),
            args.file.display()
        );
        return Ok(());
    }
    eprintln!("first, what {database} holds now:");
    dump(&database, &safety)?;
    restore.run_from_file(&args.file).with_context(|| {
        format!(
            "the restore failed and changed nothing (it runs in one transaction); what was there is also in {}",
            safety.display()
        )
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"restored": args.file, "database": database.to_string(), "before": safety})
            )?
        );
    } else {
        println!(
            "restored {} into {database}; what was there before is in {}",
            args.file.display(),
            safety.display()
        );
    }
    Ok(())
}

/// Where the backups go unless told: target/backups/<release>-<UTC time><suffix>.dump.
fn default_file(release: &str, suffix: &str) -> PathBuf {
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    target_dir()
        .join("backups")
        .join(format!("{release}-{now}{suffix}.dump"))
}

/// pg_dump into `file`, through a `.partial` file renamed at the end: a dump that failed half
/// way never leaves a file that looks like a backup.
fn dump(database: &Database, file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let partial = file.with_extension("partial");
    let dumped = database
        .dump_command()
        .run_to_file(&partial)
        .and_then(|()| check_archive(&partial));
    if let Err(e) = dumped {
        let _ = std::fs::remove_file(&partial);
        return Err(e.context(format!("the backup of {database} failed")));
    }
    std::fs::rename(&partial, file).with_context(|| format!("cannot write {}", file.display()))
}

/// A pg_dump custom-format archive, or an error saying what the file is not.
fn check_archive(file: &Path) -> anyhow::Result<()> {
    use std::io::Read as _;
    let mut start = [0u8; 5];
    let read = std::fs::File::open(file)
        .and_then(|mut f| f.read(&mut start))
        .with_context(|| format!("cannot read {}", file.display()))?;
    if read < start.len() || start != ARCHIVE_MAGIC {
        bail!(
            "{} is not a pg_dump archive in the custom format (cargo xtask backup writes them; pg_dump --format=custom too)",
            file.display()
        );
    }
    Ok(())
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// A PostgreSQL database, and how to run pg_dump and pg_restore against it.
enum Database {
    /// The release's PostgreSQL pod.
    Pod { kubectl: Kubectl, pod: String },
    /// Any server, by URL (its password kept out of the URL that is printed).
    Url { url: String, password: Option<String> },
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Pod { kubectl, pod } => write!(f, "the database in pod {pod} (namespace {})", kubectl.namespace),
            Database::Url { url, .. } => write!(f, "the database at {url}"),
        }
    }
}

impl Database {
    fn find(release: &ReleaseArgs, url: Option<&str>) -> anyhow::Result<Database> {
        match url {
            Some(url) => Database::at_url(url),
            None => Database::release_pod(release),
        }
    }

    fn at_url(url: &str) -> anyhow::Result<Database> {
        if url.starts_with("sqlite:") {
            bail!(
                "backup and restore work on PostgreSQL; a SQLite database (cargo xtask dev's) is one file: copy it while nothing has it open"
            );
        }
        let mut parsed = url::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "postgres" | "postgresql"))
            .context("--database-url must be a PostgreSQL URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE")?;
        let password = parsed
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
        let _ = parsed.set_password(None);
        Ok(Database::Url {
            url: parsed.to_string(),
            password,
        })
    }

    fn release_pod(release: &ReleaseArgs) -> anyhow::Result<Database> {
        let kubectl = Kubectl::new(release.context.as_deref(), &release.namespace);
        let selector = format!(
            "app.kubernetes.io/instance={},app.kubernetes.io/name=postgresql",
            release.release
        );
        let pods = kubectl.list("pods", Some(&selector))?;
        let pod = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
            .and_then(|p| p["metadata"]["name"].as_str())
            .with_context(|| {
                format!(
                    "release {} has no running PostgreSQL pod in namespace {}: with an external database (global.database.external), pass --database-url; otherwise check it with cargo xtask status",
                    release.release, release.namespace
                )
            })?;
        Ok(Database::Pod {
            kubectl,
            pod: pod.to_string(),
        })
    }

    fn dump_command(&self) -> Command {
        self.tool("pg_dump", &DUMP_FLAGS, false)
    }

    fn restore_command(&self) -> Command {
        self.tool("pg_restore", &RESTORE_FLAGS, true)
    }

    /// pg_dump or pg_restore against this database, reading or writing the archive on stdio.
    fn tool(&self, program: &str, flags: &[&str], stdin: bool) -> Command {
        match self {
            Database::Pod { kubectl, pod } => {
                // The pod's environment holds the user, the database and the password; the
                // script names them, so nothing secret is on the command line or printed.
                let script = format!(
                    r#"PGPASSWORD="$POSTGRES_PASSWORD" exec {program} {} --username="$POSTGRES_USER" --dbname="$POSTGRES_DB""#,
                    flags.join(" ")
                );
                let mut args = vec!["exec".to_string()];
                if stdin {
                    args.push("--stdin".to_string());
                }
                args.extend([pod.clone(), "--container".into(), "postgresql".into(), "--".into()]);
                args.extend(["sh".into(), "-c".into(), script]);
                kubectl.command(args)
            }
            Database::Url { url, password } => {
                let command = Command::new(program)
                    .args(flags.iter().copied())
                    .arg(format!("--dbname={url}"));
                match password {
                    Some(password) => command.secret_env("PGPASSWORD", password),
                    None => command,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_loses_its_password_to_a_secret_variable() {
        let Database::Url { url, password } =
            Database::at_url("postgres://todo:p%40ss%3Aword@db.internal:5433/todo?sslmode=require").unwrap()
        else {
            panic!("not a URL database");
        };
        assert_eq!(url, "postgres://todo@db.internal:5433/todo?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss:word"));
        let shown = Database::Url { url, password }.dump_command().to_string();
        assert_eq!(
            shown,
            "PGPASSWORD=… pg_dump --format=custom --no-owner --no-privileges '--dbname=postgres://todo@db.internal:5433/todo?sslmode=require'"
        );
    }

    #[test]
    fn sqlite_and_other_urls_are_refused_with_what_to_do() {
        let e = Database::at_url("sqlite:data/dev/todo.db").err().unwrap().to_string();
        assert!(e.contains("a SQLite database (cargo xtask dev's) is one file"), "{e}");
        let e = Database::at_url("mysql://root@localhost/todo")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("must be a PostgreSQL URL"), "{e}");
    }

    #[test]
    fn in_the_pod_the_password_stays_in_its_environment() {
        let database = Database::Pod {
            kubectl: Kubectl::new(Some("minikube"), "chatbot-dev"),
            pod: "todo-chatbot-postgresql-0".into(),
        };
        let restore = database.restore_command().to_string();
        assert!(
            restore.contains("exec --stdin todo-chatbot-postgresql-0 --container postgresql -- sh -c 'PGPASSWORD=\"$POSTGRES_PASSWORD\" exec pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction"),
            "{restore}"
        );
    }

    #[test]
    fn only_a_custom_format_archive_is_restored() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.sql");
        std::fs::write(&plain, "-- PostgreSQL database dump\n").unwrap();
        let e = check_archive(&plain).unwrap_err().to_string();
        assert!(e.contains("is not a pg_dump archive in the custom format"), "{e}");
        let archive = dir.path().join("ok.dump");
        std::fs::write(&archive, b"PGDMP\x01\x0e\x00").unwrap();
        check_archive(&archive).unwrap();
        assert!(check_archive(&dir.path().join("missing.dump")).is_err());
    }
}
