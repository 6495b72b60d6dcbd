//! The rehearsals: what the tests cannot see by reading the chart, shown by running it in Docker.
//! `containers` builds the images and drives both; `chart` runs a rendering's pods as its
//! manifests say, from the containers `pod_plan` makes of them.

pub mod chart;
pub mod containers;
mod pod_plan;
