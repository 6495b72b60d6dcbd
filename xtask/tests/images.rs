//! `cargo xtask images` as a user runs it, against fake docker, minikube, kubectl, cargo and
//! rustc on a PATH of their own (`tests/fakes/`, answering in the real tools' formats and exit
//! codes). The real image builds run in the container rehearsal of `cargo xtask test`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;

/// The tag the tree in this checkout gets.
fn head_sha() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn builds_the_five_images_in_parallel_on_the_fast_path_tagged_with_the_commit() {
    let fakes = Fakes::new();
    let report = json(&fakes.xtask(&["images", "--json"]));
    let tag = report["tag"].as_str().unwrap();
    assert!(tag.starts_with(&head_sha()), "tag {tag}");
    assert_eq!(report["route"], "prebuilt");
    assert_eq!(report["platform"], "linux/amd64");
    let images: Vec<&str> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["image"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        ["backend", "mcp", "agent", "frontend", "smoke"].map(|s| format!("todo-{s}:{tag}"))
    );
    assert_eq!(report["images"][0]["size_bytes"], 9_876_543);
    assert!(report["images"][0]["compressed_bytes"].as_u64().unwrap() < 200_000);

    // One cargo build for all, for musl, in the shipped profile; then one docker build each.
    let cargo = fakes.calls_of("cargo");
    assert_eq!(cargo.len(), 1, "{cargo:?}");
    assert!(
        cargo[0].contains(&format!(
            "--profile image --target {HOST_TARGET} --workspace --exclude xtask --bins"
        )),
        "{}",
        cargo[0]
    );
    let builds = fakes.calls_of("docker DOCKER_HOST= build ");
    assert_eq!(builds.len(), 5, "{builds:?}");
    for service in ["backend", "mcp", "agent", "frontend", "smoke"] {
        let build = builds
            .iter()
            .find(|b| b.contains(&format!("SERVICE={service} ")))
            .unwrap_or_else(|| panic!("no build of {service}: {builds:?}"));
        for part in [
            "--file apps/Dockerfile --target prebuilt --platform linux/amd64",
            &format!("--build-arg SERVICE={service}"),
            &format!("--build-arg STAGED=target/images/{HOST_TARGET}/image"),
            &format!("--tag todo-{service}:{tag} ."),
        ] {
            assert!(build.contains(part), "{build} lacks {part}");
        }
        // The services expose their port; the smoke test is a client and exposes none.
        let kind = if service == "smoke" {
            "--build-arg KIND=client"
        } else {
            "--build-arg PORT="
        };
        assert!(build.contains(kind), "{build} lacks {kind}");
    }
    // The binaries and the CA bundle were staged inside the build context.
    let staged = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../target/images/{HOST_TARGET}/image"));
    assert_eq!(fs::read_to_string(staged.join("todo-mcp")).unwrap(), "fake todo-mcp\n");
    assert!(staged.join("ca-certificates.crt").exists());
}

