//! The web UI in real headless Chromium (Debian's chromium and chromedriver, driven over WebDriver
//! by fantoccini), against a running system: sign up, chat "add buy milk", see the reply and the
//! task, complete it from the chat, reload and find it persisted, sign out and back in.
//!
//! Screenshots land in `target/browser/`: the conversation, the page at the end, and the page at
//! the moment of any failure.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::local::api::free_port;
use crate::project::{random_hex, skip_or_fail, target_dir};

/// Debian's Chromium; `CHROME_BIN` names another (a hosted runner's Google Chrome).
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_binary() -> String {
    std::env::var("CHROME_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| CHROMIUM.to_string())
}
const WAIT: Duration = Duration::from_secs(20);

pub fn run(url: &str) -> anyhow::Result<()> {
    let Ok(driver_path) = which::which("chromedriver") else {
        return skip_or_fail(
            "the browser test",
            "chromedriver is not installed (apt-get install chromium chromium-driver)",
        );
    };
    let browser = browser_binary();
    if !std::path::Path::new(&browser).exists() {
        return skip_or_fail(
            "the browser test",
            &format!("{browser} is not there (apt-get install chromium, or set CHROME_BIN to a Chrome)"),
        );
    }
    println!("\n==> the web UI in headless Chromium against {url}");
    let driver = ChromeDriver::start(&driver_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let profile = tempfile::tempdir()?;
        let client = connect(driver.port, &profile.path().to_string_lossy()).await?;
        let outcome = scenario(&client, url).await;
        let shot = if outcome.is_ok() { "chat.png" } else { "failure.png" };
        let saved = save_screenshot(&client, shot).await;
        let _ = client.close().await;
        match (outcome, saved) {
            (Ok(()), Ok(path)) => {
                println!("browser test passed; screenshot: {}", path.display());
                Ok(())
            }
            (Ok(()), Err(e)) => Err(e.context("the browser test passed but its screenshot could not be saved")),
            (Err(e), Ok(path)) => Err(e.context(format!("browser test failed; screenshot: {}", path.display()))),
            (Err(e), Err(_)) => Err(e),
        }
    })
}

async fn scenario(client: &Client, url: &str) -> anyhow::Result<()> {
    let email = format!("browser-{}@example.com", random_hex(4));
    let password = "robin's browser passphrase";
    client.goto(url).await?;

    step("sign up", async {
        find(client, "#tab-sign-up").await?.click().await?;
        type_into(client, "#sign-up-name", "Robin").await?;
        type_into(client, "#sign-up-email", &email).await?;
        type_into(client, "#sign-up-password", password).await?;
        find(client, "#sign-up-form button[type=submit]").await?.click().await?;
        wait_text(client, "#who", "Signed in as Robin").await
    })
    .await?;

    step("chat: add buy milk", async {
        send_chat(client, "add buy milk").await?;
        wait_xpath(
            client,
            "//ol[@id='messages']/li[contains(@class,'assistant') and contains(., 'Added \"Buy milk\"')]//span[contains(@class,'chip') and contains(@class,'ok') and .='add_task']",
        )
        .await?;
        wait_xpath(client, "//ul[@id='task-list']/li[not(contains(@class,'done'))]/label[.='Buy milk']").await
    })
    .await?;

    step("chat: mark it done", async {
        send_chat(client, "mark it done").await?;
        wait_xpath(client, "//ol[@id='messages']/li[contains(., 'as done')]").await?;
        wait_xpath(
            client,
            "//ul[@id='task-list']/li[contains(@class,'done')]/label[.='Buy milk']",
        )
        .await?;
        save_screenshot(client, "conversation.png").await.map(drop)
    })
    .await?;

    step("reload: the task and the conversation persist", async {
        client.refresh().await?;
        wait_xpath(
            client,
            "//ul[@id='task-list']/li[contains(@class,'done')]/label[.='Buy milk']",
        )
        .await?;
        wait_xpath(client, "//ul[@id='conversation-list']//button[.='add buy milk']").await?;
        find(client, "#conversation-list button").await?.click().await?;
        wait_xpath(
            client,
            "//ol[@id='messages']/li[contains(@class,'user') and contains(., 'mark it done')]",
        )
        .await
    })
    .await?;

    step("sign out (the token stops working) and back in", async {
        let token = session_value(client, "token").await?;
        find(client, "#sign-out").await?.click().await?;
        wait_visible(client, "#sign-in-form").await?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let status = agent
            .get(&format!("{url}/api/auth/me"))
            .header("authorization", &format!("Bearer {token}"))
            .call()
            .context("GET /api/auth/me with the signed-out token")?
            .status()
            .as_u16();
        if status != 401 {
            bail!("the token of a signed-out session still answers {status}, not 401");
        }
        type_into(client, "#sign-in-email", &email).await?;
        type_into(client, "#sign-in-password", password).await?;
        find(client, "#sign-in-form button[type=submit]").await?.click().await?;
        wait_xpath(
            client,
            "//ul[@id='task-list']/li[contains(@class,'done')]/label[.='Buy milk']",
        )
        .await
    })
    .await?;

    step(
        "add a task from the task panel and complete it with the keyboard",
        async {
            type_into(client, "#task-title", "Water the plants\n").await?;
            wait_xpath(client, "//ul[@id='task-list']/li/label[.='Water the plants']").await?;
            let checkbox = find(client, "#task-list li:last-child input[type=checkbox]").await?;
            checkbox.send_keys(" ").await?;
            wait_xpath(
                client,
                "//ul[@id='task-list']/li[contains(@class,'done')]/label[.='Water the plants']",
            )
            .await
        },
    )
    .await?;

    step("chat: a tagged, dated, urgent task, then found with the filters", async {
        send_chat(client, "add a high priority task to pay rent by friday 5pm #bills").await?;
        let rent = "//ul[@id='task-list']/li[label[.='Pay rent']]";
        wait_xpath(
            client,
            &format!(
                "{rent}[.//span[contains(@class,'badge') and .='High priority']][.//button[contains(@class,'tag') and .='#bills']][.//time[starts-with(., 'Due ')]]"
            ),
        )
        .await?;
        type_into(client, "#filter-q", "rent").await?;
        wait_text(client, "#task-shown", "Showing 1 of 1 matching tasks.").await?;
        wait_xpath(client, rent).await?;
        find(client, "#filter-clear").await?.click().await?;
        wait_text(client, "#task-shown", "").await?;
        // A tag chip filters by its tag, from the keyboard too.
        find(client, "#task-list button.tag").await?.send_keys("\u{e007}").await?;
        wait_text(client, "#task-shown", "Showing 1 of 1 matching tasks.").await?;
        find(client, "#filter-clear").await?.click().await?;
        find(client, "#filter-priority").await?.select_by_value("high").await?;
        wait_text(client, "#task-shown", "Showing 1 of 1 matching tasks.").await?;
        find(client, "#filter-status").await?.select_by_value("completed").await?;
        wait_text(client, "#task-shown", "No tasks match these filters.").await?;
        save_screenshot(client, "filters.png").await.map(drop)
    })
    .await?;

    step("a long list comes a page at a time", async {
        let token = session_value(client, "token").await?;
        let user = session_value(client, "user.id").await?;
        for n in 1..=55 {
            ureq::post(&format!("{url}/api/{user}/tasks"))
                .header("authorization", &format!("Bearer {token}"))
                .send_json(json!({"title": format!("Seeded task {n}")}))
                .with_context(|| format!("adding seeded task {n}"))?;
        }
        find(client, "#filter-clear").await?.click().await?;
        wait_text(client, "#task-shown", "Showing 50 of 58 tasks.").await?;
        wait_xpath(client, "//ul[@id='task-list'][count(li)=50]").await?;
        find(client, "#task-more").await?.click().await?;
        wait_xpath(client, "//ul[@id='task-list'][count(li)=58]").await?;
        wait_xpath(client, "//ul[@id='task-list']/li[last()]/label[.='Seeded task 55']").await?;
        wait_text(client, "#task-counts", "(56 pending, 2 done)").await
    })
    .await
}

