//! `cargo xtask backup` and `cargo xtask restore` on the real PostgreSQL: what users wrote through
//! the real services (accounts, tasks, conversations, messages) comes back row for row, into a
//! fresh database and over a damaged one with the services still running. (Through the
//! release's PostgreSQL pod, with the real kubectl's `exec`: the deploy path test.)

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::Value;

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
