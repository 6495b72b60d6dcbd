//! `cargo run -p kube-standin -- [NAME…]`: stand-in clusters to point kubectl and Helm at by
//! hand. Writes a kubeconfig (one context per name, the first current) and serves until
//! Ctrl-C.

use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let mut names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        names.push("standin".to_string());
    }
    let clusters = names
        .iter()
        .map(|n| kube_standin::StandIn::start(n, kube_standin::Fates::all_healthy()))
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
