//! Shipping built images: into Minikube's runtime (`minikube image load`, then checked), or to
//! a registry (tagged and pushed, undone on a refusal).

use anyhow::{Context as _, bail};

use super::{Image, repository};
use crate::tools::docker::Docker;
use crate::tools::minikube::{self, Minikube};

/// `minikube image load` for each image, each confirmed with `minikube image ls` (load exits 0
/// even when a node did not get the image).
pub fn load_into_minikube(cluster: &Minikube, images: &[Image], dry_run: bool) -> anyhow::Result<()> {
    for image in images {
        let load = cluster.image_load_command(&image.name);
        if dry_run {
            eprintln!("$ {load}");
        } else {
            load.run()
                .with_context(|| format!("loading {} into minikube failed", image.name))?;
        }
    }
    if dry_run {
        return Ok(());
    }
    let listed = cluster.images()?;
    let missing: Vec<&str> = images
        .iter()
        .map(|i| i.name.as_str())
        .filter(|name| !listed.iter().any(|l| minikube::same_image(l, name)))
        .collect();
    if !missing.is_empty() {
        bail!(
            "minikube said it loaded {} but its runtime does not list it: run `minikube -p {} image ls` to look, then load it again",
            missing.join(", "),
            cluster.profile
        );
    }
    Ok(())
}

/// Tags the images for the registry and pushes them. If the registry refuses one, the registry
/// names this run made are removed again and the error says why.
pub fn push(
    docker: &Docker,
    images: &[Image],
    registry: &str,
    tag: &str,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let targets: Vec<String> = images
        .iter()
        .map(|i| format!("{}:{tag}", repository(i.service, Some(registry))))
        .collect();
    if dry_run {
        for (image, target) in images.iter().zip(&targets) {
            eprintln!("$ {}", docker.tag(&image.name, target));
        }
        for target in &targets {
            eprintln!("$ {}", docker.push(target));
        }
        return Ok(targets);
    }
    let mut tagged = Vec::new();
    let outcome = (|| {
        for (image, target) in images.iter().zip(&targets) {
            docker.tag(&image.name, target).read()?;
            tagged.push(target.clone());
        }
        for target in &targets {
            let push = docker.push(target);
            eprintln!("$ {push}");
            let output = push.output()?;
            if !output.success() {
                bail!(
                    "the registry refused {target}: {} (log in with `docker login {}`, or check the registry's name)",
                    output.last_error_line(),
                    registry.split('/').next().unwrap_or(registry)
                );
            }
        }
        Ok(())
    })();
    if outcome.is_err() {
        for target in &tagged {
            let _ = docker.untag(target);
        }
    }
    outcome.map(|()| targets)
}
