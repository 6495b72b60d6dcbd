//! One typed wrapper per external tool: the commands xtask runs, and their answers parsed from
//! the formats the real tools document.

pub mod ai;
pub mod docker;
pub mod git;
pub mod helm;
pub mod kubectl;
pub mod minikube;
pub mod port_forward;
