//! The smoke suite that proves a running todo-chatbot works, through its public URL (the
//! frontend) as a user's browser reaches it. One suite, run from outside by `cargo xtask verify`
//! (against `cargo xtask dev`, containers or a cluster) and from inside the cluster by `helm test`
//! (the `todo-smoke` image).
//!
//! It signs up a throwaway user, exercises auth, the task API and a chat message whose tool call
//! must show through the REST API, lists the MCP server's tools with the user's token, measures a
//! latency budget, and deletes everything it created, the user included.

mod mcp;

use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use rand::Rng as _;
use serde_json::{Value, json};

/// The original plan's budget: p95 of 50 API calls under 500 ms.
const LATENCY_CALLS: usize = 50;
const LATENCY_P95_BUDGET: Duration = Duration::from_millis(500);

/// What to check.
pub struct Target {
    /// The deployment's public URL (the frontend).
    pub url: String,
    /// Other services whose `/healthz` and `/readyz` are probed too: (name, base URL).
    pub services: Vec<(String, String)>,
    /// The MCP endpoint (`http://host:8001/mcp`), when its tool list is to be checked.
    pub mcp: Option<String>,
    /// The deployment's token secret, when known, so the expired token the suite sends is
    /// refused for its expiry alone.
    pub secret: Option<String>,
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

pub struct Check {
    pub name: String,
    pub took: Duration,
    pub outcome: Result<String, String>,
}

/// Every check, in the order they ran.
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn check(&mut self, name: &str, f: impl FnOnce() -> anyhow::Result<String>) -> bool {
        let started = Instant::now();
        let outcome = f().map_err(|e| format!("{e:#}"));
        let ok = outcome.is_ok();
        self.checks.push(Check {
            name: name.to_string(),
            took: started.elapsed(),
            outcome,
        });
        ok
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| c.outcome.is_err()).count()
    }

    /// A table, one line per check, and the totals.
    pub fn print(&self) {
        print!("{}", self.table());
    }

    /// The table `print` prints: one line per check, then the totals.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{:<44} {:<6} {:>8}  detail\n", "check", "result", "ms");
        for c in &self.checks {
            let (result, detail) = match &c.outcome {
                Ok(detail) => ("ok", detail.as_str()),
                Err(error) => ("FAILED", error.as_str()),
            };
            let _ = writeln!(
                out,
                "{:<44} {:<6} {:>8.1}  {detail}",
                c.name,
                result,
                c.took.as_secs_f64() * 1000.0
            );
        }
        let _ = writeln!(
            out,
            "\n{} passed, {} failed",
            self.checks.len() - self.failed(),
            self.failed()
        );
        out
    }

    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "ok": c.outcome.is_ok(),
                    "ms": (c.took.as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
                    "detail": match &c.outcome { Ok(d) | Err(d) => d },
                })
            })
            .collect();
        let passed = self.checks.iter().filter(|c| c.outcome.is_ok()).count();
        json!({"passed": passed, "failed": self.checks.len() - passed, "checks": checks})
    }
}

/// An HTTP client that returns every status (checks decide what is right).
struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    fn new(base: &str) -> Http {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(90)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Http {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let request = http::Request::builder().method(method).uri(&url);
        let request = match token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        };
        let mut response = match body {
            Some(body) => self.agent.run(
                request
                    .header("content-type", "application/json")
                    .body(body.to_string())?,
            ),
            None => self.agent.run(request.body(())?),
        }
        .with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    fn expect(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        status: u16,
    ) -> anyhow::Result<Value> {
        let (got, answer) = self.call(method, path, token, body)?;
        ensure!(
            got == status,
            "{method} {path} answered {got}, expected {status}: {answer}"
        );
        Ok(answer)
    }
}