/// A string of the page's saved session (`token`, `user.id`), as the web UI keeps it.
async fn session_value(client: &Client, path: &str) -> anyhow::Result<String> {
    let script = format!("return JSON.parse(localStorage.getItem('todo-chatbot.session')).{path}");
    let value = client.execute(&script, vec![]).await?;
    value
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("no {path} in the page's session"))
}

async fn step(name: &str, body: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let started = Instant::now();
    body.await.with_context(|| format!("step \"{name}\""))?;
    println!("  ok  {name} ({} ms)", started.elapsed().as_millis());
    Ok(())
}

async fn find(client: &Client, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .with_context(|| format!("no element {css}"))
}

async fn type_into(client: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    let input = find(client, css).await?;
    input.clear().await?;
    input.send_keys(text).await?;
    Ok(())
}

async fn send_chat(client: &Client, message: &str) -> anyhow::Result<()> {
    type_into(client, "#chat-input", message).await?;
    find(client, "#chat-form button[type=submit]").await?.click().await?;
    Ok(())
}

async fn wait_xpath(client: &Client, xpath: &str) -> anyhow::Result<()> {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(xpath))
        .await
        .with_context(|| format!("nothing matched {xpath} within {WAIT:?}"))?;
    Ok(())
}

async fn wait_visible(client: &Client, css: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if find(client, css).await?.is_displayed().await? {
            return Ok(());
        }
        if started.elapsed() > WAIT {
            bail!("{css} did not become visible within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_text(client: &Client, css: &str, expected: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let text = find(client, css).await?.text().await?;
        if text.contains(expected) {
            return Ok(());
        }
        if started.elapsed() > WAIT {
            bail!("{css} shows {text:?}, expected {expected:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn save_screenshot(client: &Client, name: &str) -> anyhow::Result<PathBuf> {
    let dir = target_dir().join("browser");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, client.screenshot().await?)?;
    Ok(path)
}

async fn connect(port: u16, profile: &str) -> anyhow::Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": browser_binary(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,860", format!("--user-data-dir={profile}"),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .context("cannot open a Chromium session through chromedriver")
}

/// chromedriver on a free port, stopped when dropped.
struct ChromeDriver {
    port: u16,
    child: Child,
}

impl ChromeDriver {
    fn start(path: &std::path::Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start chromedriver")?;
        let driver = ChromeDriver { port, child };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not listen on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
