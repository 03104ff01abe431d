//! The host's HTTP API (axum): module list and commands, cluster commands and
//! maps, and `/modules/<name>/...` routed to each module's `handle-http`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{self, Access};
use crate::ha::Ha;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasm_mgr_cluster::command::{Signature, words_to_command};
use wasm_mgr_cluster::source::CommandDest;
use wasm_mgr_cluster::source::CommandOutput;
use wasm_mgr_runtime::HttpRequest;
use wasm_mgr_runtime::config::{Config, HttpLimits};
use wasm_mgr_runtime::module::{CallError, ModuleHandle, State as ModuleState};
use wasm_mgr_runtime::published::Page;
use wasm_mgr_runtime::{Installed, ModuleManager, ModuleOpError};

/// Largest request body accepted, API or module route.
pub const MAX_BODY: usize = 4 << 20;
/// Most usage lines a rejected cluster command is answered with.
const USAGE_LINES: usize = 50;

#[derive(Clone)]
struct Api {
    manager: Arc<ModuleManager>,
    /// The election, for a host in an HA group.
    ha: Option<Arc<Ha>>,
    /// What the host may hold of HTTP bodies, per module and for the API.
    buffers: Arc<Buffers>,
    /// The limits of the listener this router serves.
    limits: HttpLimits,
}

