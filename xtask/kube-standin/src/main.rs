//! `cargo run -p kube-standin -- [NAME…]`: stand-in clusters to point kubectl and Helm at by
//! hand. Writes a kubeconfig (one context per name, the first current) and serves until
//! Ctrl-C. Every container runs and is ready; a port-forward to a pod's port N reaches
//! 127.0.0.1:N on this machine (start the service there to talk to it).

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names.push("standin".to_string());
    }
    let clusters = names
        .iter()
        .map(|n| {
            let fates = kube_standin::Fates::all_healthy().serving(|_, port| Some(([127, 0, 0, 1], port).into()));
            kube_standin::StandIn::start(n, fates)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pairs: Vec<(&str, &kube_standin::StandIn)> = names.iter().map(String::as_str).zip(clusters.iter()).collect();
    let path = std::env::temp_dir().join(format!("kube-standin-{}.yaml", std::process::id()));
    std::fs::write(&path, kube_standin::kubeconfig(&pairs, &names[0])).context("writing the kubeconfig")?;
    for cluster in &clusters {
        println!("cluster {} at {}", cluster.name, cluster.url);
    }
    println!("export KUBECONFIG={}", path.display());
    let (done, wait) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = done.send(());
    })
    .context("setting the Ctrl-C handler")?;
    let _ = wait.recv();
    let _ = std::fs::remove_file(&path);
    Ok(())
}
