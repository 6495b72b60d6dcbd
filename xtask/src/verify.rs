//! `cargo xtask verify --url URL`: the smoke suite (the `todo-smoke` crate, which `helm test`
//! also runs inside the cluster) against a running deployment, through its public URL (the
//! frontend), the way a user's browser reaches it: against `cargo xtask dev`, containers and
//! clusters alike. Prints a table (or JSON) and fails on any failed check.

use anyhow::bail;

use crate::flags::VerifyArgs;

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    run_with_secret(args, std::env::var("BETTER_AUTH_SECRET").ok().as_deref())
}

/// `secret`: the deployment's token secret, when known, so the expired token it sends is refused
/// for its expiry alone.
pub fn run_with_secret(args: &VerifyArgs, secret: Option<&str>) -> anyhow::Result<()> {
    let target = todo_smoke::Target {
        url: args.url.clone(),
        services: args
            .service
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(name, url)| (name.to_string(), url.to_string()))
            .collect(),
        mcp: args.mcp.clone(),
        secret: secret.map(str::to_string),
    };
    let report = todo_smoke::run(&target);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.print();
    }
    let failed = report.failed();
    if failed > 0 {
        bail!("{failed} of {} checks failed against {}", report.checks.len(), args.url);
    }
    Ok(())
}