/// The bytes of HTTP bodies the host holds at once for each module (requests being
/// received, answers being sent), and for the API's own answers that are made per
/// request (`pg_dump`). Shared pages and maps are not counted: every reader shares
/// one copy. Counted in KiB.
pub struct Buffers {
    api: Arc<Semaphore>,
    api_limits: HttpLimits,
    limits: HashMap<String, HttpLimits>,
    default: HttpLimits,
    modules: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Bytes in permits of a [`Buffers`] semaphore (KiB, rounded up).
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// A body the host holds for a client, with its share of a budget; the share is
/// given back when the last reference to the bytes is dropped (once hyper has
/// written them), not when the handler returns.
struct Held<T> {
    data: T,
    _permit: OwnedSemaphorePermit,
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Held<T> {
    fn as_ref(&self) -> &[u8] {
        self.data.as_ref()
    }
}

/// A shared string (a cached cluster map) as the owner of response bytes.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Buffers {
    /// The budgets the config sets (it must pass [`Config::module_http_limits`]).
    pub fn new(config: &Config) -> Result<Buffers, String> {
        let mut limits = HashMap::new();
        for name in config.modules.keys() {
            let l = config
                .module_http_limits(name)
                .map_err(|e| format!("[modules.{name}] {e}"))?;
            limits.insert(name.clone(), l);
        }
        let api_limits = config
            .api_http_limits()
            .map_err(|e| format!("[host] {e}"))?;
        Ok(Buffers {
            api: Arc::new(Semaphore::new(kib(api_limits.response_buffer))),
            api_limits,
            limits,
            default: config
                .module_http_limits("")
                .map_err(|e| format!("[host] {e}"))?,
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// Module `name`'s HTTP limits.
    pub fn limits(&self, name: &str) -> HttpLimits {
        self.limits.get(name).copied().unwrap_or(self.default)
    }

    /// The API listener's limits.
    pub fn api_limits(&self) -> HttpLimits {
        self.api_limits
    }

    fn module(&self, name: &str) -> Arc<Semaphore> {
        let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
        modules
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(kib(self.limits(name).response_buffer))))
            .clone()
    }

    /// A share of `budget` (of `total` bytes) for `bytes` more; a body larger than
    /// the whole budget needs all of it.
    fn take(budget: &Arc<Semaphore>, total: usize, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let n = kib(bytes).min(kib(total)) as u32;
        budget.clone().try_acquire_many_owned(n).ok()
    }

    /// `data` as a response body counted against `budget`, or why the budget is
    /// used up (for a 503).
    fn hold<T>(budget: &Arc<Semaphore>, total: usize, whose: &str, data: T) -> Result<Body, String>
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        match Self::take(budget, total, data.as_ref().len()) {
            Some(permit) => Ok(Body::from(Bytes::from_owner(Held {
                data,
                _permit: permit,
            }))),
            None => Err(format!(
                "{whose}: {} KiB of answers are waiting for clients to read them (at most {} KiB); try again",
                kib(total) - budget.available_permits().min(kib(total)),
                kib(total)
            )),
        }
    }
}

/// 503 with `retry-after`, for a budget or cap that is used up for now.
fn busy(message: String) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

impl Api {
    /// This host's role and the active host (a host alone is always active).
    fn ha_status(&self) -> crate::ha::Status {
        match &self.ha {
            Some(ha) => ha.status(),
            None => crate::ha::Status::alone(&self.manager.services.mgr_id),
        }
    }
}

/// The router for the whole API. `/api/...` and the host's `/metrics` follow
/// `access`; `/modules/<name>/...` is each module's own HTTP.
pub fn router(
    manager: Arc<ModuleManager>,
    ha: Option<Arc<Ha>>,
    access: Access,
    buffers: Arc<Buffers>,
) -> Router {
    let limits = buffers.api_limits();
    let api = Api {
        manager,
        ha,
        buffers,
        limits,
    };
    // What only the active host does: it runs the modules and writes the store.
    let active_routes = Router::new()
        .route("/api/modules/{name}/command", post(module_command))
        .route("/api/modules/{name}/enable", post(enable_module))
        .route("/api/modules/{name}/disable", post(disable_module))
        .route("/api/modules/{name}/reload", post(reload_module))
        .route("/api/modules/{name}/option", post(set_module_option))
        .route("/api/ceph", post(ceph_command))
        .route("/api/crash/archive-all", post(archive_crashes))
        .route("/api/step-down", post(step_down))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            active_only,
        ));
    let host_routes = Router::new()
        .merge(active_routes)
        .route("/api/status", get(host_status))
        .route("/api/modules", get(list_modules))
        .route("/api/modules/{name}", get(show_module))
        .route("/api/crash", get(list_crashes))
        .route("/api/cluster/{name}", get(cluster_get))
        .route("/metrics", get(host_metrics))
        .route_layer(axum::middleware::from_fn_with_state(access, auth::require));
    Router::new()
        .merge(host_routes)
        .route("/modules/{name}", any(module_http))
        .route("/modules/{name}/", any(module_http))
        .route("/modules/{name}/{*rest}", any(module_http))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// Answers a standby's requests for what only the active does: 503, saying where
/// the active host is (as ceph-mgr's standby modules point to the active one).
fn standby(api: &Api) -> Response {
    let status = api.ha_status();
    let message = match &status.active {
        Some(a) => format!(
            "this host is a standby; the active manager is {} at {}",
            a.id, a.api
        ),
        None => "this host is a standby; no active manager is known yet".to_string(),
    };
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({ "error": message, "role": status.role, "active": status.active })),
    )
        .into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

async fn active_only(
    State(api): State<Api>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    if !api.manager.services.gate.is_open() {
        return standby(&api);
    }
    next.run(request).await
}

async fn step_down(State(api): State<Api>) -> Response {
    match &api.ha {
        None => error(
            StatusCode::CONFLICT,
            "this host runs alone (no --ha-dir or --ha-pool): there is no standby to hand over to",
        ),
        Some(ha) => match ha.request_step_down() {
            Ok(()) => axum::Json(json!({"result": "stepping down"})).into_response(),
            Err(e) => error(StatusCode::CONFLICT, format!("{e:#}")),
        },
    }
}

