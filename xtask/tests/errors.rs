//! What every command does with an expected failure: a clear message and its causes, exit 1, and
//! no stack backtrace, even with `RUST_BACKTRACE=1` in the environment (many Rust developers keep
//! it set; `anyhow` then captures a backtrace, which a `Result` returned from `main` prints).

mod common;

use common::*;

fn assert_no_backtrace(what: &str, err: &str) {
    for sign in ["Stack backtrace", "stack backtrace", "std::backtrace", "at /rustc/"] {
        assert!(!err.contains(sign), "{what} printed a backtrace:\n{err}");
    }
}

#[test]
fn a_failing_command_prints_its_message_not_a_backtrace() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1");
    for (what, args, expected) in [
        (
            "doctor finding no Docker daemon",
            vec!["doctor"],
            "blocker(s): fix the FAIL lines above",
        ),
        ("a refused duration", vec!["deploy", "--timeout", "soon"], "soon"),
        (
            "a deploy that cannot start",
            vec!["deploy", "--timeout", "10s"],
            "this machine cannot deploy yet",
        ),
    ] {
        let output = {
            let _one_at_a_time = STAGING.lock().unwrap_or_else(|e| e.into_inner());
            fakes
                .command(&args)
                .env("RUST_BACKTRACE", "1")
                .env("RUST_LIB_BACKTRACE", "1")
                .output()
                .unwrap()
        };
        let err = failure(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(expected), "{what}: {err}");
        assert_no_backtrace(what, &err);
    }
}
