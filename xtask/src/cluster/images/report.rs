//! The table (or JSON) `cargo xtask images` prints: every image with its size, compressed size
//! and build time, and one line of what was done.

use std::time::Duration;

use serde_json::json;

use super::{Image, Request, Route};
use crate::flags::Load;

/// What was built, with its sizes.
pub struct Report {
    rows: Vec<[String; 5]>,
    summary: String,
    pub json: serde_json::Value,
}

impl Report {
    pub fn measure(
        request: &Request,
        images: &[Image],
        pushed: &[String],
        load: Load,
        took: Duration,
    ) -> anyhow::Result<Report> {
        let mut rows = Vec::new();
        let mut entries = Vec::new();
        for image in images {
            let size = request.docker.image_size(&image.name)?;
            let compressed = request.docker.compressed_size(&image.name)?;
            let (repository, tag) = image.name.split_once(':').unwrap_or((&image.name, ""));
            rows.push([
                repository.to_string(),
                tag.to_string(),
                mb(size),
                mb(compressed),
                format!("{:.1}", image.took.as_secs_f64()),
            ]);
            entries.push(json!({
                "service": image.service.name,
                "image": image.name,
                "size_bytes": size,
                "compressed_bytes": compressed,
                "build_seconds": (image.took.as_secs_f64() * 10.0).round() / 10.0,
            }));
        }
        let route = match request.route {
            Route::Prebuilt => "compiled on this host",
            Route::InDocker => "compiled inside Docker",
        };
        let mut summary = format!(
            "{} images tagged {} for {}, {route}, in {:.1} s",
            images.len(),
            request.tag(),
            request.platform.docker(),
            took.as_secs_f64()
        );
        if load == Load::Minikube {
            summary.push_str("; loaded into minikube");
        }
        if !pushed.is_empty() {
            summary.push_str(&format!("; pushed {}", pushed.join(", ")));
        }
        let json = json!({
            "tag": request.tag(),
            "platform": request.platform.docker(),
            "route": match request.route { Route::Prebuilt => "prebuilt", Route::InDocker => "in-docker" },
            "loaded": if load == Load::Minikube { Some("minikube") } else { None },
            "pushed": pushed,
            "images": entries,
            "seconds": (took.as_secs_f64() * 10.0).round() / 10.0,
        });
        Ok(Report { rows, summary, json })
    }

    /// The table on stdout, or on stderr when another command (deploy) keeps stdout for its own.
    pub fn print(&self, to_stderr: bool) {
        let out = |text: String| {
            if to_stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        let header = ["image", "tag", "size MB", "compressed MB", "build s"];
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..5).map(width).collect();
        let line = |cells: [&str; 5]| {
            out(format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            ));
        };
        line(header);
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        out(format!("\n{}", self.summary));
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_000_000.0)
}
