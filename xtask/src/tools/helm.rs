//! `helm`: one binary, its version (3 and 4 differ in flags and messages), and the commands the
//! chart checks run with it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exec::{Command, Output};

#[derive(Clone, Debug)]
pub struct Helm {
    pub bin: PathBuf,
    /// As `helm version` prints it: "v3.18.0", "v4.1.4".
    pub version: String,
}

impl Helm {
    /// The helm at `bin`, asked for its version.
    pub fn at(bin: &Path) -> anyhow::Result<Helm> {
        let version = Command::new(&bin.to_string_lossy())
            .args(["version", "--template", "{{.Version}}"])
            .read()
            .with_context(|| format!("{} does not answer `helm version`", bin.display()))?;
        Ok(Helm {
            bin: bin.to_path_buf(),
            version: version.trim().to_string(),
        })
    }

    /// 3 or 4.
    pub fn major(&self) -> u32 {
        self.version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command::new(&self.bin.to_string_lossy()).args(args)
    }

    /// `helm template RELEASE CHART -n NAMESPACE [-f FILE]... [--set K=V]...`, whatever it answers.
    pub fn template(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        files: &[PathBuf],
        sets: &[String],
    ) -> Command {
        let mut command = self.command(["template", release, &chart.to_string_lossy(), "--namespace", namespace]);
        for file in files {
            command = command.args(["--values".to_string(), file.to_string_lossy().into_owned()]);
        }
        for set in sets {
            command = command.args(["--set", set.as_str()]);
        }
        command
    }

    /// Renders the chart; the manifests, or an error with what Helm said.
    pub fn render(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        files: &[PathBuf],
        sets: &[String],
    ) -> anyhow::Result<String> {
        let command = self.template(chart, release, namespace, files, sets);
        let output: Output = command.output()?;
        if !output.success() {
            anyhow::bail!("`{command}` failed ({}):\n{}", output.exit(), output.stderr.trim());
        }
        Ok(output.stdout)
    }
}
