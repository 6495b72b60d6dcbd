//! The load generator the timed benchmarks share: keep-alive HTTP/1.1 connections driven from
//! one thread, latencies and errors counted, the measured service's memory sampled.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use super::report::{Figure, Row};

pub fn latency_header(unit: &str) -> String {
    format!(
        "{:<24} {:>10} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "scenario", unit, "p50 ms", "p99 ms", "max ms", "errors", "max RSS"
    )
}

#[derive(Clone)]
pub enum Request {
    /// GETs cycling over these URLs.
    Get(Vec<String>),
    /// POSTs of `body(worker, i)`; with `must_contain`, a 2xx answer lacking it counts as an error
    /// (an MCP tool error is a 200 carrying `"isError":true`).
    Post {
        url: String,
        body: Arc<dyn Fn(usize, usize) -> String + Send + Sync>,
        headers: Vec<(&'static str, &'static str)>,
        must_contain: Option<&'static str>,
    },
}

impl Request {
    pub fn create_task(url: &str) -> Request {
        Request::Post {
            url: url.to_string(),
            body: Arc::new(|worker, i| json!({"title": format!("load {worker}-{i}")}).to_string()),
            headers: Vec::new(),
            must_contain: None,
        }
    }

    fn first_url(&self) -> &str {
        match self {
            Request::Get(urls) => &urls[0],
            Request::Post { url, .. } => url,
        }
    }
}

pub struct LoadResult {
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub max_rss_mib: f64,
}

impl LoadResult {
    /// One line of a benchmark's table: the scenario in a column `width` wide, then the figures.
    pub fn print(&self, scenario: &str, width: usize) {
        println!(
            "{scenario:<width$} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>7.1} MiB",
            self.per_second, self.p50_ms, self.p99_ms, self.max_ms, self.errors, self.max_rss_mib
        );
    }

    /// The report's row: throughput, latency, errors and the measured service's peak memory.
    pub fn row(&self, bench: &str, scenario: &str, unit: &str, service: &str) -> Row {
        Row::new(bench, scenario).with(vec![
            Figure::new("throughput", self.per_second, unit),
            Figure::new("p50", self.p50_ms, "ms"),
            Figure::new("p99", self.p99_ms, "ms"),
            Figure::new("max", self.max_ms, "ms"),
            Figure::new("errors", self.errors as f64, "").target("0", self.errors == 0),
            Figure::new(&format!("max RSS of {service} under load"), self.max_rss_mib, "MiB"),
        ])
    }
}

/// Drives `connections` keep-alive HTTP/1.1 connections from one thread (an async runtime, so the
/// generator takes at most one core and no thread switch per request).
pub fn load(
    request: &Request,
    token: &str,
    connections: usize,
    duration: Duration,
    pid: u32,
) -> anyhow::Result<LoadResult> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rss = RssSampler::start(pid);
    let began = Instant::now() + Duration::from_secs(1);
    let ends = began + duration;
    let (mut latencies, errors) = runtime.block_on(async {
        let workers: Vec<_> = (0..connections)
            .map(|worker| {
                let authorization = format!("Bearer {token}");
                let request = request.clone();
                tokio::spawn(async move { connection(worker, &request, &authorization, began, ends).await })
            })
            .collect();
        let mut latencies = Vec::new();
        let mut errors = 0;
        for worker in workers {
            let (l, e) = worker.await??;
            latencies.extend(l);
            errors += e;
        }
        anyhow::Ok((latencies, errors))
    })?;
    let max_rss_mib = rss.stop();
    latencies.sort_unstable();
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[index].as_secs_f64() * 1000.0
    };
    Ok(LoadResult {
        per_second: latencies.len() as f64 / duration.as_secs_f64(),
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        max_ms: quantile(1.0),
        errors,
        max_rss_mib,
    })
}

/// One connection sending requests back to back; latencies count between `began` and `ends`.
async fn connection(
    worker: usize,
    request: &Request,
    authorization: &str,
    began: Instant,
    ends: Instant,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;

    let first: http::Uri = request.first_url().parse()?;
    let authority = first.authority().context("URL without host")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(64 * 1024);
    let mut errors = 0;
    let mut i = worker * 7919;
    loop {
        let now = Instant::now();
        if now >= ends {
            break;
        }
        i += 1;
        let (url, must_contain) = match request {
            Request::Get(urls) => (&urls[i % urls.len()], None),
            Request::Post { url, must_contain, .. } => (url, *must_contain),
        };
        let uri: http::Uri = url.parse()?;
        let builder = http::Request::builder()
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header("host", authority.as_str())
            .header("authorization", authorization);
        let outgoing = match request {
            Request::Get(_) => builder.method("GET").body(Full::new(Bytes::new()))?,
            Request::Post { body, headers, .. } => {
                let mut builder = builder.method("POST").header("content-type", "application/json");
                for (name, value) in headers {
                    builder = builder.header(*name, *value);
                }
                builder.body(Full::new(Bytes::from(body(worker, i))))?
            }
        };
        sender.ready().await?;
        let ok = match sender.send_request(outgoing).await {
            Ok(response) => {
                let success = response.status().is_success();
                match response.into_body().collect().await {
                    Ok(collected) => {
                        let bytes = collected.to_bytes();
                        success && must_contain.is_none_or(|needle| contains(&bytes, needle.as_bytes()))
                    }
                    Err(_) => false,
                }
            }
            Err(_) => false,
        };
        if now >= began {
            latencies.push(now.elapsed());
            errors += u64::from(!ok);
        }
    }
    Ok((latencies, errors))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Samples a process's resident set size from /proc every 50 ms and keeps the maximum.
struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut max_kib = 0;
            while !flag.load(Ordering::Relaxed) {
                max_kib = max_kib.max(rss_kib(pid).unwrap_or(0));
                thread::sleep(Duration::from_millis(50));
            }
            max_kib
        });
        RssSampler { stop, handle }
    }

    fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0) as f64 / 1024.0
    }
}

pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
