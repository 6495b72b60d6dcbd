//! `kubectl port-forward service/NAME :PORT`: a long-lived child, in its own process group, on
//! a local port kubectl picks and prints (`Forwarding from 127.0.0.1:41235 -> 3000`). Dropping
//! the value stops kubectl (SIGTERM to its group, then SIGKILL) and reaps it, on every path out.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::kubectl::Kubectl;

pub struct PortForward {
    handle: Arc<duct::ReaderHandle>,
    /// The local port that reaches the Service.
    pub local_port: u16,
}

impl PortForward {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.local_port)
    }
}

/// The local port in a line kubectl prints once the forward is up.
pub fn parse_forwarding(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("Forwarding from 127.0.0.1:")?;
    rest.split_whitespace().next()?.parse().ok()
}

impl Kubectl {
    pub fn port_forward_command(&self, service: &str, port: u16) -> crate::exec::Command {
        self.command([
            "port-forward".to_string(),
            format!("service/{service}"),
            format!(":{port}"),
        ])
    }

    /// Forwards a free local port to `port` of the Service; waits until kubectl says it is up.
    pub fn port_forward(&self, service: &str, port: u16) -> anyhow::Result<PortForward> {
        let command = self.port_forward_command(service, port);
        eprintln!("$ {command}");
        let handle = duct::cmd(&command.program, &command.args)
            .stderr_to_stdout()
            .stdin_null()
            .unchecked()
            .before_spawn(|c| {
                c.process_group(0);
                Ok(())
            })
            .reader()
            .context("cannot start kubectl port-forward")?;
        let handle = Arc::new(handle);
        let (found, wait) = mpsc::channel();
        let reader = handle.clone();
        std::thread::spawn(move || {
            let mut said = Vec::new();
            for line in BufReader::new(&*reader).lines().map_while(Result::ok) {
                if let Some(port) = parse_forwarding(&line) {
                    let _ = found.send(Ok(port));
                    // Keep draining, so kubectl never blocks on a full pipe.
                    for _ in BufReader::new(&*reader).lines() {}
                    return;
                }
                said.push(line);
            }
            let _ = found.send(Err(said.join(" ")));
        });
        let forward = |local_port| PortForward {
            handle: handle.clone(),
            local_port,
        };
        match wait.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(port)) => Ok(forward(port)),
            Ok(Err(said)) => {
                drop(forward(0));
                bail!("kubectl port-forward to service/{service} failed: {}", said.trim())
            }
            Err(_) => {
                drop(forward(0));
                bail!("kubectl port-forward to service/{service} was not up within 30 s")
            }
        }
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        for pid in self.handle.pids() {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
        }
        for _ in 0..20 {
            if matches!(self.handle.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in self.handle.pids() {
            let group = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.handle.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_forwarding;

    #[test]
    fn the_local_port_is_read_from_what_kubectl_prints() {
        assert_eq!(parse_forwarding("Forwarding from 127.0.0.1:41235 -> 3000"), Some(41235));
        assert_eq!(parse_forwarding("Forwarding from [::1]:41235 -> 3000"), None);
        assert_eq!(parse_forwarding("error: unable to forward port"), None);
    }
}
