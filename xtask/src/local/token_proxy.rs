//! A local HTTP hop that adds `Authorization: Bearer <token>` to requests that carry none and
//! forwards everything else untouched (method, path, `Host`, `Origin`, body, streamed answers).
//!
//! Third-party MCP clients such as the conformance suite cannot send a header of their own, and
//! our MCP server refuses any request without a user's token. Passing `Host` and `Origin` through
//! unchanged keeps the server's DNS-rebinding checks under test.

use std::net::SocketAddr;
use std::thread;

use anyhow::Context as _;
use http::HeaderValue;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub struct TokenProxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TokenProxy {
    /// Listens on a free loopback port and forwards to `upstream` until dropped.
    pub fn start(upstream: SocketAddr, token: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let authorization = HeaderValue::from_str(&format!("Bearer {token}")).context("token is not a header value")?;
        let (stop, stopped) = oneshot::channel();
        let thread = thread::spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = accept_loop(listener, upstream, authorization) => {}
                    _ = stopped => {}
                }
            });
        });
        Ok(TokenProxy {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, authorization: HeaderValue) {
    while let Ok((stream, _)) = listener.accept().await {
        let authorization = authorization.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| forward(request, upstream, authorization.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    mut request: http::Request<Incoming>,
    upstream: SocketAddr,
    authorization: HeaderValue,
) -> anyhow::Result<http::Response<Incoming>> {
    request
        .headers_mut()
        .entry(http::header::AUTHORIZATION)
        .or_insert(authorization);
    // One upstream connection per request: simple, and the suites send few requests.
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender.send_request(request).await?)
}