/// Runs the suite against `target`; never stops at the first failed check, so the report says
/// everything that is wrong at once.
pub fn run(target: &Target) -> Report {
    let secret = target.secret.as_deref();
    let http = Http::new(&target.url);
    let mut report = Report { checks: Vec::new() };
    // The frontend's `/readyz` answers for the backend behind it; `--service name=URL` adds others.
    let mut services = vec![("frontend".to_string(), target.url.clone())];
    services.extend(target.services.iter().cloned());
    for (name, base) in &services {
        let service = Http::new(base);
        for probe in ["healthz", "readyz"] {
            report.check(&format!("{name} /{probe}"), || {
                service.expect("GET", &format!("/{probe}"), None, None, 200)?;
                Ok(base.clone())
            });
        }
    }

    let email = format!("verify-{}@example.com", random_hex(6));
    let password = format!("verify-{}", random_hex(8));
    let mut session: Option<(String, String)> = None;
    report.check("sign up", || {
        let answer = http.expect(
            "POST",
            "/api/auth/sign-up",
            None,
            Some(json!({"email": email, "password": password, "name": "Verify"})),
            201,
        )?;
        Ok(format!("user {}", answer["user"]["id"].as_str().unwrap_or("?")))
    });
    report.check("sign in", || {
        let answer = http.expect(
            "POST",
            "/api/auth/sign-in",
            None,
            Some(json!({"email": email, "password": password})),
            200,
        )?;
        let token = answer["token"].as_str().context("no token")?.to_string();
        let user = answer["user"]["id"].as_str().context("no user id")?.to_string();
        session = Some((token, user));
        Ok("token issued".into())
    });
    let Some((token, user)) = session else {
        return report;
    };
    let tasks = format!("/api/{user}/tasks");

    for (what, bad) in [
        ("no token", None),
        ("a malformed token", Some("not-a-jwt".to_string())),
        ("an expired token", Some(expired_token(&user, secret))),
    ] {
        report.check(&format!("API refuses {what} (401)"), || {
            let answer = http.expect("GET", &tasks, bad.as_deref(), None, 401)?;
            Ok(answer["error"]["code"].as_str().unwrap_or("?").to_string())
        });
    }

    let mut created: Vec<i64> = Vec::new();
    let mut task_id = None;
    report.check("create a task", || {
        let task = http.expect(
            "POST",
            &tasks,
            Some(&token),
            Some(json!({"title": "Verify: buy milk"})),
            201,
        )?;
        let id = task["id"].as_i64().context("no id")?;
        created.push(id);
        task_id = Some(id);
        Ok(format!("task {id}"))
    });
    if let Some(id) = task_id {
        report.check("list tasks", || {
            let list = http.expect("GET", &tasks, Some(&token), None, 200)?;
            ensure!(
                list.as_array().is_some_and(|l| l.iter().any(|t| t["id"] == id)),
                "task {id} not listed"
            );
            Ok("the new task is listed".into())
        });
        report.check("update a task", || {
            let task = http.expect(
                "PUT",
                &format!("{tasks}/{id}"),
                Some(&token),
                Some(json!({"title": "Verify: buy oat milk"})),
                200,
            )?;
            ensure!(task["title"] == "Verify: buy oat milk", "title not changed: {task}");
            Ok("title changed".into())
        });
        report.check("complete a task", || {
            let task = http.expect("PATCH", &format!("{tasks}/{id}/complete"), Some(&token), None, 200)?;
            ensure!(task["completed"] == true, "not completed: {task}");
            Ok("completed".into())
        });
        report.check("delete a task", || {
            http.expect("DELETE", &format!("{tasks}/{id}"), Some(&token), None, 204)?;
            http.expect("GET", &format!("{tasks}/{id}"), Some(&token), None, 404)?;
            created.retain(|t| *t != id);
            Ok("gone".into())
        });
    }

    let title = format!("verify chat {}", random_hex(3));
    report.check("chat creates a task (agent → MCP → database)", || {
        let reply = http.expect(
            "POST",
            &format!("/api/{user}/chat"),
            Some(&token),
            Some(json!({"message": format!("add {title}")})),
            200,
        )?;
        let call = reply["tool_calls"]
            .as_array()
            .and_then(|calls| calls.iter().find(|c| c["name"] == "add_task" && c["is_error"] == false))
            .with_context(|| format!("no successful add_task call in the reply: {reply}"))?;
        let id = call["result"]["task_id"]
            .as_i64()
            .context("add_task returned no task id")?;
        created.push(id);
        let task = http.expect("GET", &format!("{tasks}/{id}"), Some(&token), None, 200)?;
        ensure!(
            task["title"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(&title)),
            "the REST API shows {task}"
        );
        Ok(format!("task {id} visible through REST"))
    });

    report.check("latency: p95 of 50 API calls", || {
        let mut took: Vec<Duration> = (0..LATENCY_CALLS)
            .map(|_| {
                let started = Instant::now();
                http.expect("GET", &tasks, Some(&token), None, 200)
                    .map(|_| started.elapsed())
            })
            .collect::<anyhow::Result<_>>()?;
        took.sort_unstable();
        let p95 = took[(LATENCY_CALLS * 95).div_ceil(100) - 1];
        ensure!(
            p95 <= LATENCY_P95_BUDGET,
            "p95 {p95:?} is over the {LATENCY_P95_BUDGET:?} budget"
        );
        Ok(format!("p95 {:.1} ms (budget 500 ms)", p95.as_secs_f64() * 1000.0))
    });

    if let Some(mcp) = &target.mcp {
        report.check("MCP tools/list (with the user's token)", || {
            let tools = mcp::list_tools(mcp, &token)?;
            let missing: Vec<&str> = mcp::EXPECTED_TOOLS
                .iter()
                .filter(|t| !tools.iter().any(|have| have == *t))
                .copied()
                .collect();
            ensure!(missing.is_empty(), "the server lists {tools:?}, without {missing:?}");
            Ok(format!("{} tools: {}", tools.len(), tools.join(", ")))
        });
    }

    report.check("clean up", || {
        for id in &created {
            http.expect("DELETE", &format!("{tasks}/{id}"), Some(&token), None, 204)?;
        }
        http.expect("DELETE", "/api/auth/me", Some(&token), None, 204)?;
        let signed_in = json!({"email": email, "password": password});
        http.expect("POST", "/api/auth/sign-in", None, Some(signed_in), 401)?;
        Ok(format!("{} tasks and the account deleted", created.len()))
    });
    report
}

/// A token for `user` that expired an hour ago: signed with the deployment's secret when known
/// (then only its expiry is wrong), else with a random key.
fn expired_token(user: &str, secret: Option<&str>) -> String {
    let secret = secret.map_or_else(|| random_hex(32), str::to_string);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let claims =
        json!({"sub": user, "iat": now - 7200, "exp": now - 3600, "iss": "todo-chatbot", "aud": "todo-chatbot"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_else(|_| "expired".into())
}