async fn host_status(State(api): State<Api>) -> Response {
    axum::Json(api.ha_status()).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

fn call_error(e: CallError) -> Response {
    let status = match e {
        CallError::Trapped(_) => StatusCode::INTERNAL_SERVER_ERROR,
        CallError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        CallError::NotRunning(_) | CallError::Busy => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

async fn list_crashes(State(api): State<Api>) -> Response {
    axum::Json(api.manager.services.health.recent_crashes()).into_response()
}

async fn archive_crashes(State(api): State<Api>) -> Response {
    let n = api.manager.services.health.archive_crashes();
    axum::Json(json!({"archived": n})).into_response()
}

async fn list_modules(State(api): State<Api>) -> Response {
    axum::Json(api.manager.rows()).into_response()
}

/// The answer to enable/disable/reload: what happened, or why not (404 for an
/// unknown module, 409 when its state does not allow it, 422 when the file failed).
fn module_op(name: &str, outcome: Result<&'static str, ModuleOpError>) -> Response {
    match outcome {
        Ok(done) => axum::Json(json!({"module": name, "result": done})).into_response(),
        Err(ModuleOpError::NotFound(m)) => error(StatusCode::NOT_FOUND, m),
        Err(ModuleOpError::Conflict(m)) => error(StatusCode::CONFLICT, m),
        Err(ModuleOpError::Invalid(m)) => error(StatusCode::BAD_REQUEST, m),
        Err(e @ ModuleOpError::Failed(_)) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    }
}

fn installed(i: &Installed) -> &'static str {
    match i {
        Installed::Started(..) => "started",
        Installed::Replaced(..) => "reloaded",
        Installed::Unchanged(_) => "already running",
        Installed::Disabled(_) => "disabled",
    }
}

async fn enable_module(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let outcome = api.manager.enable(&name).await;
    module_op(&name, outcome.map(|i| installed(&i)))
}

async fn disable_module(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let outcome = api.manager.disable(&name).await;
    module_op(&name, outcome.map(|()| "disabled"))
}

async fn reload_module(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let outcome = api.manager.reload(&name).await;
    module_op(&name, outcome.map(|i| installed(&i)))
}

/// The body of `POST /api/modules/<name>/option`: `value` null clears it.
#[derive(Deserialize)]
struct OptionBody {
    name: String,
    value: Option<String>,
}

async fn set_module_option(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<axum::Json<OptionBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let axum::Json(body) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let outcome = api
        .manager
        .set_option(&name, &body.name, body.value.as_deref())
        .await;
    module_op(&name, outcome.map(|i| installed(&i)))
}

async fn show_module(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match api.manager.services.registry.get(&name) {
        Some(m) => {
            let status = serde_json::to_value(m.status()).unwrap_or_default();
            let commands: Vec<Value> = m
                .info
                .commands
                .iter()
                .map(|c| json!({"cmd": c.cmd, "desc": c.desc, "perm": c.perm}))
                .collect();
            axum::Json(json!({
                "status": status,
                "description": m.info.description,
                "commands": commands,
                "options": m.info.options.iter().map(|o| o.name.clone()).collect::<Vec<_>>(),
                "options_set": api.manager.set_options(&name).unwrap_or_default(),
                "http": m.info.http,
            }))
            .into_response()
        }
        None => error(StatusCode::NOT_FOUND, format!("no module `{name}`")),
    }
}

/// A command given as words (`["osd", "status", "--format", "json"]`) or as ceph's
/// JSON dict, with optional input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    #[serde(default)]
    words: Option<Vec<String>>,
    #[serde(default)]
    command: Option<Value>,
    #[serde(default)]
    inbuf: String,
}

impl CommandBody {
    /// ceph's JSON dict for this body, or a 400 answer saying why there is none.
    fn dict(&self, sigs: &[Signature]) -> Result<Value, Value> {
        match (&self.words, &self.command) {
            (Some(words), None) => words_to_command(sigs, words).map_err(|e| {
                // The commands that start like the words (a real cluster has hundreds).
                let first = words.first().map(String::as_str).unwrap_or("");
                let related: Vec<String> = sigs
                    .iter()
                    .filter(|s| s.words.first().map(String::as_str) == Some(first))
                    .map(|s| s.to_string())
                    .collect();
                let usage = if related.is_empty() {
                    sigs.iter()
                        .take(USAGE_LINES)
                        .map(|s| s.to_string())
                        .collect()
                } else {
                    related
                };
                json!({"error": e, "usage": usage})
            }),
            (None, Some(dict)) if dict.get("prefix").and_then(Value::as_str).is_some() => {
                Ok(dict.clone())
            }
            (None, Some(_)) => Err(json!({
                "error": "command must be a JSON object with a \"prefix\" string"
            })),
            _ => Err(json!({"error": "give exactly one of \"words\" or \"command\""})),
        }
    }
}

impl CommandBody {
    /// Whether the words are just `help`.
    fn is_help(&self) -> bool {
        self.words.as_deref() == Some(&["help".to_string()][..])
    }
}

/// `help`: every command the target understands, one per line.
fn help(sigs: &[Signature]) -> CommandOutput {
    let mut lines: Vec<String> = sigs.iter().map(|s| s.to_string()).collect();
    lines.sort();
    CommandOutput::ok(lines.join("\n") + "\n", "")
}

fn bad_request(body: Value) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn result_json(r: CommandOutput) -> Response {
    axum::Json(json!({"retval": r.retval, "stdout": r.stdout, "stderr": r.stderr})).into_response()
}

async fn module_command(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Result<axum::Json<CommandBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let Some(module) = api.manager.services.registry.get(&name) else {
        return absent(&api, &name);
    };
    if body.is_help() {
        return result_json(help(&module.signatures));
    }
    let dict = match body.dict(&module.signatures) {
        Ok(d) => d,
        Err(e) => return bad_request(e),
    };
    if wasm_mgr_cluster::command::find_by_prefix(&module.signatures, &dict).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!("module `{name}` has no command `{}`", dict["prefix"]),
        );
    }
    let command = dict.to_string();
    // Checked against the receiver's limit before it crosses.
    if let Err(e) = module.check_input(command.len() + body.inbuf.len()) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, e);
    }
    let answer = on_current(&api, module, |m| {
        let (command, inbuf) = (command.clone(), body.inbuf.clone());
        async move { m.command(command, inbuf).await }
    })
    .await;
    match answer {
        Ok(r) => result_json(r),
        Err(e) => call_error(e),
    }
}

