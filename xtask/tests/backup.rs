//! `cargo xtask backup` and `cargo xtask restore` on the real PostgreSQL: what users wrote through
//! the real services (accounts, tasks, conversations, messages) comes back row for row, into a
//! fresh database and over a damaged one with the services still running; and the same through
//! the release's pod (`kubectl exec`, faked here by running the real pg_dump and pg_restore
//! locally, as the pod would).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const TABLES: [&str; 4] = ["users", "tasks", "conversations", "messages"];

/// The PostgreSQL the tests use, and a database of their own on it, dropped afterwards.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    /// A new empty database; `None` (after a loud skip, a failure under CI) without PostgreSQL
    /// or its client tools.
    fn create(label: &str) -> Option<Database> {
        let admin =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let missing = ["psql", "pg_dump", "pg_restore"]
            .into_iter()
            .find(|tool| which::which(tool).is_err());
        let reachable = missing.is_none() && psql(&admin, "SELECT 1").is_ok();
        if !reachable {
            let why = missing.map_or_else(
                || format!("PostgreSQL at {admin} is unreachable"),
                |tool| format!("{tool} is not installed (apt-get install postgresql-client)"),
            );
            assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{why}");
            eprintln!("*** SKIPPED: the backup tests: {why} ***");
            return None;
        }
        let name = format!("xtask_backup_{label}_{}", std::process::id());
        psql(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
        psql(&admin, &format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        let url = format!("{base}/{name}");
        Some(Database { admin, name, url })
    }

    /// Every row of the application's tables, in order: what must come back.
    fn rows(&self) -> String {
        TABLES
            .iter()
            .map(|table| {
                let rows = psql(
                    &self.url,
                    &format!("COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT"),
                )
                .unwrap();
                format!("-- {table}\n{rows}")
            })
            .collect()
    }

    fn count(&self, table: &str) -> usize {
        psql(&self.url, &format!("SELECT count(*) FROM {table}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            "--no-psqlrc",
            "--quiet",
            "--tuples-only",
            "--no-align",
            "--dbname",
            url,
            "--command",
            sql,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A user of the real services, through the frontend as the browser reaches them.
struct User {
    base: String,
    token: String,
    id: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// One request, as a client that honours 503 + `Retry-After` sends it: the backend answers
/// `busy` (its bounded password-hashing queue) or `database_unavailable` for a moment on a
/// machine loaded by other work, and says when to come back. A few tries, then the answer.
fn call(base: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let body = body.map_or_else(String::new, |b| b.to_string());
    let mut tries = 0;
    loop {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        let mut response = agent()
            .run(
                request
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .unwrap(),
            )
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = response.body_mut().read_to_string().unwrap_or_default();
        tries += 1;
        match retry_after {
            Some(seconds) if status == 503 && tries < 5 => {
                eprintln!("{method} {path}: 503 {text}; again in {seconds} s");
                std::thread::sleep(Duration::from_secs(seconds.clamp(1, 5)));
            }
            _ => return (status, serde_json::from_str(&text).unwrap_or(Value::String(text))),
        }
    }
}

impl User {
    fn sign_up(base: &str, email: &str) -> User {
        let (status, answer) = call(
            base,
            "POST",
            "/api/auth/sign-up",
            None,
            Some(json!({"email": email, "password": "a long enough password", "name": email})),
        );
        assert_eq!(status, 201, "{answer}");
        User::sign_in(base, email).expect("signs in after signing up")
    }

    fn sign_in(base: &str, email: &str) -> Option<User> {
        let (status, answer) = call(
            base,
            "POST",
            "/api/auth/sign-in",
            None,
            Some(json!({"email": email, "password": "a long enough password"})),
        );
        (status == 200).then(|| User {
            base: base.to_string(),
            token: answer["token"].as_str().unwrap().to_string(),
            id: answer["user"]["id"].as_str().unwrap().to_string(),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let path = path.replace("{user}", &self.id);
        call(&self.base, method, &path, Some(&self.token), body)
    }

    fn add(&self, title: &str) -> i64 {
        let (status, task) = self.call(
            "POST",
            "/api/{user}/tasks",
            Some(json!({"title": title, "description": "from the backup test"})),
        );
        assert_eq!(status, 201, "{task}");
        task["id"].as_i64().unwrap()
    }

    fn chat(&self, message: &str) {
        let (status, reply) = self.call("POST", "/api/{user}/chat", Some(json!({"message": message})));
        assert_eq!(status, 200, "{reply}");
    }

    fn titles(&self) -> Vec<String> {
        let (status, tasks) = self.call("GET", "/api/{user}/tasks", None);
        assert_eq!(status, 200, "{tasks}");
        tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{} {}", t["title"].as_str().unwrap(), t["completed"]))
            .collect()
    }
}

/// Two users' tasks, a completed one, and chats (conversations with their messages).
fn write_what_users_write(base: &str) -> (User, User) {
    let ann = User::sign_up(base, "ann@example.com");
    let bob = User::sign_up(base, "bob@example.com");
    let rent = ann.add("Pay rent");
    ann.add("Call the dentist");
    let (status, _) = ann.call("PATCH", &format!("/api/{{user}}/tasks/{rent}/complete"), None);
    assert_eq!(status, 200);
    ann.chat("add buy milk");
    ann.chat("what's still pending?");
    bob.add("Water the plants");
    bob.chat("add renew my passport");
    (ann, bob)
}

fn xtask(args: &[&str], path: Option<&Path>, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).env("RUST_BACKTRACE", "0").envs(env.iter().copied());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    command.output().unwrap()
}

#[test]
fn a_backup_restores_every_row_into_a_fresh_database_and_over_a_damaged_one() {
    let Some(source) = Database::create("source") else {
        return;
    };
    let Some(fresh) = Database::create("fresh") else { return };
    let Some(stack) = real_stack_on(Some(&source.url)) else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", stack.frontend_port);
    let (ann, bob) = write_what_users_write(&base);
    let before = source.rows();
    assert!(
        source.count("messages") >= 6 && source.count("conversations") >= 2,
        "{before}"
    );
    let (ann_sees, bob_sees) = (ann.titles(), bob.titles());
    assert_eq!(bob_sees.len(), 2, "{bob_sees:?}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nightly.dump");
    let output = xtask(
        &[
            "backup",
            "--database-url",
            &source.url,
            "--output",
            &file.to_string_lossy(),
        ],
        None,
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.starts_with("backed up the database at ") && said.contains("nightly.dump"),
        "{said}"
    );
    assert!(!dir.path().join("nightly.partial").exists());

    // Into a new, empty database: every row, the same.
    let target_dir = dir.path().join("target");
    let env = [("CARGO_TARGET_DIR", target_dir.to_str().unwrap())];
    let output = xtask(
        &[
            "restore",
            &file.to_string_lossy(),
            "--database-url",
            &fresh.url,
            "--json",
        ],
        None,
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(Path::new(report["before"].as_str().unwrap()).exists(), "{report}");
    assert_eq!(fresh.rows(), before);

    // Over the live database after a bad day (a task deleted, an account closed), with the
    // services connected to it all along: the day is undone, and they go on working.
    let (status, _) = ann.call("DELETE", &format!("/api/{{user}}/tasks/{}", 1), None);
    assert_eq!(status, 204);
    let (status, _) = bob.call("DELETE", "/api/auth/me", None);
    assert_eq!(status, 204);
    assert!(User::sign_in(&base, "bob@example.com").is_none());
    assert_ne!(source.rows(), before);
    let output = xtask(
        &["restore", &file.to_string_lossy(), "--database-url", &source.url],
        None,
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("what was there before is in"));
    assert_eq!(source.rows(), before);
    assert_eq!(ann.titles(), ann_sees);
    let bob = User::sign_in(&base, "bob@example.com").expect("bob's account is back");
    assert_eq!(bob.titles(), bob_sees);
    // The identity sequences came back too: new rows do not collide with restored ones.
    ann.add("After the restore");

    // A file that is not an archive changes nothing.
    let bogus = dir.path().join("notes.txt");
    std::fs::write(&bogus, "not a dump").unwrap();
    let output = xtask(
        &["restore", &bogus.to_string_lossy(), "--database-url", &source.url],
        None,
        &env,
    );
    assert!(failure(&output).contains("is not a pg_dump archive in the custom format"));
    drop(stack);
}

/// The PostgreSQL client binaries themselves (Debian's /usr/bin ones are a Perl wrapper).
fn postgres_tool(tool: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(tool))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| which::which(tool).unwrap())
}

#[test]
fn in_the_cluster_it_goes_through_the_postgresql_pod() {
    let Some(database) = Database::create("pod") else {
        return;
    };
    let Some(stack) = real_stack_on(Some(&database.url)) else {
        return;
    };
    let base = format!("http://127.0.0.1:{}", stack.frontend_port);
    write_what_users_write(&base);
    drop(stack);
    let before = database.rows();

    let mut fakes = Fakes::new();
    for tool in ["pg_dump", "pg_restore"] {
        std::os::unix::fs::symlink(postgres_tool(tool), fakes.bin().join(tool)).unwrap();
    }
    let (host_port, name) = database.url.rsplit_once('/').unwrap();
    let user_host = host_port.trim_start_matches("postgres://");
    let (user, host) = user_host.split_once('@').unwrap();
    let (host, port) = host.split_once(':').unwrap_or((host, "5432"));
    fakes
        .set("FAKE_PG_USER", user)
        .set("FAKE_PG_DB", name)
        .set("FAKE_PG_HOST", host)
        .set("FAKE_PG_PORT", port);
    let output = fakes.xtask(&["backup", "--json"]);
    let report = json(&output);
    let file = report["file"].as_str().unwrap().to_string();
    assert!(
        file.ends_with(".dump") && file.contains("/backups/todo-chatbot-"),
        "{report}"
    );
    assert_eq!(
        report["database"],
        "the database in pod todo-chatbot-postgresql-0 (namespace chatbot-dev)"
    );
    let exec = fakes.calls_of("kubectl ");
    assert!(
        exec.iter().any(|c| c.contains(" exec todo-chatbot-postgresql-0 --container postgresql -- sh -c PGPASSWORD=\"$POSTGRES_PASSWORD\" exec pg_dump --format=custom")),
        "{exec:?}"
    );

    psql(&database.url, "DELETE FROM messages; DELETE FROM tasks").unwrap();
    let output = fakes.xtask(&["restore", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(database.rows(), before);
    assert!(
        fakes
            .calls()
            .iter()
            .any(|c| c.contains(" exec --stdin todo-chatbot-postgresql-0 "))
    );

    // An external database has no pod: the way to back it up is named.
    fakes.set("FAKE_POSTGRES", "none");
    let said = failure(&fakes.xtask(&["backup"]));
    assert!(
        said.contains("release todo-chatbot has no running PostgreSQL pod in namespace chatbot-dev: with an external database (global.database.external), pass --database-url"),
        "{said}"
    );
}
