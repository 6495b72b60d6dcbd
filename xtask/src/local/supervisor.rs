//! Runs several service processes together: prefixes their output, stops all of them on Ctrl-C
//! or SIGTERM, and stops the rest (with a clear message) when one of them dies.

use std::io::{BufRead as _, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// One service to start.
pub struct Spec {
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Spec {
    pub fn new(name: &'static str, program: PathBuf) -> Self {
        Spec {
            name,
            program,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

enum Event {
    Stop,
    Exited(&'static str),
}

pub struct Supervisor {
    children: Vec<(&'static str, Child)>,
    events: mpsc::Receiver<Event>,
}

impl Supervisor {
    pub fn start(specs: Vec<Spec>) -> anyhow::Result<Self> {
        let (tx, events) = mpsc::channel();
        install_stop_handler(tx.clone())?;
        let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let mut children = Vec::new();
        for spec in specs {
            let mut child = Command::new(&spec.program)
                .args(&spec.args)
                .envs(spec.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("cannot start {}", spec.program.display()))?;
            let prefix = format!("{:width$} |", spec.name);
            if let Some(out) = child.stdout.take() {
                forward(out, prefix.clone(), None);
            }
            if let Some(err) = child.stderr.take() {
                // stderr closing means the process is gone: report it.
                forward(err, prefix, Some((tx.clone(), spec.name)));
            }
            children.push((spec.name, child));
        }
        Ok(Supervisor { children, events })
    }

    /// Waits until `url` answers 200, or fails with the name of a service that died meanwhile.
    pub fn wait_ready(&mut self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        loop {
            match self.events.try_recv() {
                Ok(Event::Exited(name)) => {
                    self.stop_all();
                    anyhow::bail!("{name} stopped before the system was ready (see its log above)");
                }
                Ok(Event::Stop) => {
                    self.stop_all();
                    anyhow::bail!("interrupted before the system was ready");
                }
                Err(_) => {}
            }
            if agent.get(url).call().is_ok() {
                return Ok(());
            }
            if started.elapsed() > timeout {
                self.stop_all();
                anyhow::bail!("the system was not ready within {}s ({url})", timeout.as_secs());
            }
            // Closely at first, so a start-up is seen (and measured) when it happens; a refused
            // connection costs next to nothing.
            let pause = if started.elapsed() < Duration::from_secs(2) {
                5
            } else {
                200
            };
            thread::sleep(Duration::from_millis(pause));
        }
    }

    /// The process id of a running service.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, child)| child.id())
    }

    /// Runs until Ctrl-C (clean exit) or until a service dies (error).
    pub fn wait(mut self) -> anyhow::Result<()> {
        let outcome = match self.events.recv() {
            Ok(Event::Stop) | Err(_) => Ok(()),
            Ok(Event::Exited(name)) => {
                // Ctrl-C in a terminal reaches the services too, and one may exit before our own
                // handler has run: a stop that follows at once is still a clean stop.
                let stopping = (0..10).any(|_| {
                    thread::sleep(Duration::from_millis(50));
                    std::iter::from_fn(|| self.events.try_recv().ok()).any(|e| matches!(e, Event::Stop))
                });
                if stopping {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{name} stopped unexpectedly (see its log above)"))
                }
            }
        };
        eprintln!("stopping…");
        self.stop_all();
        outcome
    }

    fn stop_all(&mut self) {
        for (_, child) in &mut self.children {
            terminate(child);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (name, child) in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        eprintln!("{name} did not stop in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Routes Ctrl-C and SIGTERM to the newest supervisor. The process-wide handler can be installed
/// only once, and a benchmark runs several supervisors one after another.
fn install_stop_handler(tx: mpsc::Sender<Event>) -> anyhow::Result<()> {
    static CURRENT: Mutex<Option<mpsc::Sender<Event>>> = Mutex::new(None);
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    *CURRENT.lock().map_err(|_| anyhow::anyhow!("stop handler poisoned"))? = Some(tx);
    INSTALLED
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                if let Ok(current) = CURRENT.lock()
                    && let Some(tx) = current.as_ref()
                {
                    let _ = tx.send(Event::Stop);
                }
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))
}

/// Asks a child to stop the way Kubernetes does (SIGTERM), so it shuts down gracefully.
fn terminate(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(pid) = i32::try_from(child.id()) {
        use nix::sys::signal::{Signal, kill};
        if kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).is_ok() {
            return;
        }
    }
    let _ = child.kill();
}

fn forward(stream: impl Read + Send + 'static, prefix: String, on_close: Option<(mpsc::Sender<Event>, &'static str)>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("{prefix} {line}");
        }
        if let Some((tx, name)) = on_close {
            let _ = tx.send(Event::Exited(name));
        }
    });
}