#[test]
fn dry_run_prints_the_commands_in_order_and_builds_nothing() {
    let fakes = Fakes::new();
    let output = fakes.xtask(&[
        "images",
        "--service",
        "mcp",
        "--push",
        "ghcr.io/me",
        "--allow-dirty",
        "--dry-run",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed: Vec<String> = stderr(&output)
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(String::from)
        .collect();
    assert_eq!(printed.len(), 4, "{printed:?}");
    assert!(
        printed[0].starts_with("cargo build --locked --profile image --target"),
        "{}",
        printed[0]
    );
    assert!(
        printed[1].starts_with("DOCKER_BUILDKIT=1 docker build --file apps/Dockerfile --target prebuilt"),
        "{}",
        printed[1]
    );
    assert!(printed[2].starts_with("docker tag todo-mcp:"), "{}", printed[2]);
    assert!(
        printed[3].starts_with("docker push ghcr.io/me/todo-mcp:"),
        "{}",
        printed[3]
    );
    // Only questions were asked: nothing was compiled, built, tagged or pushed.
    assert!(fakes.calls_of("cargo").is_empty());
    for call in fakes.calls() {
        assert!(
            call.contains(" version") || call.contains(" buildx version"),
            "a dry run ran {call}"
        );
    }
    assert!(fakes.images().is_empty());
}

#[test]
fn loading_into_minikube_builds_with_its_docker_daemon_on_the_child_processes_only() {
    let fakes = Fakes::new();
    let report = json(&fakes.xtask(&["images", "--load", "minikube", "--profile", "dev", "--json"]));
    assert_eq!(report["loaded"], "minikube");
    // The profile's runtime is Docker (asked first), so its daemon is built into.
    assert_eq!(
        fakes.calls_of("minikube")[..2],
        [
            "minikube DOCKER_HOST= profile list -o json --light",
            "minikube DOCKER_HOST= -p dev docker-env --shell none -o json"
        ]
    );
    // The platform was asked of the cluster (its kubectl context is the profile's name).
    assert!(fakes.calls_of("kubectl")[0].contains("--context=dev get nodes"));
    let builds = fakes.calls_of("docker DOCKER_HOST=tcp://192.168.49.2:2376 build ");
    assert_eq!(builds.len(), 5, "{:?}", fakes.calls());
    // Built straight into minikube's runtime: nothing to load afterwards.
    assert!(!fakes.calls().iter().any(|c| c.contains("image load")));
}

#[test]
fn a_cluster_without_a_single_docker_daemon_gets_its_images_loaded_and_confirmed() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_MINIKUBE", "multinode");
    let report = json(&fakes.xtask(&["images", "--load", "minikube", "--service", "backend", "--json"]));
    let tag = report["tag"].as_str().unwrap();
    assert!(fakes.calls_of("docker DOCKER_HOST= build ").len() == 1);
    let minikube = fakes.calls_of("minikube");
    assert_eq!(
        minikube[2],
        format!("minikube DOCKER_HOST= -p minikube image load todo-backend:{tag}")
    );
    assert_eq!(minikube[3], "minikube DOCKER_HOST= -p minikube image ls --format short");
}

/// minikube 1.38 answers docker-env for the containerd runtime too, through nerdctld over SSH,
/// a partial Docker API it calls highly experimental. The images are built by this machine's
/// Docker and loaded with `minikube image load`, which containerd takes; docker-env is not asked.
#[test]
fn a_containerd_minikube_gets_images_built_here_and_loaded() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_MINIKUBE_RUNTIME", "containerd");
    let report = json(&fakes.xtask(&["images", "--load", "minikube", "--service", "backend", "--json"]));
    let tag = report["tag"].as_str().unwrap();
    assert_eq!(
        fakes.calls_of("docker DOCKER_HOST= build ").len(),
        1,
        "{:#?}",
        fakes.calls()
    );
    assert!(
        !fakes
            .calls()
            .iter()
            .any(|c| c.contains("docker-env") || c.contains("ssh://")),
        "{:#?}",
        fakes.calls()
    );
    assert!(
        fakes.calls_of("minikube").contains(&format!(
            "minikube DOCKER_HOST= -p minikube image load todo-backend:{tag}"
        )),
        "{:#?}",
        fakes.calls()
    );
}

#[test]
fn an_image_minikube_did_not_really_load_is_an_error() {
    let mut fakes = Fakes::new();
    fakes
        .set("FAKE_MINIKUBE", "multinode")
        .set("FAKE_MINIKUBE_LOAD_DROPS", "1");
    let error = failure(&fakes.xtask(&["images", "--load", "minikube", "--service", "mcp"]));
    assert!(error.contains("its runtime does not list it"), "{error}");
}

#[test]
fn a_stopped_or_missing_minikube_is_one_actionable_line_and_nothing_is_built() {
    for (state, says) in [
        ("stopped", "is not running: start it"),
        ("missing", "does not exist: create it"),
    ] {
        let mut fakes = Fakes::new();
        fakes.set("FAKE_MINIKUBE", state);
        let error = failure(&fakes.xtask(&["images", "--load", "minikube"]));
        assert!(error.contains(says), "{state}: {error}");
        assert!(
            fakes.calls_of("cargo").is_empty() && fakes.images().is_empty(),
            "{state}"
        );
    }
}

#[test]
fn an_arm64_cluster_gets_arm64_images_cross_built_with_zig() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_NODE_ARCH", "arm64");
    let report = json(&fakes.xtask(&["images", "--load", "minikube", "--service", "agent", "--json"]));
    assert_eq!(report["platform"], "linux/arm64");
    assert!(report["tag"].as_str().unwrap().ends_with("-arm64"));
    let cargo = fakes.calls_of("cargo");
    assert!(
        cargo[0].starts_with(&format!(
            "cargo zigbuild --locked --profile image --target {ARM_TARGET}"
        )),
        "{cargo:?}"
    );
    let build = &fakes.calls_of("docker DOCKER_HOST=tcp://192.168.49.2:2376 build ")[0];
    assert!(
        build.contains("--platform linux/arm64") && build.contains(ARM_TARGET),
        "{build}"
    );
}

