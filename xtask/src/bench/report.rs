//! The figures a benchmark measured, as rows of named figures with their targets, and the report
//! `cargo xtask bench` (every benchmark) writes: `target/bench/report.json` and a table, with the
//! machine and commit they came from.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

use crate::project::target_dir;
use crate::tools::git::TreeState;

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

impl Figure {
    pub fn new(name: &str, value: f64, unit: &str) -> Self {
        Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            target: None,
            met: None,
        }
    }

    /// The target this figure is held to, and whether it met it.
    pub fn target(mut self, target: &str, met: bool) -> Self {
        self.target = Some(target.to_string());
        self.met = Some(met);
        self
    }

    fn shown(&self) -> String {
        let value = if self.value.fract() == 0.0 && self.value.abs() < 1e15 {
            format!("{}", self.value as i64)
        } else if self.value.abs() >= 100.0 {
            format!("{:.0}", self.value)
        } else {
            format!("{:.2}", self.value)
        };
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        let verdict = match (&self.target, self.met) {
            (Some(target), Some(true)) => format!(" (target {target}: met)"),
            (Some(target), _) => format!(" (target {target}: NOT MET)"),
            _ => String::new(),
        };
        format!("{} {value}{unit}{verdict}", self.name)
    }
}

/// One scenario of one benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub bench: String,
    pub scenario: String,
    pub figures: Vec<Figure>,
}

impl Row {
    pub fn new(bench: &str, scenario: &str) -> Self {
        Row {
            bench: bench.to_string(),
            scenario: scenario.to_string(),
            figures: Vec::new(),
        }
    }

    pub fn with(mut self, figures: Vec<Figure>) -> Self {
        self.figures.extend(figures);
        self
    }
}

/// A benchmark that did not run to the end, and why.
#[derive(Debug, Serialize)]
pub struct Missing {
    pub bench: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
struct Machine {
    cpu: String,
    cpus: usize,
    memory_gib: f64,
    os: String,
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    commit: String,
    measured_at: String,
    machine: Machine,
    rows: &'a [Row],
    skipped: &'a [Missing],
    failed: &'a [Missing],
}

fn machine() -> Machine {
    let Ok(mut system) = sysinfo::System::new() else {
        return Machine {
            cpu: "unknown".into(),
            cpus: 0,
            memory_gib: 0.0,
            os: std::env::consts::OS.into(),
        };
    };
    system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
    system.refresh_memory();
    Machine {
        cpu: system
            .cpus()
            .first()
            .map_or("unknown".into(), |c| c.brand().trim().to_string()),
        cpus: system.cpus().len(),
        memory_gib: (system.total_memory() as f64 / f64::from(1u32 << 30) * 10.0).round() / 10.0,
        os: sysinfo::System::long_os_version().unwrap_or_else(|_| std::env::consts::OS.into()),
    }
}

/// Every figure that missed its target, as "bench scenario: figure".
pub fn unmet(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| {
            r.figures
                .iter()
                .filter(|f| f.met == Some(false))
                .map(move |f| format!("{} {}: {}", r.bench, r.scenario, f.shown()))
        })
        .collect()
}

/// Writes `target/bench/report.json` and prints every row.
pub fn write(rows: &[Row], skipped: &[Missing], failed: &[Missing]) -> anyhow::Result<PathBuf> {
    let commit = TreeState::read().map_or_else(|_| "unknown".into(), |t| t.tag());
    let report = Report {
        commit,
        measured_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        machine: machine(),
        rows,
        skipped,
        failed,
    };
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;

    let m = &report.machine;
    println!(
        "\n==> every benchmark, commit {}, {} ({} CPUs, {} GiB, {})\n",
        report.commit, m.cpu, m.cpus, m.memory_gib, m.os
    );
    for row in rows {
        let figures: Vec<String> = row.figures.iter().map(Figure::shown).collect();
        println!("{:<9} {:<40} {}", row.bench, row.scenario, figures.join(", "));
    }
    for missing in skipped {
        println!("{:<9} SKIPPED: {}", missing.bench, missing.reason);
    }
    for missing in failed {
        println!("{:<9} FAILED: {}", missing.bench, missing.reason);
    }
    let unmet = unmet(rows);
    if !unmet.is_empty() {
        println!("\ntargets not met:\n  {}", unmet.join("\n  "));
    }
    println!("\nreport: {}", path.display());
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_shows_its_value_unit_and_verdict() {
        assert_eq!(
            Figure::new("p99", 4.256, "ms").target("≤ 10 ms", true).shown(),
            "p99 4.26 ms (target ≤ 10 ms: met)"
        );
        assert_eq!(
            Figure::new("errors", 3.0, "").target("0", false).shown(),
            "errors 3 (target 0: NOT MET)"
        );
        assert_eq!(
            Figure::new("throughput", 1743.4, "req/s").shown(),
            "throughput 1743 req/s"
        );
    }
}
