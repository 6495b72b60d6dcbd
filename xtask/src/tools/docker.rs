//! docker: the daemon's presence, image builds, sizes, tags and pushes, and containers.
//!
//! Every command carries the variables of the daemon it talks to (`minikube docker-env`'s, when
//! building straight into Minikube) on itself only: the user's shell is never changed.

use anyhow::{Context as _, bail};

use crate::exec::{Command, Output};

#[derive(Clone, Default)]
pub struct Docker {
    /// Variables naming another daemon (DOCKER_HOST, DOCKER_CERT_PATH, …), set on each command.
    env: Vec<(String, String)>,
}

/// Which builder `docker build` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    /// BuildKit, through the buildx plugin (Docker 23 and later) or `DOCKER_BUILDKIT=1` (20.10).
    BuildKit,
    /// The legacy builder: no `RUN --mount`, builds every stage before the target.
    Legacy,
}

impl Docker {
    pub fn with_env(env: Vec<(String, String)>) -> Docker {
        Docker { env }
    }

    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command::new("docker").args(args).envs(&self.env)
    }

    /// The daemon's architecture (`amd64`, `arm64`), or one actionable line on why there is none.
    pub fn ensure_daemon(&self) -> anyhow::Result<String> {
        if which::which("docker").is_err() {
            bail!(
                "docker is not installed: install Docker (Docker Desktop, or Docker Engine: https://docs.docker.com/engine/install/)"
            );
        }
        let info = self.command(["version", "--format", "{{.Server.Arch}}"]).output()?;
        if !info.success() || info.stdout.trim().is_empty() {
            let reason = info.last_error_line();
            bail!(
                "the Docker daemon is not reachable ({reason}): start it (Docker Desktop, or `sudo systemctl start docker`)"
            );
        }
        Ok(info.stdout.trim().to_string())
    }

    /// The CLI's version ("28.2.2").
    pub fn client_version(&self) -> anyhow::Result<String> {
        Ok(self
            .command(["version", "--format", "{{.Client.Version}}"])
            .read()?
            .trim()
            .to_string())
    }

    /// The daemon's version and where it keeps images and containers, or why it cannot be reached.
    pub fn daemon(&self) -> anyhow::Result<(String, String)> {
        let info = self
            .command(["info", "--format", "{{.ServerVersion}} {{.DockerRootDir}}"])
            .output()?;
        let answer = info.stdout.trim();
        match answer.split_once(' ') {
            Some((version, root)) if info.success() && !version.is_empty() => {
                Ok((version.to_string(), root.to_string()))
            }
            _ => bail!("{}", info.last_error_line()),
        }
    }

    /// BuildKit when this docker can use it, else the legacy builder.
    pub fn builder(&self) -> Builder {
        let buildx = self.command(["buildx", "version"]).output();
        if buildx.is_ok_and(|o| o.success()) {
            return Builder::BuildKit;
        }
        // Before Docker 23 the CLI had BuildKit built in, behind DOCKER_BUILDKIT=1.
        let client = self
            .command(["version", "--format", "{{.Client.Version}}"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default();
        let major = client.trim().split('.').next().and_then(|m| m.parse::<u32>().ok());
        if major.is_some_and(|m| m < 23) {
            Builder::BuildKit
        } else {
            Builder::Legacy
        }
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.command(["image", "inspect", "--format", "{{.Id}}", image])
            .output()
            .is_ok_and(|o| o.success())
    }

    /// `docker image inspect` as JSON (the first and only element).
    pub fn inspect_image(&self, image: &str) -> anyhow::Result<serde_json::Value> {
        let text = self.command(["image", "inspect", image]).read()?;
        let mut all: Vec<serde_json::Value> =
            serde_json::from_str(&text).with_context(|| format!("docker image inspect {image}: not JSON"))?;
        all.pop()
            .with_context(|| format!("docker image inspect {image}: no image"))
    }

    /// Bytes of the image's layers, uncompressed.
    pub fn image_size(&self, image: &str) -> anyhow::Result<u64> {
        self.inspect_image(image)?["Size"]
            .as_u64()
            .with_context(|| format!("docker image inspect {image}: no Size"))
    }

    /// Bytes of `docker save IMAGE` gzipped: about what a registry stores and a node pulls.
    pub fn compressed_size(&self, image: &str) -> anyhow::Result<u64> {
        let save = self.command(["save", image]);
        let mut expression = duct::cmd(&save.program, &save.args).stderr_null();
        for (key, value) in &save.env {
            expression = expression.env(key, value);
        }
        let reader = expression.reader().with_context(|| format!("cannot run `{save}`"))?;
        let mut gzip = flate2::read::GzEncoder::new(reader, flate2::Compression::default());
        let mut counted = CountingSink(0);
        std::io::copy(&mut gzip, &mut counted).with_context(|| format!("`{save}` failed"))?;
        Ok(counted.0)
    }

    pub fn tag(&self, source: &str, target: &str) -> Command {
        self.command(["tag", source, target])
    }

    pub fn push(&self, image: &str) -> Command {
        self.command(["push", image])
    }

    /// Removes one name of an image (`docker rmi` of a tag keeps the image while other names remain).
    pub fn untag(&self, image: &str) -> anyhow::Result<Output> {
        self.command(["rmi", image]).output()
    }
}

struct CountingSink(u64);

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
