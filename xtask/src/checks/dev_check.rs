//! `cargo xtask dev` itself, as a user runs it: started as a subprocess in its own process group,
//! it must come up, serve the page, pass `verify` and the browser test, and on Ctrl-C (SIGINT to the whole group, as a
//! terminal sends it) exit cleanly leaving no service process behind.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::flags::VerifyArgs;
use crate::local::api::free_port;

pub fn run() -> anyhow::Result<()> {
    refuses_a_taken_port()?;
    println!("\n==> cargo xtask dev, started as a user would, then verify and the browser test, then Ctrl-C");
    let data = tempfile::tempdir().context("cannot create a temporary folder")?;
    let port = free_port()?;
    let mut dev = Command::new(std::env::current_exe()?);
    dev.args(["dev", "--port", &port.to_string(), "--data-dir"])
        .arg(data.path())
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    // In its own group, dev would outlive this process if it were killed rather than Ctrl-C'd
    // (a CI timeout, `kill`). The kernel sends dev a Ctrl-C when we die, and dev stops its
    // services as it does on a real one.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        dev.pre_exec(|| nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT).map_err(std::io::Error::from));
    }
    let mut dev = dev.spawn().context("cannot start cargo xtask dev")?;
    let pgid = nix::unistd::Pid::from_raw(i32::try_from(dev.id())?);

    let (ready_tx, ready) = mpsc::channel();
    let stdout = dev.stdout.take().context("no stdout")?;
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Press Ctrl-C") {
                let _ = ready_tx.send(());
            }
            println!("dev | {line}");
        }
    });
    let outcome = (|| {
        ready
            .recv_timeout(Duration::from_secs(600))
            .context("cargo xtask dev did not say it was ready within 10 minutes")?;
        let url = format!("http://127.0.0.1:{port}");
        let page = ureq::get(&format!("{url}/")).call()?.body_mut().read_to_string()?;
        ensure!(
            page.contains("<title>todo-chatbot</title>"),
            "the page at {url} is not the UI"
        );
        crate::cluster::verify::run(&VerifyArgs {
            url: Some(url.clone()),
            service: Vec::new(),
            mcp: None,
            json: false,
            release: Default::default(),
            quiet_stdout: false,
        })?;
        crate::checks::browser::run(&url)
    })();

    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).context("cannot send Ctrl-C")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = dev.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            bail!("cargo xtask dev did not stop within 30 s of Ctrl-C");
        }
        thread::sleep(Duration::from_millis(100));
    };
    outcome?;
    ensure!(status.success(), "cargo xtask dev exited with {status} after Ctrl-C");
    let left = processes_using(data.path())?;
    ensure!(left.is_empty(), "service processes left behind after Ctrl-C: {left:?}");
    println!("cargo xtask dev: came up, passed verify and the browser test, stopped cleanly with no process left");
    Ok(())
}

/// Processes whose environment names `data_dir` (every service dev starts gets `DATA_DIR`).
fn processes_using(data_dir: &std::path::Path) -> anyhow::Result<Vec<u32>> {
    let needle = format!("DATA_DIR={}", data_dir.display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(environ) = std::fs::read(entry.path().join("environ"))
            && environ.split(|b| *b == 0).any(|var| var == needle.as_bytes())
        {
            found.push(pid);
        }
    }
    Ok(found)
}

/// A public port already in use: a clear message and a non-zero exit, before anything starts.
fn refuses_a_taken_port() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let data = tempfile::tempdir()?;
    let output = Command::new(std::env::current_exe()?)
        .args(["dev", "--port", &port, "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .output()
        .context("cannot start cargo xtask dev")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success() && stderr.contains(&format!("port {port} is already in use")),
        "cargo xtask dev on a taken port: {}, stderr: {stderr}",
        output.status
    );
    println!("cargo xtask dev on a taken port: refused with \"port {port} is already in use\"");
    Ok(())
}
