//! Third-party Node.js tools the tests run (the MCP conformance suite, the MCP Inspector CLI, and a
//! Node 22 runtime for them), pinned by `xtask/node-tools/package-lock.json` and installed with
//! `npm ci` into the ignored `.tools/node-tools`. A second run finds the same lockfile there and
//! installs nothing.

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;
use xshell::{Shell, cmd};

use crate::project::{root, skip_or_fail};

pub struct NodeTools {
    bin: PathBuf,
}

impl NodeTools {
    /// Installs the tools if needed. `None` (after a loud skip, or an error under CI) without npm.
    pub fn ensure(sh: &Shell) -> anyhow::Result<Option<NodeTools>> {
        let source = root().join("xtask/node-tools");
        let target = root().join(".tools/node-tools");
        let lock =
            fs::read(source.join("package-lock.json")).context("cannot read xtask/node-tools/package-lock.json")?;
        let installed = target.join("node_modules/.package-lock.json").exists()
            && fs::read(target.join("package-lock.json")).is_ok_and(|have| have == lock);
        if !installed {
            if which::which("npm").is_err() {
                skip_or_fail(
                    "the MCP conformance suite and Inspector CLI",
                    "npm is not installed (install Node.js and npm)",
                )?;
                return Ok(None);
            }
            fs::create_dir_all(&target).with_context(|| format!("cannot create {}", target.display()))?;
            for file in ["package.json", "package-lock.json"] {
                fs::copy(source.join(file), target.join(file)).with_context(|| format!("cannot copy {file}"))?;
            }
            let _dir = sh.push_dir(&target);
            cmd!(sh, "npm ci --no-audit --no-fund --loglevel=error")
                .run()
                .context("installing the pinned Node.js tools failed (npm ci in .tools/node-tools)")?;
        }
        Ok(Some(NodeTools {
            bin: target.join("node_modules/.bin"),
        }))
    }

    /// A program from the tools' `node_modules/.bin`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// `PATH` with the tools' Node 22 first, so their `#!/usr/bin/env node` scripts run on it.
    pub fn path_env(&self) -> String {
        let rest = std::env::var("PATH").unwrap_or_default();
        format!("{}:{rest}", self.bin.display())
    }
}
