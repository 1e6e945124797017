//! Small axum servers on 127.0.0.1 standing in for the services genim talks to over HTTP: an
//! OpenAI-compatible images API, Black Forest Labs' API and a Kubo RPC API. Each records every
//! request and can be told to fail, per route and in order ([`MockServer::fail_next`]) or for a
//! given prompt ([`MockServer::fail_prompt`]), in the ways the real services do ([`Fault`]).
//! [`refused_url`] is a URL where nothing listens (connection refused).
//!
//! ```ignore
//! let api = MockServer::openai(png).await;
//! api.fail_next(Route::Generate, [Fault::ServerError(503)]);
//! // generator at api.url(): the first call gets a 503, the next one an image
//! ```

#![allow(dead_code)] // Each test module uses a different part.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use reqwest::Url;
use serde_json::{Value, json};
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

/// How a call fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status (5xx) with a JSON error body.
    ServerError(u16),
    /// An HTML error page with this status, as a proxy in front of the service sends.
    HtmlPage(u16),
    /// 429 with `Retry-After` in seconds.
    RateLimited { retry_after: u64 },
    /// A content-policy refusal: OpenAI's 400 `content_policy_violation`; BFL's task ends
    /// `Content Moderated`.
    ContentPolicy,
    /// A 400 for this request (OpenAI's `invalid_request_error`).
    BadRequest,
    /// 401: the key is wrong.
    Unauthorized,
    /// 404: unknown model (OpenAI's `model_not_found`).
    UnknownModel,
    /// 200 with a PNG cut in the middle of its data (OpenAI answer, BFL download).
    InvalidImage,
    /// BFL's task ends with status `Error`.
    TaskFailed,
    /// The IPFS node answers with the CID of other bytes.
    CidMismatch,
    /// Answers only after this long (then normally).
    Slow(Duration),
}

/// What a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// OpenAI `images/generations`, BFL submit.
    Generate,
    /// BFL `get_result`.
    Poll,
    /// An image download (OpenAI `url` answers, BFL samples).
    Download,
    /// IPFS `add`.
    Add,
    /// IPFS `cat`.
    Cat,
    Other,
}

/// A request as the mock saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub route: Route,
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    OpenAi,
    Bfl,
    Ipfs,
}

struct Shared {
    kind: Kind,
    base: String,
    image: Bytes,
    /// OpenAI: answer with a `url` instead of `b64_json`.
    answer_url: Mutex<bool>,
    /// BFL: polls answered `Pending` before a task is done.
    pending_polls: Mutex<usize>,
    /// BFL: a `polling_url` other than the mock's own.
    polling_url: Mutex<Option<String>>,
    requests: Mutex<Vec<Recorded>>,
    faults: Mutex<HashMap<Route, VecDeque<Fault>>>,
    prompt_faults: Mutex<HashMap<String, Fault>>,
    /// BFL task id -> (polls so far, how it ends).
    tasks: Mutex<HashMap<String, (usize, Option<Fault>)>>,
    /// IPFS CID -> bytes.
    blobs: Mutex<HashMap<String, Bytes>>,
}

/// A running mock. Dropping it stops the server.
pub struct MockServer {
    url: Url,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// An OpenAI-compatible images API that answers every generation with `image` in
    /// `b64_json` (at any base path: `/v1/images/generations`, `/x/v1/images/generations`).
    pub async fn openai(image: impl Into<Bytes>) -> Self {
        Self::start(Kind::OpenAi, image.into()).await
    }

    /// Black Forest Labs' API: `POST /v1/{model}` gives a task, `GET /v1/get_result?id=` is
    /// `Pending` for [`pending_polls`](Self::pending_polls) polls (default 0) and then `Ready`
    /// with a sample URL on the mock that serves `image`.
    pub async fn bfl(image: impl Into<Bytes>) -> Self {
        Self::start(Kind::Bfl, image.into()).await
    }

    /// A Kubo RPC API (`/api/v0/add`, `/api/v0/cat`) keeping what it is given in memory,
    /// with Kubo's CIDs.
    pub async fn ipfs() -> Self {
        Self::start(Kind::Ipfs, Bytes::new()).await
    }

    async fn start(kind: Kind, image: Bytes) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            kind,
            base: base.clone(),
            image,
            answer_url: Mutex::new(false),
            pending_polls: Mutex::new(0),
            polling_url: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(HashMap::new()),
            prompt_faults: Mutex::new(HashMap::new()),
            tasks: Mutex::new(HashMap::new()),
            blobs: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: Url::parse(&base).unwrap(),
            shared,
            task,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> Url {
        self.url.clone()
    }

    /// The base URL without the trailing slash.
    pub fn base(&self) -> &str {
        &self.shared.base
    }

