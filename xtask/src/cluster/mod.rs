//! What users run against a cluster, a module per command: `doctor`, `images`, `deploy`,
//! `verify`, `rollback`/`status`/`logs`/`teardown`/`scale` (`operate`), `diagnose`, `backup` and
//! `restore`. Beside them what a deploy goes through: `bootstrap` applies `k8s/` before the
//! release, `rollout` is the watch every rollout waits on, and `status_check` turns pod states
//! into problems a person can act on. The external tools are reached only through `crate::tools`.

pub mod backup;
pub mod bootstrap;
pub mod deploy;
pub mod diagnose;
pub mod doctor;
pub mod images;
pub mod operate;
pub mod rollout;
pub mod status_check;
pub mod verify;
