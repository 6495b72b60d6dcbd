//! What the xtask knows of the Helm chart, shared by the commands that deploy it and the checks
//! that test it: where it lives, the release and namespace it installs by default, and
//! (`manifests`) what it renders, read as JSON values, with the rules those manifests must keep.

pub mod manifests;

use std::path::PathBuf;

use crate::project::root;

pub const RELEASE: &str = "todo-chatbot";
pub const NAMESPACE: &str = "chatbot-dev";

pub fn chart_dir() -> PathBuf {
    root().join("helm/todo-chatbot")
}