/// Calls `module`; if a reload replaced it just before the call reached it, calls
/// its successor instead, so that a reload loses no request.
async fn on_current<T, F, Fut>(
    api: &Api,
    module: Arc<ModuleHandle>,
    call: F,
) -> Result<T, CallError>
where
    F: Fn(Arc<ModuleHandle>) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    match call(module.clone()).await {
        Err(CallError::NotRunning(why)) => match api.manager.services.registry.get(&module.name) {
            Some(next) if !Arc::ptr_eq(&next, &module) => call(next).await,
            _ => Err(CallError::NotRunning(why)),
        },
        other => other,
    }
}

async fn ceph_command(
    State(api): State<Api>,
    body: Result<axum::Json<CommandBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let body = match body {
        Ok(axum::Json(b)) => b,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let source = api.manager.services.router.source();
    let mon = source.commands(CommandDest::Mon);
    let mgr = source.commands(CommandDest::Mgr);
    if body.is_help() {
        let all: Vec<Signature> = mon
            .signatures()
            .iter()
            .chain(mgr.signatures())
            .cloned()
            .collect();
        return result_json(help(&all));
    }
    // Words go to the monitors when they know the command, else to the manager.
    let dict = match body.dict(mon.signatures()) {
        Ok(d) => d,
        Err(e) => match body.dict(mgr.signatures()) {
            Ok(d) if !mgr.signatures().is_empty() => d,
            _ => return bad_request(e),
        },
    };
    let dest = if mon.perm(&dict).is_none() && mgr.perm(&dict).is_some() {
        CommandDest::Mgr
    } else {
        CommandDest::Mon
    };
    let out = source.command(dest, &dict, &body.inbuf).await;
    result_json(out)
}

/// A cluster map as JSON. Cached maps are shared by every reader; those made per
/// request (`pg_dump`, `pg_stats`) count against the API's answer budget, so that
/// clients that do not read cannot make the host hold one copy each without bound.
async fn cluster_get(State(api): State<Api>, Path(name): Path<String>) -> Response {
    let snapshot = api.manager.services.cluster.snapshot();
    let body = if matches!(name.as_str(), "pg_dump" | "pg_stats") {
        match snapshot.get_json(&name) {
            Ok(text) => Buffers::hold(
                &api.buffers.api,
                api.buffers.api_limits.response_buffer,
                "the API",
                text,
            ),
            Err(e) => return error(StatusCode::NOT_FOUND, e.to_string()),
        }
    } else {
        match snapshot.get_json_shared(&name) {
            Ok(text) => Ok(Body::from(Bytes::from_owner(SharedText(text)))),
            Err(e) => return error(StatusCode::NOT_FOUND, e.to_string()),
        }
    };
    match body {
        Ok(body) => (
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(why) => busy(why),
    }
}

/// Answers from a page the module published: the body is shared, not copied, and
/// gzip-compressed when the client accepts it and the compressed copy is ready.
fn published_response(page: &Page, head: bool, gzip_ok: bool) -> Response {
    let gzip = page.gzip.get().filter(|_| gzip_ok);
    let body = match (head, gzip) {
        (true, _) => Body::empty(),
        (false, Some(gz)) => Body::from(gz.clone()),
        (false, None) => Body::from(page.body.clone()),
    };
    let mut out = Response::new(body);
    if page.body.len() >= wasm_mgr_runtime::published::GZIP_FROM {
        out.headers_mut().insert(
            axum::http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
    }
    if gzip.is_some() {
        out.headers_mut().insert(
            axum::http::header::CONTENT_ENCODING,
            HeaderValue::from_static("gzip"),
        );
    }
    *out.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in &page.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

/// Most bytes of an oversized body read and discarded before answering 413, so
/// that the client is still reading when the answer comes.
const MAX_DISCARD: usize = 64 << 20;

/// Reads a request body of at most [`MAX_BODY`] bytes for module `name`; past
/// that, answers 413. What is kept counts against the module's body budget (503
/// when it is used up), and a client that sends nothing for the header timeout
/// gets 408.
async fn read_body(
    api: &Api,
    name: &str,
    body: Body,
) -> Result<(Vec<u8>, Option<OwnedSemaphorePermit>), Response> {
    use futures::StreamExt;
    let budget = api.buffers.module(name);
    let total = api.buffers.limits(name).response_buffer;
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    let mut seen = 0usize;
    loop {
        let next = tokio::time::timeout(api.limits.header_timeout, stream.next());
        let chunk = match next.await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                return Err(error(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body stalled for {:?}",
                        api.limits.header_timeout
                    ),
                ));
            }
        };
        let chunk: Bytes = chunk.map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
        seen += chunk.len();
        if seen <= MAX_BODY {
            // Whole KiB are taken as the body grows past them.
            let need = kib(data.len() + chunk.len());
            let have = held.as_ref().map_or(0, |p| p.num_permits());
            if need > have && need <= kib(total) {
                match Buffers::take(&budget, total, (need - have) * 1024) {
                    Some(p) => match &mut held {
                        Some(h) => h.merge(p),
                        None => held = Some(p),
                    },
                    None => {
                        return Err(busy(format!(
                            "module `{name}`: too many request bodies are being received \
                             (at most {} KiB at once); try again",
                            kib(total)
                        )));
                    }
                }
            }
            data.extend_from_slice(&chunk);
        } else if seen > MAX_DISCARD {
            break;
        }
    }
    if seen > MAX_BODY {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {seen}+ bytes is over the {MAX_BODY}-byte limit"),
        ));
    }
    Ok((data, held))
}

