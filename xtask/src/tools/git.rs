//! git: what commit the tree is at, whether it has uncommitted changes, and a hash of its content.

use anyhow::Context as _;

use crate::exec::Command;

fn git(args: &[&str]) -> Command {
    Command::new("git").args(args.iter().copied())
}

/// What an image built from this tree is named after.
#[derive(Clone, Debug)]
pub struct TreeState {
    /// The first 12 hex digits of HEAD (`git rev-parse HEAD | cut -c1-12`)
    pub short_sha: String,
    pub full_sha: String,
    /// Committer time of HEAD, RFC 3339.
    pub commit_time: String,
    /// Set when the work tree differs from HEAD: the id of a tree object holding the work tree's
    /// content (tracked and untracked files, ignored ones left out), so the same edits give the
    /// same id and different edits a different one.
    pub dirty_tree: Option<String>,
    /// `git remote get-url origin`, when there is one.
    pub origin: Option<String>,
}

impl TreeState {
    pub fn read() -> anyhow::Result<TreeState> {
        let head = git(&["rev-parse", "HEAD"]).read().context(
            "the images are tagged with the git commit: run this inside the repository, with at least one commit",
        )?;
        let full_sha = head.trim().to_string();
        let short_sha = full_sha.chars().take(12).collect();
        let commit_time = git(&["show", "-s", "--format=%cI", "HEAD"]).read()?.trim().to_string();
        let status = git(&["status", "--porcelain", "--untracked-files=all"]).read()?;
        let dirty_tree = if status.trim().is_empty() {
            None
        } else {
            Some(work_tree_id()?)
        };
        let origin = git(&["remote", "get-url", "origin"])
            .output()
            .ok()
            .filter(|o| o.success())
            .map(|o| o.stdout.trim().to_string())
            .filter(|url| !url.is_empty());
        Ok(TreeState {
            short_sha,
            full_sha,
            commit_time,
            dirty_tree,
            origin,
        })
    }

    /// `<sha>` for a clean tree, `<sha>-dirty-<content hash>` otherwise.
    pub fn tag(&self) -> String {
        match &self.dirty_tree {
            None => self.short_sha.clone(),
            Some(tree) => format!("{}-dirty-{}", self.short_sha, &tree[..tree.len().min(12)]),
        }
    }
}

/// The tree id of the work tree as it is, written with a scratch index so the real one (and
/// what the user has staged) is untouched.
fn work_tree_id() -> anyhow::Result<String> {
    let scratch = tempfile::tempdir().context("cannot create a temporary folder")?;
    let index = scratch.path().join("index");
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]).read()?;
    let real_index = std::path::Path::new(git_dir.trim()).join("index");
    // Starting from a copy of the real index lets `git add` reuse its cached file stats.
    if real_index.exists() {
        std::fs::copy(&real_index, &index).context("cannot copy the git index")?;
    }
    let index = index.to_string_lossy().into_owned();
    git(&["add", "--all", "."]).env("GIT_INDEX_FILE", &index).read()?;
    let tree = git(&["write-tree"]).env("GIT_INDEX_FILE", &index).read()?;
    Ok(tree.trim().to_string())
}
