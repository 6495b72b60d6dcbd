//! `cargo xtask standin [NAME…]`: stand-in Kubernetes clusters (`xtask/kube-standin`, the API
//! server the deploy-path tests run the real kubectl and Helm against) to try the pipeline
//! without a cluster. Writes a kubeconfig with one context per name, the first current, prints
//! how to use it, and serves until Ctrl-C. Every container runs and is ready; a port-forward to a
//! pod's port N reaches 127.0.0.1:N on this machine.

use anyhow::Context as _;
use kube_standin::{Fates, StandIn, kubeconfig};

use crate::flags::StandinArgs;

pub fn run(args: &StandinArgs) -> anyhow::Result<()> {
    let clusters = args
        .names
        .iter()
        .map(|name| {
            let fates = Fates::all_healthy().serving(|_, port| Some(([127, 0, 0, 1], port).into()));
            StandIn::start(name, fates)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pairs: Vec<(&str, &StandIn)> = args.names.iter().map(String::as_str).zip(clusters.iter()).collect();
    let dir = crate::project::root().join("target/standin");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kubeconfig(&pairs, &args.names[0]))
        .with_context(|| format!("cannot write {}", path.display()))?;
    for cluster in &clusters {
        println!("cluster {} serving at {}", cluster.name, cluster.url);
    }
    println!(
        "\nexport KUBECONFIG={}\nthen, say: kubectl get nodes; cargo xtask deploy --context {} --registry localhost:5000 --skip-build\nCtrl-C stops them (their objects are in memory only).",
        path.display(),
        args.names[0]
    );
    let (done, wait) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = done.send(());
    })
    .context("cannot set the Ctrl-C handler")?;
    let _ = wait.recv();
    Ok(())
}