async fn host_metrics(State(api): State<Api>) -> Response {
    let stamp = api
        .manager
        .services
        .cluster
        .snapshot()
        .pg_summary
        .stamp
        .clone();
    let page = api
        .manager
        .services
        .metrics
        .render(&api.manager.rows(), &stamp);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        page,
    )
        .into_response()
}

/// A router for a module's own listener: every path goes to its `handle-http`.
pub fn module_router(manager: Arc<ModuleManager>, module: String, buffers: Arc<Buffers>) -> Router {
    let limits = buffers.limits(&module);
    let api = Api {
        manager,
        ha: None,
        buffers,
        limits,
    };
    Router::new()
        .fallback(move |State(api): State<Api>, request: Request| {
            let module = module.clone();
            async move {
                let path = request.uri().path().to_string();
                forward_http(&api, &module, path, request).await
            }
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

async fn module_http(State(api): State<Api>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let rest = path.strip_prefix("/modules/").unwrap_or("");
    let (name, sub) = match rest.split_once('/') {
        Some((n, s)) => (n.to_string(), format!("/{s}")),
        None => (rest.to_string(), "/".to_string()),
    };
    forward_http(&api, &name, sub, request).await
}

/// The answer for a module that is not in the registry: 503 while its runtime is
/// compiled, else 404.
fn absent(api: &Api, name: &str) -> Response {
    match api.manager.loading(name) {
        Some(language) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "module `{name}` is loading: the {} runtime is being compiled",
                language.as_str()
            ),
        ),
        None => error(StatusCode::NOT_FOUND, format!("no module `{name}`")),
    }
}

/// Passes a request to module `name` as `path`; 404 for an unknown module or one
/// without HTTP, 413 for a body over [`MAX_BODY`], 503 with the reason when the
/// module is not running, busy or too slow.
async fn forward_http(api: &Api, name: &str, path: String, request: Request) -> Response {
    if !api.manager.services.gate.is_open() {
        return standby(api);
    }
    let Some(module) = api.manager.services.registry.get(name) else {
        return absent(api, name);
    };
    if !module.info.http {
        return error(
            StatusCode::NOT_FOUND,
            format!("module `{name}` serves no HTTP"),
        );
    }
    let head = request.method() == axum::http::Method::HEAD;
    if (request.method() == axum::http::Method::GET || head)
        && module.state() == ModuleState::Running
        && let Some(page) = module.published(&path)
    {
        let gzip_ok = request
            .headers()
            .get_all(axum::http::header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        return published_response(&page, head, gzip_ok);
    }
    let (parts, body) = request.into_parts();
    let (body, request_held) = match read_body(api, name, body).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    // Checked against the receiver's limit before it crosses.
    if let Err(e) = module.check_input(body.len()) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, e);
    }
    let request = HttpRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body,
    };
    let answer = on_current(api, module, |m| {
        let request = request.clone();
        async move { m.http(request, m.http_timeout).await }
    })
    .await;
    drop(request_held);
    match answer {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY);
            // The answer is the host's own copy, held until the client has read it:
            // counted against the module's budget, or refused.
            let limits = api.buffers.limits(name);
            let body = match Buffers::hold(
                &api.buffers.module(name),
                limits.response_buffer,
                &format!("module `{name}`"),
                resp.body,
            ) {
                Ok(body) => body,
                Err(why) => return busy(why),
            };
            let mut out = Response::new(body);
            *out.status_mut() = status;
            for (k, v) in resp.headers {
                if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                    out.headers_mut().append(k, v);
                }
            }
            out
        }
        Err(e) => call_error(e),
    }
}
