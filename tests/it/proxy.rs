//! An HTTP proxy in front of a JSON-RPC node or an API mock that can fail the way networks do:
//! refuse connections (nothing listens on its port), answer 502 with an HTML page (a load
//! balancer whose backend is gone), or reset connections (RST, kept-alive ones included), and
//! be switched back to forwarding.
//!
//! ```ignore
//! let proxy = FaultProxy::start(&chain.rpc_url()).await;
//! proxy.set(Fault::Refuse); // ... later
//! proxy.set(Fault::None);
//! ```

#![allow(dead_code)] // Each test module uses a different part.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    serve::Listener,
};
use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::Notify,
};

/// How the proxy answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwards every request.
    None,
    /// Connections are refused: the port is closed.
    Refuse,
    /// `502 Bad Gateway` with an HTML page.
    BadGateway,
    /// Connections are reset (RST), those already open included.
    Reset,
    /// JSON-RPC requests for this method are answered "method not found" (-32601), as by a
    /// node that lacks it; the rest is forwarded.
    UnknownMethod(&'static str),
}

struct Shared {
    target: String,
    client: reqwest::Client,
    fault: Mutex<Fault>,
    /// Bumped when faults start: connections opened before are reset.
    generation: AtomicU64,
    changed: Notify,
    forwarded: AtomicU64,
    unknown: AtomicU64,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
}

/// A running proxy; dropping it stops it.
pub struct FaultProxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 forwarding to `target` (a base URL).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            fault: Mutex::new(Fault::None),
            generation: AtomicU64::new(0),
            changed: Notify::new(),
            forwarded: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        });
        let switch = Switch {
            addr,
            listener: Some(listener),
            shared: shared.clone(),
        };
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(switch, app).await;
        });
        Self {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts (or ends, with [`Fault::None`]) a fault.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap() = fault;
        if matches!(fault, Fault::Refuse | Fault::BadGateway | Fault::Reset) {
            self.shared.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.shared.changed.notify_waiters();
    }

    /// Requests forwarded so far.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }

    /// Requests answered "method not found" so far ([`Fault::UnknownMethod`]).
    pub fn unknown(&self) -> u64 {
        self.shared.unknown.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.fault() == Fault::BadGateway {
        return (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n",
        )
            .into_response();
    }
    if let Fault::UnknownMethod(unknown) = shared.fault()
        && let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body)
        && request["method"] == unknown
    {
        shared.unknown.fetch_add(1, Ordering::SeqCst);
        let answer = serde_json::json!({
            "jsonrpc": "2.0",
            "id": request["id"],
            "error": {"code": -32601, "message": format!("the method {unknown} does not exist/is not available")},
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.target))
        .body(body);
    for name in [header::CONTENT_TYPE, header::AUTHORIZATION] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            let status = answer.status();
            let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = answer.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            if let Some(value) = content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
        }
        Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

/// The proxy's port: closed while refusing, resetting what it accepts while resetting.
struct Switch {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    shared: Arc<Shared>,
}

impl Switch {
    fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(128)
    }
}

impl Listener for Switch {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            let changed = self.shared.changed.notified();
            if self.shared.fault() == Fault::Refuse {
                self.listener = None;
                changed.await;
                continue;
            }
            if self.listener.is_none() {
                match Self::bind(self.addr) {
                    Ok(listener) => self.listener = Some(listener),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                }
            }
            let listener = self.listener.as_ref().expect("bound");
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = changed => continue,
            };
            let Ok((stream, peer)) = accepted else {
                continue;
            };
            if self.shared.fault() == Fault::Reset {
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            let generation = self.shared.generation.load(Ordering::SeqCst);
            return (
                Connection {
                    stream,
                    generation,
                    shared: self.shared.clone(),
                },
                peer,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// An accepted connection that breaks (with a RST) once a fault starts.
pub struct Connection {
    stream: TcpStream,
    generation: u64,
    shared: Arc<Shared>,
}

impl Connection {
    fn broken(&self) -> Option<io::Error> {
        if self.shared.generation.load(Ordering::SeqCst) == self.generation {
            return None;
        }
        let _ = self.stream.set_zero_linger();
        Some(io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(err) = self.broken() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(err) = self.broken() {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
