//! External commands as values: printed exactly as they run (`--dry-run` prints them and runs
//! nothing), echoed before they run, and run one at a time or side by side with their output
//! prefixed by a label.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::project::root;

/// One external command: program, arguments, and the variables set on it alone.
#[derive(Clone, Debug)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables whose values are secrets: set on the process, printed as `KEY=…`.
    secrets: Vec<(String, String)>,
    pub dir: Option<PathBuf>,
}

impl Command {
    pub fn new(program: &str) -> Self {
        Command {
            program: program.to_string(),
            args: Vec::new(),
            env: Vec::new(),
            secrets: Vec::new(),
            dir: None,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A variable whose value never appears where the command is printed.
    pub fn secret_env(mut self, key: &str, value: &str) -> Self {
        self.secrets.push((key.to_string(), value.to_string()));
        self
    }

    pub fn in_dir(mut self, dir: &std::path::Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    pub fn envs(mut self, vars: &[(String, String)]) -> Self {
        self.env.extend(vars.iter().cloned());
        self
    }

    fn expression(&self) -> duct::Expression {
        let mut expression = duct::cmd(&self.program, &self.args).dir(self.dir.clone().unwrap_or_else(root));
        for (key, value) in self.env.iter().chain(&self.secrets) {
            expression = expression.env(key, value);
        }
        expression
    }

    /// Runs it with its output on the terminal's stderr (stdout stays for xtask's own results,
    /// such as `--json`), after echoing it; fails on a non-zero exit.
    pub fn run(&self) -> anyhow::Result<()> {
        self.run_as(self.to_string(), self.expression().stdout_to_stderr())
    }

    /// Runs it with its output straight on ours, line by line as it comes (a command that never
    /// ends on its own, such as `kubectl logs --follow`, until Ctrl-C), after echoing it on
    /// stderr; fails on a non-zero exit.
    pub fn stream(&self) -> anyhow::Result<()> {
        self.run_as(self.to_string(), self.expression().stdin_null())
    }

    /// Runs it with its stdout written to `file` (a binary stream, such as a database dump)
    /// and its stderr on ours; fails on a non-zero exit.
    pub fn run_to_file(&self, file: &std::path::Path) -> anyhow::Result<()> {
        let shown = format!("{self} > {}", quote(&file.to_string_lossy()));
        self.run_as(shown, self.expression().stdout_path(file).stdin_null())
    }

    /// Runs it with `file` as its stdin, its output on our stderr; fails on a non-zero exit.
    pub fn run_from_file(&self, file: &std::path::Path) -> anyhow::Result<()> {
        let shown = format!("{self} < {}", quote(&file.to_string_lossy()));
        self.run_as(shown, self.expression().stdin_path(file).stdout_to_stderr())
    }

    /// Echoes `shown`, runs `expression` (this command, its stdio set), fails on a non-zero exit.
    fn run_as(&self, shown: String, expression: duct::Expression) -> anyhow::Result<()> {
        eprintln!("$ {shown}");
        let output = expression.unchecked().run().with_context(|| self.cannot_start())?;
        if !output.status.success() {
            anyhow::bail!("`{self}` failed ({})", output.status);
        }
        Ok(())
    }

    /// Runs it quietly and returns what it printed (stdout, stderr, exit status), whatever the status.
    pub fn output(&self) -> anyhow::Result<Output> {
        let output = self
            .expression()
            .stdout_capture()
            .stderr_capture()
            .stdin_null()
            .unchecked()
            .run()
            .with_context(|| self.cannot_start())?;
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs it quietly; its stdout, or an error naming it and the last line it printed to stderr.
    pub fn read(&self) -> anyhow::Result<String> {
        let output = self.output()?;
        if output.code != Some(0) {
            anyhow::bail!("`{self}` failed ({}): {}", output.exit(), output.last_error_line());
        }
        Ok(output.stdout)
    }

    fn cannot_start(&self) -> String {
        format!("cannot run `{}`: is it installed and on PATH?", self.program)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .chain(self.secrets.iter().map(|(k, _)| format!("{k}=…")))
            .chain(std::iter::once(quote(&self.program)))
            .chain(self.args.iter().map(|a| quote(a)));
        write!(f, "{}", words.collect::<Vec<_>>().join(" "))
    }
}

/// A word as a POSIX shell would need it written.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%^".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a quiet command printed.
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn exit(&self) -> String {
        self.code
            .map_or_else(|| "killed by a signal".to_string(), |c| format!("exit {c}"))
    }

    /// The last non-empty line of stderr (else stdout): where CLIs put their reason.
    pub fn last_error_line(&self) -> String {
        [&self.stderr, &self.stdout]
            .iter()
            .find_map(|text| text.lines().rev().map(str::trim).find(|l| !l.is_empty()))
            .unwrap_or("no output")
            .to_string()
    }
}

/// How a command run side by side ended.
pub struct Finished {
    pub label: String,
    pub took: Duration,
    pub outcome: anyhow::Result<()>,
    /// Its last lines, for the error report.
    pub tail: Vec<String>,
}

const TAIL_LINES: usize = 15;

/// Runs the commands side by side, each line of their output prefixed by its label, and waits
/// for all of them. A failure does not stop the others: each result says how its command ended.
pub fn run_parallel(commands: Vec<(String, Command)>) -> Vec<Finished> {
    let width = commands.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (_, command) in &commands {
        eprintln!("$ {command}");
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = commands
            .into_iter()
            .map(|(label, command)| scope.spawn(move || run_prefixed(&label, width, &command)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| Finished {
                    label: "?".into(),
                    took: Duration::ZERO,
                    outcome: Err(anyhow::anyhow!("a build thread panicked")),
                    tail: Vec::new(),
                })
            })
            .collect()
    })
}

fn run_prefixed(label: &str, width: usize, command: &Command) -> Finished {
    let started = Instant::now();
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let outcome = (|| {
        let reader = command
            .expression()
            .stderr_to_stdout()
            .stdin_null()
            .unchecked()
            .reader()
            .with_context(|| command.cannot_start())?;
        let mut lines = BufReader::new(&reader);
        let mut line = String::new();
        while lines.read_line(&mut line).context("reading its output")? > 0 {
            let text = line.trim_end();
            eprintln!("{label:width$} | {text}");
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.to_string());
            line.clear();
        }
        let status = reader
            .try_wait()
            .context("waiting for it")?
            .map(|output| output.status)
            .context("it closed its output but did not exit")?;
        if !status.success() {
            anyhow::bail!("`{command}` failed ({status})");
        }
        Ok(())
    })();
    Finished {
        label: label.to_string(),
        took: started.elapsed(),
        outcome,
        tail: tail.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_print_as_a_shell_would_run_them_without_their_secrets() {
        let command = Command::new("docker")
            .args(["build", "--label", "a b", "it's"])
            .env("DOCKER_HOST", "tcp://192.0.2.1:2376")
            .secret_env("TOKEN", "hunter2");
        assert_eq!(
            command.to_string(),
            r"DOCKER_HOST=tcp://192.0.2.1:2376 TOKEN=… docker build --label 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn secret_variables_reach_the_process() {
        let command = Command::new("sh")
            .args(["-c", "echo \"$TOKEN\""])
            .secret_env("TOKEN", "hunter2");
        assert_eq!(
            command.read().map(|out| out.trim().to_string()).ok().as_deref(),
            Some("hunter2")
        );
    }

    #[test]
    fn side_by_side_commands_report_each_outcome_and_their_last_lines() {
        let ok = Command::new("sh").args(["-c", "echo one; echo two"]);
        let failing = Command::new("sh").args(["-c", "echo broken >&2; exit 3"]);
        let results = run_parallel(vec![("ok".into(), ok), ("failing".into(), failing)]);
        assert!(results[0].outcome.is_ok());
        assert_eq!(results[0].tail, ["one", "two"]);
        let error = results[1]
            .outcome
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("exit status: 3"), "{error}");
        assert_eq!(results[1].tail, ["broken"]);
    }
}
