//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and ship todo-chatbot")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Format check, clippy and every test (what CI runs)
    Test(TestArgs),
    /// Run the system locally on an embedded SQLite database, no cluster needed
    Dev(DevArgs),
    /// Stand-in Kubernetes clusters that the real kubectl and Helm work against (prints a KUBECONFIG; Ctrl-C stops them)
    Standin(StandinArgs),
    /// Benchmarks against real processes (figures go in docs/performance.md)
    Bench(BenchArgs),
    /// Verify the release in its cluster (rollouts, pods, the smoke suite through port-forwards, helm test), or any URL with --url
    Verify(VerifyArgs),
    /// Build the services' container images (tagged with the git commit), load or push them
    Images(ImagesArgs),
    /// Check this machine before a deploy: tools, Docker, CPUs, memory, disk, Minikube, context
    Doctor(DoctorArgs),
    /// What is wrong with the release: its pods and events analysed, then kubectl-ai and kagent when installed
    Diagnose(DiagnoseArgs),
    /// Deploy to Minikube (or any cluster with --context and --registry): images, chart, rollout watched, verify
    Deploy(DeployArgs),
    /// Roll the release back (default: to the last revision that was ready), then helm test
    Rollback(RollbackArgs),
    /// The release's revisions, pods, Services, how to reach it, and kubectl top
    Status(StatusArgs),
    /// The release's logs (one component's with SERVICE), prefixed by pod
    Logs(LogsArgs),
    /// Remove the release and its namespace (and with --cluster the Minikube profile)
    Teardown(TeardownArgs),
    /// Set a component's replica count in the release's values (kept by the next deploy)
    Scale(ScaleArgs),
    /// Back the database up (pg_dump of the release's PostgreSQL through kubectl exec, or of --database-url)
    Backup(BackupArgs),
    /// Replace the database's content with a backup, in one transaction (what was there is backed up first)
    Restore(RestoreArgs),
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Back up this PostgreSQL directly (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE), not the release's
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Where to write the archive (default: target/backups/RELEASE-TIME.dump)
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the result as JSON (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// The archive (as cargo xtask backup writes it: pg_dump --format=custom)
    pub file: PathBuf,
    /// Restore into this PostgreSQL directly (postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE), not the release's
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Print the commands it would run, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// The component
    #[arg(value_parser = ["frontend", "backend", "agent", "mcp"])]
    pub service: String,
    /// How many replicas
    #[arg(value_parser = clap::value_parser!(u32).range(0..=100))]
    pub replicas: u32,
    /// Print the command, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

/// Which release, where.
#[derive(Args, Clone, Debug)]
pub struct ReleaseArgs {
    /// The release's namespace
    #[arg(long, short = 'n', default_value = "chatbot-dev")]
    pub namespace: String,
    /// The Helm release
    #[arg(long, default_value = "todo-chatbot")]
    pub release: String,
    /// The kube context (default: the current one)
    #[arg(long)]
    pub context: Option<String>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Print it as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// The revision to go back to (default: the last one that was ready before the current)
    #[arg(long, value_name = "REV")]
    pub to: Option<u64>,
    /// How long the rolled-back release may take to be ready
    #[arg(long, default_value = "5m")]
    pub timeout: String,
    /// Print the commands it would run (after reading the history), change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Only this component (frontend, backend, agent, mcp, postgresql)
    #[arg(value_parser = ["frontend", "backend", "agent", "mcp", "postgresql"])]
    pub service: Option<String>,
    /// Follow the logs until Ctrl-C
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Lines per container to start with
    #[arg(long, default_value_t = 100)]
    pub tail: u32,
}

#[derive(Args)]
pub struct TeardownArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Delete the Minikube cluster too (the profile named by --context, default minikube)
    #[arg(long)]
    pub cluster: bool,
    /// Print the commands it would run, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DeployArgs {
    /// The Minikube profile (started when stopped, created when missing)
    #[arg(long, short = 'p', default_value = "minikube")]
    pub profile: String,
    /// The namespace of the release (k8s/ makes chatbot-dev)
    #[arg(long, short = 'n', default_value = "chatbot-dev")]
    pub namespace: String,
    /// The Helm release
    #[arg(long, default_value = "todo-chatbot")]
    pub release: String,
    /// A values file for the chart (repeatable)
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// A chart value, as helm --set takes it (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Use the images of this commit already built and loaded
    #[arg(long)]
    pub skip_build: bool,
    /// How long the rollout may take (90s, 10m, 1h)
    #[arg(long, default_value = "10m")]
    pub timeout: String,
    /// Any cluster's kube context instead of Minikube (needs --registry)
    #[arg(long, requires = "registry")]
    pub context: Option<String>,
    /// The registry the images are pushed to for --context (host[:port][/path])
    #[arg(long, requires = "context")]
    pub registry: Option<String>,
    /// Minikube's network plugin when it starts it (calico enforces NetworkPolicies)
    #[arg(long, value_name = "PLUGIN")]
    pub cni: Option<String>,
    /// Print the commands it would run, in order, and render the chart; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result (revision, tag, the time of each phase) as JSON; progress goes to stderr
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DiagnoseArgs {
    /// The release's namespace
    #[arg(long, short = 'n', default_value = "chatbot-dev")]
    pub namespace: String,
    /// The Helm release
    #[arg(long, default_value = "todo-chatbot")]
    pub release: String,
    /// The kube context (default: the current one)
    #[arg(long)]
    pub context: Option<String>,
    /// Let kubectl-ai run steps that change the cluster (--skip-permissions); off by default
    #[arg(long)]
    pub allow_changes: bool,
    /// Only the built-in analysis: ask no AI assistant
    #[arg(long)]
    pub no_ai: bool,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DoctorArgs {
    /// The Minikube profile (and kube context) to check
    #[arg(long, short = 'p', default_value = "minikube")]
    pub profile: String,
    /// Check another cluster instead of Minikube: this kube context, which must answer and have
    /// a node ready
    #[arg(long, conflicts_with = "profile")]
    pub context: Option<String>,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Only this image (repeatable; default: the four services and the smoke test)
    #[arg(long = "service", value_name = "S", value_enum)]
    pub services: Vec<ServiceName>,
    /// Build the binaries on this host (cargo, static musl) and copy them into the image: the
    /// fast path, and the only one without a registry to pull the Rust image from
    #[arg(long, conflicts_with = "in_docker")]
    pub prebuilt: bool,
    /// Compile inside Docker (the Rust builder stage; needs BuildKit and the Rust image).
    /// Default: on the host when it can build for the platform, else inside Docker
    #[arg(long)]
    pub in_docker: bool,
    /// The platform to build for (default: the cluster's nodes' with --load minikube, else the
    /// Docker daemon's)
    #[arg(long, value_enum)]
    pub platform: Option<Platform>,
    /// Put the images into Minikube's container runtime, or leave them in the local Docker
    #[arg(long, value_enum, default_value = "none")]
    pub load: Load,
    /// The Minikube profile to load into (also its kubectl context)
    #[arg(long, default_value = "minikube")]
    pub profile: String,
    /// Push the images to this registry (`ghcr.io/you`, `registry.example.com:5000/team`)
    #[arg(long, value_name = "REGISTRY")]
    pub push: Option<String>,
    /// Allow --push from a tree with uncommitted changes
    #[arg(long, requires = "push")]
    pub allow_dirty: bool,
    /// Print the commands that would build, tag, load and push, and run none of them
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
    /// The report on stderr (set by deploy, which keeps stdout for its own result)
    #[arg(skip)]
    pub report_to_stderr: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ServiceName {
    Backend,
    Mcp,
    Agent,
    Frontend,
    /// The smoke suite `helm test` runs in the cluster
    Smoke,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Platform {
    #[value(name = "linux/amd64")]
    Amd64,
    #[value(name = "linux/arm64")]
    Arm64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum Load {
    Minikube,
    None,
}

#[derive(Args, Clone)]
pub struct VerifyArgs {
    /// A deployment's public URL (the frontend), e.g. http://127.0.0.1:3000 for cargo xtask dev.
    /// Without it: the release in its cluster, through kubectl port-forward, then helm test
    #[arg(long)]
    pub url: Option<String>,
    /// Also probe /healthz and /readyz of another service, as NAME=URL (repeatable)
    #[arg(long, value_name = "NAME=URL")]
    pub service: Vec<String>,
    /// Also list the MCP server's tools at this endpoint (http://HOST:8001/mcp) with the user's token
    #[arg(long, value_name = "URL")]
    pub mcp: Option<String>,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Everything on stderr (set by commands that keep stdout for their own result)
    #[arg(skip)]
    pub quiet_stdout: bool,
}

#[derive(Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy
    #[arg(long)]
    pub no_lint: bool,
    /// Only run the suites over whole processes (MCP conformance, MCP Inspector, `dev` + verify)
    #[arg(long, conflicts_with = "filter")]
    pub clients_only: bool,
    /// Only run the container rehearsal (the images and PostgreSQL in Docker, as the chart renders them)
    #[arg(long, conflicts_with_all = ["filter", "clients_only"])]
    pub containers_only: bool,
    /// Only run the chart checks (helm lint and template with Helm 3 and 4, kubernetes-validate, checkov)
    #[arg(long, conflicts_with_all = ["filter", "clients_only", "containers_only"])]
    pub chart_only: bool,
    /// Only check the GitHub workflows (actionlint, zizmor, their cargo xtask calls against --help)
    #[arg(long, conflicts_with_all = ["filter", "clients_only", "containers_only", "chart_only"])]
    pub workflows_only: bool,
    /// Only check the backend's API contract (schemathesis against /openapi.json, SQLite and PostgreSQL)
    #[arg(long, conflicts_with_all = ["filter", "clients_only", "containers_only", "chart_only", "workflows_only"])]
    pub contract_only: bool,
    /// Only run tests whose name contains this (skips the suites over whole processes)
    pub filter: Option<String>,
}

#[derive(Args)]
pub struct StandinArgs {
    /// The clusters' names, each a context of the kubeconfig (the first is the current one)
    #[arg(default_values_t = ["standin".to_string()])]
    pub names: Vec<String>,
}

#[derive(Args)]
pub struct DevArgs {
    /// Public port (the web UI)
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Use this PostgreSQL database instead of the embedded SQLite one
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Build in release mode
    #[arg(long)]
    pub release: bool,
    /// Where the SQLite database and the development secret live
    #[arg(long, value_name = "DIR", default_value = "data/dev")]
    pub data_dir: std::path::PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    /// One benchmark; none runs every one and writes target/bench/report.json
    #[arg(value_enum)]
    pub target: Option<BenchTarget>,
    /// Seconds per scenario (default: 10; 300 for soak)
    #[arg(long)]
    pub seconds: Option<u64>,
    /// soak only: requests per second
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Concurrent connections (default: 64 for api, 32 for mcp, 16 for chat)
    #[arg(long)]
    pub connections: Option<usize>,
    /// PostgreSQL to run against (default: TEST_DATABASE_URL, else the local test database)
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// mcp and api only: count the server's CPU instructions per call under valgrind (callgrind)
    /// instead of timing it; the counts compare across machines, timings only within one
    #[arg(long)]
    pub instructions: bool,
    /// Calls counted per scenario with --instructions
    #[arg(long, default_value_t = 500, requires = "instructions")]
    pub calls: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BenchTarget {
    /// The task REST API on PostgreSQL: list 1,000 tasks, get one, create
    Api,
    /// MCP tools/call add_task and list_tasks, on SQLite and on PostgreSQL
    Mcp,
    /// Chat round trips (backend → agent, offline → MCP → database), on SQLite and on PostgreSQL
    Chat,
    /// Five minutes of mixed load (sign in, browse, create, complete, chat) through the whole stack
    /// on PostgreSQL: errors, latency per kind, every service's memory over time
    Soak,
    /// Each service's release binary: start to ready, and idle memory
    Startup,
    /// The shipped container images: size, start to ready, idle memory, one-line rebuild
    Images,
    /// The deploy pipeline's commands against the fake tools: each one's own CPU time (target ≤ 1 s)
    Commands,
}

impl Default for ReleaseArgs {
    fn default() -> Self {
        ReleaseArgs {
            namespace: "chatbot-dev".into(),
            release: "todo-chatbot".into(),
            context: None,
        }
    }
}
