//! The fakes every xtask integration test runs against: fake docker, minikube, kubectl, helm,
//! cargo and rustc (`tests/fakes/`, answering in the real tools' formats and exit codes) on a
//! PATH of their own, each call logged.

#![allow(dead_code)] // each test file uses its own part of it

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use std::time::Duration;

use serde_json::{Value, json};

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
            symlink(fakes.join(tool), bin.join(tool)).unwrap();
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
        symlink(fakes.join(tool), self.dir.path().join("bin").join(tool)).unwrap();
    }

    /// A tool that does nothing and succeeds (`true` under its name).
    pub fn install(&self, tool: &str) {
        let path = self.dir.path().join("bin").join(tool);
        symlink(which::which("true").expect("true"), path).unwrap();
    }

    /// Puts the real `tool` at `real` on the PATH in place of its fake, each call logged as the
    /// fakes log theirs and its process id kept in `state()/TOOL.pids` (`tests/fakes/logged`).
    /// Links only: a test that wrote an executable while another thread forks could not run it
    /// (ETXTBSY).
    pub fn use_real(&mut self, tool: &str, real: &Path) {
        let path = self.dir.path().join("bin").join(tool);
        let _ = fs::remove_file(&path);
        symlink(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/logged"), path).unwrap();
        let key = format!("REAL_{}", tool.to_uppercase().replace('-', "_"));
        self.set(&key, real.to_str().unwrap());
    }

    /// One of the PATH's tools (a fake, or a real one put there), with the runs' environment.
    pub fn tool(&self, tool: &str) -> Command {
        fs::create_dir_all(self.state()).unwrap();
        let mut command = Command::new(self.bin().join(tool));
        command
            .env("PATH", self.bin())
            .env("FAKE_STATE", self.state())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
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

/// Fakes with the real kubectl and the real Helm `major` in place of theirs, aimed at stand-in
/// clusters through a kubeconfig of their own whose current context is `current`; Helm's
/// caches and settings in the run's folder too. `None` (after a loud skip) without them.
pub fn fakes_on_clusters(major: u32, clusters: &[(&str, &kube_standin::StandIn)], current: &str) -> Option<Fakes> {
    let (kubectl, helm) = real_cluster_clients(major)?;
    let mut fakes = Fakes::new();
    fakes.use_real("kubectl", &kubectl);
    fakes.use_real("helm", &helm);
    let home = fakes.home();
    let config = home.join("kubeconfig");
    fs::write(&config, kube_standin::kubeconfig(clusters, current)).unwrap();
    fakes.set("KUBECONFIG", config.to_str().unwrap());
    for (key, dir) in [
        ("HOME", ""),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
    ] {
        fakes.set(key, home.join(dir).to_str().unwrap());
    }
    Some(fakes)
}

/// A stand-in cluster as the kube context `context` (the current one), and fakes with the real
/// kubectl and Helm 4 aimed at it; `None` (after a loud skip) without the real clients.
pub fn standin(context: &str, fates: kube_standin::Fates) -> Option<(kube_standin::StandIn, Fakes)> {
    let cluster = kube_standin::StandIn::start(context, fates).unwrap();
    let fakes = fakes_on_clusters(4, &[(context, &cluster)], context)?;
    Some((cluster, fakes))
}

/// The fates the tests choose by image tag, for the chart installed as on Minikube (images
/// without a registry): the backend's `never` is never ready, `broken` cannot be pulled (looked
/// for on Docker Hub, containerd answers so), `restart` exits once before it runs; the MCP
/// server's `crash` always exits; the smoke test of `failtest` fails. Everything else runs and
/// is ready, the frontend and MCP serving what `serve` says.
pub fn fates_by_tag(serve: Option<&RealStack>) -> kube_standin::Fates {
    use kube_standin::Fate;
    let fates = kube_standin::Fates::new(|c| {
        let tag = c.image.rsplit(':').next().unwrap_or_default();
        let backend = c.image.starts_with("todo-backend");
        match tag {
            "never" if backend => Fate::NeverReady,
            "broken" if backend => Fate::PullFails {
                message: format!(
                    "failed to pull and unpack image \"docker.io/library/{0}\": failed to resolve reference \"docker.io/library/{0}\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
                    c.image
                ),
            },
            "restart" if backend => Fate::CrashesFirst { times: 1, code: 1 },
            "crash" if c.image.starts_with("todo-mcp") => Fate::Crashes { code: 1 },
            "failtest" if c.restart_policy != "Always" => Fate::Exits {
                code: 1,
                after: Duration::from_millis(100),
            },
            _ if c.restart_policy == "Always" => Fate::Runs {
                ready_after: Duration::from_millis(100),
            },
            _ => Fate::Exits {
                code: 0,
                after: Duration::from_millis(100),
            },
        }
    });
    match serve {
        Some(stack) => fates.serving(stack.serving()),
        None => fates,
    }
}

/// `helm upgrade --install` of the real chart as on Minikube (the images without a registry)
/// into chatbot-dev, with `args` (`--set …`, `--wait`): one more revision.
pub fn helm_install(fakes: &Fakes, args: &[&str]) -> Output {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/todo-chatbot");
    fakes
        .tool("helm")
        .args(["upgrade", "--install", "todo-chatbot"])
        .arg(&chart)
        .args(["--namespace", "chatbot-dev", "--create-namespace"])
        .args(args)
        .output()
        .unwrap()
}

/// `helm test` of the release in chatbot-dev, with the real Helm on the fakes' PATH.
pub fn helm_test(fakes: &Fakes) -> Output {
    fakes
        .tool("helm")
        .args(["test", "todo-chatbot", "--namespace", "chatbot-dev"])
        .output()
        .unwrap()
}

/// Waits (up to 30 s) until `settled` holds for chatbot-dev's pods.
pub fn wait_for_pods(cluster: &kube_standin::StandIn, settled: impl Fn(&[Value]) -> bool) {
    let started = std::time::Instant::now();
    loop {
        let pods = cluster.list("", "pods", Some("chatbot-dev"));
        if settled(&pods) {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{pods:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a pod is Ready.
pub fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

impl RealStack {
    /// Port-forwards to the frontend's port 3000 and MCP's 8001 reach these services: what a
    /// stand-in's pods serve (`Fates::serving`).
    pub fn serving(&self) -> impl Fn(&Value, u16) -> Option<std::net::SocketAddr> + Send + Sync + 'static {
        let (frontend, mcp) = (self.frontend_port, self.mcp_port);
        move |labels, port| {
            let local = match (labels["app.kubernetes.io/name"].as_str(), port) {
                (Some("frontend"), 3000) => frontend,
                (Some("mcp"), 8001) => mcp,
                _ => return None,
            };
            Some(([127, 0, 0, 1], local).into())
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

pub const TABLES: [&str; 4] = ["users", "tasks", "conversations", "messages"];

/// The PostgreSQL the tests use, and a database of their own on it, dropped afterwards.
pub struct Database {
    admin: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// A new empty database; `None` (after a loud skip, a failure under CI) without PostgreSQL
    /// or its client tools.
    pub fn create(label: &str) -> Option<Database> {
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
    pub fn rows(&self) -> String {
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

    pub fn count(&self, table: &str) -> usize {
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

pub fn psql(url: &str, sql: &str) -> Result<String, String> {
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
pub struct User {
    pub base: String,
    pub token: String,
    pub id: String,
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// One request, as a client that honours 503 + `Retry-After` sends it: the backend answers
/// `busy` (its bounded password-hashing queue) or `database_unavailable` for a moment on a
/// machine loaded by other work, and says when to come back. A few tries, then the answer.
pub fn call(base: &str, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
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
    pub fn sign_up(base: &str, email: &str) -> User {
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

    pub fn sign_in(base: &str, email: &str) -> Option<User> {
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

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let path = path.replace("{user}", &self.id);
        call(&self.base, method, &path, Some(&self.token), body)
    }

    pub fn add(&self, title: &str) -> i64 {
        let (status, task) = self.call(
            "POST",
            "/api/{user}/tasks",
            Some(json!({"title": title, "description": "from the backup test"})),
        );
        assert_eq!(status, 201, "{task}");
        task["id"].as_i64().unwrap()
    }

    pub fn chat(&self, message: &str) {
        let (status, reply) = self.call("POST", "/api/{user}/chat", Some(json!({"message": message})));
        assert_eq!(status, 200, "{reply}");
    }

    pub fn titles(&self) -> Vec<String> {
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
pub fn write_what_users_write(base: &str) -> (User, User) {
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