#[test]
fn a_mixed_architecture_cluster_needs_a_platform() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_NODE_ARCH", "amd64 arm64 arm64");
    let error = failure(&fakes.xtask(&["images", "--load", "minikube"]));
    assert!(
        error.contains("mix architectures (amd64, arm64): pass --platform"),
        "{error}"
    );
}

#[test]
fn without_the_fast_path_it_compiles_inside_docker_and_prebuilt_says_why_not() {
    let fakes = Fakes::new();
    fakes.uninstall("musl-gcc");
    let error = failure(&fakes.xtask(&["images", "--prebuilt"]));
    assert!(
        error.contains("--prebuilt cannot build x86_64-unknown-linux-musl binaries here: there is no musl C compiler"),
        "{error}"
    );
    assert!(error.contains("apt-get install musl-tools"), "{error}");

    let report = json(&fakes.xtask(&["images", "--service", "frontend", "--json"]));
    assert_eq!(report["route"], "in-docker");
    let builds = fakes.calls_of("docker DOCKER_HOST= build ");
    assert!(builds[0].contains("--target builder"), "{builds:?}");
    assert!(
        builds[1].contains("--target compiled") && builds[1].contains("SERVICE=frontend"),
        "{builds:?}"
    );
    assert!(fakes.calls_of("cargo").is_empty());
}

#[test]
fn compiling_inside_docker_without_buildkit_is_refused_with_the_fix() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_LEGACY", "1");
    let error = failure(&fakes.xtask(&["images", "--in-docker"]));
    assert!(error.contains("needs BuildKit (the docker buildx plugin)"), "{error}");
}

#[test]
fn no_docker_daemon_is_one_actionable_line() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1");
    let error = failure(&fakes.xtask(&["images"]));
    assert!(
        error.contains("the Docker daemon is not reachable") && error.contains("start it"),
        "{error}"
    );
    assert!(fakes.calls_of("cargo").is_empty());
}

#[test]
fn one_failed_build_leaves_none_of_the_set_tagged() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_FAIL_BUILD", "agent");
    let error = failure(&fakes.xtask(&["images"]));
    assert!(error.contains("the agent image did not build"), "{error}");
    assert!(error.contains("agent image failed; its last lines:"), "{error}");
    assert!(
        error.contains("  ERROR: failed to solve"),
        "its output is shown: {error}"
    );
    assert!(fakes.images().is_empty(), "left tagged: {:?}", fakes.images());
}

#[test]
fn a_registry_that_refuses_the_push_leaves_no_registry_tag_behind() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_REGISTRY_REFUSE", "1");
    let error = failure(&fakes.xtask(&["images", "--push", "registry.example.com:5000/team", "--allow-dirty"]));
    assert!(
        error.contains("the registry refused registry.example.com:5000/team/todo-backend:"),
        "{error}"
    );
    assert!(error.contains("requested access to the resource is denied"), "{error}");
    assert!(error.contains("docker login registry.example.com:5000"), "{error}");
    let left = fakes.images();
    assert_eq!(left.len(), 5, "the local images stay, the registry names go: {left:?}");
    assert!(left.iter().all(|i| !i.starts_with("registry")), "{left:?}");
}

#[test]
fn a_push_names_each_image_under_the_registry() {
    let fakes = Fakes::new();
    let report = json(&fakes.xtask(&[
        "images",
        "--service",
        "mcp",
        "--push",
        "ghcr.io/me",
        "--allow-dirty",
        "--json",
    ]));
    let tag = report["tag"].as_str().unwrap();
    assert_eq!(
        report["pushed"],
        serde_json::json!([format!("ghcr.io/me/todo-mcp:{tag}")])
    );
    assert!(
        fakes
            .calls()
            .contains(&format!("docker DOCKER_HOST= push ghcr.io/me/todo-mcp:{tag}"))
    );
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let fakes = Fakes::new();
    for (args, says) in [
        (&["images", "--service", "database"][..], "invalid value 'database'"),
        (
            &["images", "--platform", "linux/s390x"][..],
            "invalid value 'linux/s390x'",
        ),
        (&["images", "--push", "https://ghcr.io/me"][..], "is not a registry"),
        (&["images", "--allow-dirty"][..], "--push"),
    ] {
        let output = fakes.xtask(args);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr(&output).contains(says), "{args:?}: {}", stderr(&output));
    }
    assert!(fakes.calls().is_empty(), "{:?}", fakes.calls());
}