    /// The next calls of `route` fail with `faults`, one each, in order; later ones work.
    pub fn fail_next(&self, route: Route, faults: impl IntoIterator<Item = Fault>) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .entry(route)
            .or_default()
            .extend(faults);
    }

    /// Every generation for `prompt` fails with `fault`.
    pub fn fail_prompt(&self, prompt: &str, fault: Fault) {
        self.shared
            .prompt_faults
            .lock()
            .unwrap()
            .insert(prompt.to_string(), fault);
    }

    /// Generations for every prompt work again.
    pub fn clear_prompt_faults(&self) {
        self.shared.prompt_faults.lock().unwrap().clear();
    }

    /// OpenAI: answer with a download `url` instead of `b64_json`.
    pub fn answer_with_url(&self) {
        *self.shared.answer_url.lock().unwrap() = true;
    }

    /// BFL: `Pending` polls before a task is ready.
    pub fn pending_polls(&self, polls: usize) {
        *self.shared.pending_polls.lock().unwrap() = polls;
    }

    /// BFL: the `polling_url` handed out for new tasks.
    pub fn polling_url(&self, url: &str) {
        *self.shared.polling_url.lock().unwrap() = Some(url.to_string());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests of `route` so far.
    pub fn requests_to(&self, route: Route) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.route == route)
            .collect()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused.
pub async fn refused_url() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    Url::parse(&url).unwrap()
}

/// A PNG cut in the middle of its pixel data: the header still reads fine.
pub fn truncated_png(image: &[u8]) -> Vec<u8> {
    image[..image.len() * 2 / 3].to_vec()
}

fn route_of(kind: Kind, method: &Method, path: &str) -> Route {
    let get = method == Method::GET;
    match kind {
        Kind::OpenAi if !get && path.ends_with("/images/generations") => Route::Generate,
        Kind::Bfl if get && path.starts_with("/v1/get_result") => Route::Poll,
        Kind::Bfl if !get && path.starts_with("/v1/") => Route::Generate,
        Kind::OpenAi | Kind::Bfl if get && path.starts_with("/files/") => Route::Download,
        Kind::Ipfs if path.starts_with("/api/v0/add") => Route::Add,
        Kind::Ipfs if path.starts_with("/api/v0/cat") => Route::Cat,
        _ => Route::Other,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.to_string());
    let route = route_of(shared.kind, &method, uri.path());
    let recorded = Recorded {
        route,
        method,
        path,
        headers,
        body,
    };
    shared.requests.lock().unwrap().push(recorded.clone());

    let prompt = (route == Route::Generate)
        .then(|| serde_json::from_slice::<Value>(&recorded.body).ok())
        .flatten()
        .and_then(|v| v["prompt"].as_str().map(str::to_string));
    let by_prompt = prompt.and_then(|p| shared.prompt_faults.lock().unwrap().get(&p).cloned());
    let mut fault = by_prompt.or_else(|| {
        shared
            .faults
            .lock()
            .unwrap()
            .get_mut(&route)
            .and_then(VecDeque::pop_front)
    });
    if let Some(Fault::Slow(delay)) = fault {
        tokio::time::sleep(delay).await;
        fault = None;
    }
    match fault {
        Some(fault) => failure(&shared, route, &recorded, fault),
        None => answer(&shared, route, &recorded, None),
    }
}

fn json_reply(status: u16, value: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(value)).into_response()
}

/// The answer of a failing call.
fn failure(shared: &Shared, route: Route, request: &Recorded, fault: Fault) -> Response {
    let openai_error = |status: u16, code: &str, message: &str| {
        json_reply(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
        )
    };
    match fault {
        Fault::ServerError(status) => match shared.kind {
            Kind::Ipfs => json_reply(status, json!({"Message": "mock failure", "Code": 0})),
            Kind::Bfl => json_reply(status, json!({"detail": "mock failure"})),
            Kind::OpenAi => json_reply(status, json!({"error": {"message": "mock failure"}})),
        },
        Fault::HtmlPage(status) => (
            StatusCode::from_u16(status).unwrap(),
            [(header::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html>\n<html><head><title>Bad Gateway</title></head>\n\
             <body><h1>502 Bad Gateway</h1><hr>nginx</body></html>\n",
        )
            .into_response(),
        Fault::RateLimited { retry_after } => {
            let mut reply = json_reply(429, json!({"error": {"message": "Rate limit reached"}}));
            reply.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after.to_string()).unwrap(),
            );
            reply
        }
        Fault::ContentPolicy if shared.kind == Kind::Bfl => {
            answer(shared, route, request, Some(Fault::ContentPolicy))
        }
        Fault::ContentPolicy => openai_error(
            400,
            "content_policy_violation",
            "Your request was rejected as a result of our safety system.",
        ),
        Fault::BadRequest => openai_error(400, "invalid_value", "Invalid value for 'size'."),
        Fault::Unauthorized => match shared.kind {
            Kind::Bfl => json_reply(401, json!({"detail": "Not authenticated"})),
            _ => openai_error(
                401,
                "invalid_api_key",
                "Incorrect API key provided: sk-te***.",
            ),
        },
        Fault::UnknownModel => openai_error(
            404,
            "model_not_found",
            "The model `nope` does not exist or you do not have access to it.",
        ),
        Fault::TaskFailed | Fault::InvalidImage | Fault::CidMismatch => {
            answer(shared, route, request, Some(fault))
        }
        Fault::Slow(_) => unreachable!("handled before"),
    }
}

