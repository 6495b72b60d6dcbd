//! The fakes every xtask integration test runs against: fake docker, minikube, kubectl, helm,
//! cargo and rustc (`tests/fakes/`, answering in the real tools' formats and exit codes) on a
//! PATH of their own, each call logged.

#![allow(dead_code)] // each test file uses its own part of it

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use serde_json::Value;

/// The runs stage their fake binaries in the workspace's target/images/: one at a time.
pub static STAGING: Mutex<()> = Mutex::new(());

pub const HOST_TARGET: &str = "x86_64-unknown-linux-musl";
pub const ARM_TARGET: &str = "aarch64-unknown-linux-musl";

pub struct Fakes {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Fakes {
    /// Fake docker, minikube, kubectl, helm, cargo and rustc; the musl targets installed;
    /// musl-gcc and cargo-zigbuild present.
    pub fn new() -> Fakes {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
        for tool in ["docker", "minikube", "kubectl", "helm", "cargo", "rustc"] {
            fs::copy(fakes.join(tool), bin.join(tool)).unwrap();
        }
        // What the fakes themselves run, and git for the tag: the real ones, and nothing else.
        for tool in [
            "sh", "git", "cat", "head", "tail", "tr", "wc", "mv", "mkdir", "touch", "rm", "awk", "grep", "sed", "ls",
            "sleep",
        ] {
            let real = which::which(tool).unwrap_or_else(|_| panic!("{tool} is needed by the fakes"));
            symlink(real, bin.join(tool)).unwrap();
        }
        let mut fakes = Fakes { dir, env: Vec::new() };
        fakes.install("musl-gcc");
        fakes.install("cargo-zigbuild");
        fakes.set("FAKE_RUST_TARGETS", &format!("{HOST_TARGET} {ARM_TARGET}"));
        fakes
    }

    /// Adds one more fake from `tests/fakes/` (kubectl-ai, say) to the PATH.
    pub fn add_fake(&self, tool: &str) {
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
        fs::copy(fakes.join(tool), self.dir.path().join("bin").join(tool)).unwrap();
    }