/// The answer of a working call; `outcome` bends it (a BFL task's end, an invalid image, a
/// wrong CID).
fn answer(shared: &Shared, route: Route, request: &Recorded, outcome: Option<Fault>) -> Response {
    let base = &shared.base;
    let image = |outcome: &Option<Fault>| match outcome {
        Some(Fault::InvalidImage) => Bytes::from(truncated_png(&shared.image)),
        _ => shared.image.clone(),
    };
    match (shared.kind, route) {
        (Kind::OpenAi, Route::Generate) => {
            if *shared.answer_url.lock().unwrap() && outcome.is_none() {
                let url = format!("{base}/files/image.png?sig=abc");
                return json_reply(200, json!({"created": 0, "data": [{"url": url}]}));
            }
            let b64 = data_encoding::BASE64.encode(&image(&outcome));
            json_reply(200, json!({"created": 0, "data": [{"b64_json": b64}]}))
        }
        (Kind::OpenAi | Kind::Bfl, Route::Download) => {
            ([(header::CONTENT_TYPE, "image/png")], image(&outcome)).into_response()
        }
        (Kind::Bfl, Route::Generate) => {
            let mut tasks = shared.tasks.lock().unwrap();
            let id = format!("task-{}", tasks.len() + 1);
            tasks.insert(id.clone(), (0, outcome));
            let polling_url = shared
                .polling_url
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| format!("{base}/v1/get_result?id={id}"));
            json_reply(200, json!({"id": id, "polling_url": polling_url}))
        }
        (Kind::Bfl, Route::Poll) => {
            let id = request
                .path
                .split_once("id=")
                .map(|(_, id)| id.to_string())
                .unwrap_or_default();
            let pending = *shared.pending_polls.lock().unwrap();
            let mut tasks = shared.tasks.lock().unwrap();
            let Some((polls, end)) = tasks.get_mut(&id) else {
                return json_reply(200, json!({"id": id, "status": "Task not found"}));
            };
            *polls += 1;
            let end = outcome.or_else(|| end.clone());
            if *polls <= pending {
                return json_reply(200, json!({"id": id, "status": "Pending"}));
            }
            match end {
                Some(Fault::ContentPolicy) => json_reply(
                    200,
                    json!({"id": id, "status": "Content Moderated",
                           "details": {"Moderation Reasons": ["mock"]}}),
                ),
                Some(Fault::TaskFailed) => json_reply(200, json!({"id": id, "status": "Error"})),
                _ => {
                    let sample = format!("{base}/files/{id}.png?se=1&sig=x");
                    json_reply(
                        200,
                        json!({"id": id, "status": "Ready", "result": {"sample": sample}}),
                    )
                }
            }
        }
        (Kind::Ipfs, Route::Add) => {
            let Some(file) = multipart_file(request) else {
                return json_reply(400, json!({"Message": "no file part", "Code": 0}));
            };
            let cid = genim::cid::cid_v1(&file);
            let shown = match outcome {
                Some(Fault::CidMismatch) => genim::cid::cid_v1(b"other bytes"),
                _ => cid.clone(),
            };
            let size = file.len();
            shared.blobs.lock().unwrap().insert(cid, file);
            json_reply(
                200,
                json!({"Name": "file", "Hash": shown, "Size": size.to_string()}),
            )
        }
        (Kind::Ipfs, Route::Cat) => {
            let cid = request
                .path
                .split_once("arg=")
                .map(|(_, rest)| rest.split('&').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            match shared.blobs.lock().unwrap().get(&cid) {
                Some(bytes) => bytes.clone().into_response(),
                None => json_reply(
                    500,
                    json!({"Message": "context deadline exceeded", "Code": 0, "Type": "error"}),
                ),
            }
        }
        _ => json_reply(
            404,
            json!({"error": {"message": "no such route"}, "detail": "Not Found"}),
        ),
    }
}

/// The content of the first part of a `multipart/form-data` body.
fn multipart_file(request: &Recorded) -> Option<Bytes> {
    let content_type = request.header("content-type")?;
    let boundary = content_type.split_once("boundary=")?.1.trim_matches('"');
    let body = &request.body[..];
    let find = |haystack: &[u8], needle: &[u8]| {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    };
    let start = find(body, b"\r\n\r\n")? + 4;
    let end = start + find(&body[start..], format!("\r\n--{boundary}").as_bytes())?;
    Some(Bytes::copy_from_slice(&body[start..end]))
}