    pub fn install(&self, tool: &str) {
        let path = self.dir.path().join("bin").join(tool);
        fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Puts the real `tool` at `real` on the PATH in place of its fake.
    pub fn use_real(&self, tool: &str, real: &Path) {
        let path = self.dir.path().join("bin").join(tool);
        let _ = fs::remove_file(&path);
        symlink(real, path).unwrap();
    }

    /// The folder the run lives in (its kubeconfig, Helm's caches).
    pub fn home(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn uninstall(&self, tool: &str) {
        fs::remove_file(self.dir.path().join("bin").join(tool)).unwrap();
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Fakes {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The folder of the fakes: the whole PATH of the runs.
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The xtask binary with `args`, set up to run against the fakes (not started). Hold
    /// `STAGING` while it runs.
    pub fn command(&self, args: &[&str]) -> Command {
        fs::create_dir_all(self.state()).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
        command
            .args(args)
            .env("PATH", self.bin())
            .env("FAKE_STATE", self.state())
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env("RUST_BACKTRACE", "0")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    pub fn xtask(&self, args: &[&str]) -> Output {
        let _one_at_a_time = STAGING.lock().unwrap_or_else(|e| e.into_inner());
        self.command(args).output().unwrap()
    }

    /// Every call the fakes got, one line each: `docker DOCKER_HOST=… build …`.
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.state().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    pub fn calls_of(&self, what: &str) -> Vec<String> {
        self.calls().into_iter().filter(|c| c.starts_with(what)).collect()
    }

    /// The image names the fake docker holds.
    pub fn images(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.state().join("images"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// A loopback port nothing listens on. Behind a fake port-forward the smoke suite fails there,
/// which shows that a deploy or verify got past its rollout and pod checks.
pub fn closed_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

/// What a deploy or verify said that failed only at its smoke suite (forwarded to
/// `closed_port`): not at the rollout, not at the pods.
pub fn reached_the_smoke_suite(what: &str, err: &str) {
    assert!(
        !err.contains("the rollout cannot succeed")
            && !err.contains("pods not healthy")
            && !err.contains("uninstalling"),
        "{what}: {err}"
    );
    assert!(
        err.contains("checks failed against"),
        "{what}: verify reached its smoke suite: {err}"
    );
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// What a run that had to fail said, after checking that it did fail.
pub fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "it succeeded: {}", stderr(output));
    stderr(output)
}

pub fn json(output: &Output) -> Value {
    assert!(output.status.success(), "xtask failed: {}", stderr(output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// The real backend, MCP server, agent and frontend on a fresh SQLite database, for the fakes'
/// port-forwards to lead to; `None` (after a loud skip) when they are not built, which under CI
/// is a failure (`cargo xtask test` builds them before these tests). Only xtask's own
/// dependencies are used here: a dev-dependency that changed their features would make `cargo
/// test -p xtask` rebuild the very xtask binary that `cargo xtask test` is running.
pub struct RealStack {
    children: Vec<std::process::Child>,
    pub frontend_port: u16,
    pub mcp_port: u16,
    _data: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn real_stack() -> Option<RealStack> {
    real_stack_on(None)
}

/// The same on the database `database` names (a PostgreSQL URL), or on a fresh SQLite file.
pub fn real_stack_on(database: Option<&str>) -> Option<RealStack> {
    let exe = std::env::current_exe().unwrap();
    let bins = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let names = ["todo-mcp", "todo-agent", "todo-backend", "todo-frontend"];
    if !names.iter().all(|b| bins.join(b).exists()) {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "the services are not built in {}",
            bins.display()
        );
        eprintln!(
            "*** SKIPPED: the services are not built in {} (cargo xtask test builds them) ***",
            bins.display()
        );
        return None;
    }
    let data = tempfile::tempdir().unwrap();
    let database = database.map_or_else(
        || format!("sqlite:{}", data.path().join("todo.db").display()),
        str::to_string,
    );
    let [mcp, agent, backend, frontend] = [free_port(), free_port(), free_port(), free_port()];
    let mut stack = RealStack {
        children: Vec::new(),
        frontend_port: frontend,
        mcp_port: mcp,
        _data: data,
    };
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    for (name, port, extra) in [
        ("todo-mcp", mcp, vec![("DATABASE_URL", database.clone())]),
        (
            "todo-agent",
            agent,
            vec![
                ("MCP_URL", format!("{}/mcp", url(mcp))),
                ("LLM_PROVIDER", "offline".to_string()),
            ],
        ),
        (
            "todo-backend",
            backend,
            vec![("DATABASE_URL", database.clone()), ("AGENT_URL", url(agent))],
        ),
        ("todo-frontend", frontend, vec![("BACKEND_URL", url(backend))]),
    ] {
        let child = Command::new(bins.join(name))
            .env_clear()
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("BETTER_AUTH_SECRET", "xtask-tests-secret-that-is-long-enough")
            .env("RUST_LOG", "warn")
            .envs(extra)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        stack.children.push(child);
        let started = std::time::Instant::now();
        while ureq::get(&format!("{}/readyz", url(port))).call().is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{name} was not ready within 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    Some(stack)
}

impl Drop for RealStack {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }
}

/// The real kubectl 1.35 and Helm `major` that `cargo xtask test` fetched (KUBECTL, HELM3,
/// HELM4, else `.tools/`); `None`, after a loud skip, where there are none (an error under CI).
pub fn real_cluster_clients(major: u32) -> Option<(PathBuf, PathBuf)> {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools");
    let pinned_helm = if major == 3 { "v3.18.0" } else { "v4.1.4" };
    let kubectl = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| tools.join("kubectl/v1.35.2/kubectl"));
    let helm = std::env::var_os(format!("HELM{major}"))
        .map(PathBuf::from)
        .unwrap_or_else(|| tools.join(format!("helm/{pinned_helm}/helm")));
    if kubectl.exists() && helm.exists() {
        return Some((kubectl, helm));
    }
    let why = format!(
        "no real kubectl ({}) or Helm {major} ({}): cargo xtask test fetches them",
        kubectl.display(),
        helm.display()
    );
    assert!(std::env::var("CI").is_err(), "{why}");
    eprintln!("*** SKIPPED: {why} ***");
    None
}
