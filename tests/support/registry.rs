//! A minimal cargo registry for tests, on 127.0.0.1 (HTTP/1.1 on a std
//! `TcpListener`): a sparse index, the publish endpoint and downloads, with
//! every request's `Authorization` header recorded so tests can check the
//! token cargo sent.
//!
//! - `GET /index/config.json`: `{"dl", "api", "auth-required"}`. With
//!   `auth-required` it answers 401 (`WWW-Authenticate: Cargo`) until the
//!   right token comes, as cargo's sparse authentication expects
//!   (cargo reference, "Registry Index", sparse authentication).
//! - `GET /index/…/<name>`: the crate's index lines, 404 when unknown.
//! - `PUT /api/v1/crates/new`: cargo's publish body (u32 LE JSON length,
//!   the JSON metadata, u32 LE crate length, the `.crate`), checked against
//!   the token; the version is added to the index so cargo's post-publish
//!   wait ends (cargo reference, "Registry Web API", publish).
//! - `GET /api/v1/crates/<name>/<vers>/download`: the `.crate`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Longest header line or body accepted (bigger requests get 413).
const MAX_HEADER_LINE: usize = 16 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status the server answered.
    pub status: u16,
}

/// A version published through the API.
#[derive(Debug, Clone)]
pub struct Published {
    pub name: String,
    pub vers: String,
    /// The `Authorization` header of the publish request.
    pub token: String,
    pub crate_file: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// Index lines per (lower-case) crate name.
    index: BTreeMap<String, Vec<String>>,
    /// `.crate` files per (name, version).
    files: BTreeMap<(String, String), Vec<u8>>,
    published: Vec<Published>,
    seen: Vec<Seen>,
}

struct Shared {
    token: String,
    auth_required: bool,
    base: String,
    state: Mutex<State>,
    stop: AtomicBool,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The running registry; stops accepting on drop.
pub struct Registry {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Registry {
    /// Starts a registry that accepts only `token`; with `auth_required`,
    /// reading the index and downloading need it too (like a private
    /// registry), otherwise only publishing does (like crates.io).
    pub fn start(token: &str, auth_required: bool) -> Registry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            token: token.to_string(),
            auth_required,
            base: format!("http://{addr}"),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if for_thread.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&for_thread);
                std::thread::spawn(move || serve_connection(stream, &shared));
            }
        });
        Registry { addr, shared }
    }

    /// The index URL for cargo's configuration: `sparse+http://127.0.0.1:PORT/index/`.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.shared.base)
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.state().seen.clone()
    }

    /// The versions published so far.
    pub fn published(&self) -> Vec<Published> {
        self.shared.state().published.clone()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    content_type: &'static str,
    extra_headers: Vec<String>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: String) -> Response {
        Response {
            status,
            content_type: "application/json",
            extra_headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    fn error(status: u16, detail: &str) -> Response {
        Response::json(
            status,
            serde_json::json!({ "errors": [{ "detail": detail }] }).to_string(),
        )
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(status) => {
                let _ = write_response(&mut writer, &Response::error(status, "bad request"));
                return;
            }
        };
        let response = handle(&request, shared);
        shared.state().seen.push(Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            authorization: request.authorization.clone(),
            status: response.status,
        });
        if write_response(&mut writer, &response).is_err() {
            return;
        }
    }
}

/// One request; `Ok(None)` when the client closed the connection, `Err`
/// with a status for a request that breaks the rules.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> Result<Option<Request>, u16> {
    let Some(request_line) = read_line(reader)? else {
        return Ok(None);
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(400);
    };
    let mut content_length = 0usize;
    let mut authorization = None;
    let mut expect_continue = false;
    loop {
        let line = read_line(reader)?.ok_or(400u16)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse().map_err(|_| 400u16)?,
            "authorization" => authorization = Some(value.to_string()),
            "expect" => expect_continue = value.eq_ignore_ascii_case("100-continue"),
            "transfer-encoding" => return Err(501),
            _ => {}
        }
    }
    if content_length > MAX_BODY {
        return Err(413);
    }
    if expect_continue {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| 400u16)?;
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body).map_err(|_| 400u16)?;
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        authorization,
        body,
    }))
}

/// One CRLF-terminated line without its terminator; `None` at the end of
/// the stream.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<Option<String>, u16> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_HEADER_LINE as u64)
        .read_until(b'\n', &mut line)
        .map_err(|_| 400u16)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(431);
    }
    let text = String::from_utf8(line).map_err(|_| 400u16)?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
}

fn write_response(writer: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    for header in &response.extra_headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()
}

fn handle(request: &Request, shared: &Shared) -> Response {
    let authorized = request.authorization.as_deref() == Some(shared.token.as_str());
    let unauthorized = || {
        let mut response = Response::error(401, "this registry needs a valid token");
        response.extra_headers.push(format!(
            "WWW-Authenticate: Cargo login_url=\"{}/me\"",
            shared.base
        ));
        response
    };
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/index/config.json") => {
            if shared.auth_required && !authorized {
                return unauthorized();
            }
            Response::json(
                200,
                serde_json::json!({
                    "dl": format!("{}/api/v1/crates", shared.base),
                    "api": shared.base,
                    "auth-required": shared.auth_required,
                })
                .to_string(),
            )
        }
        ("GET", p) if p.starts_with("/index/") => {
            if shared.auth_required && !authorized {
                return unauthorized();
            }
            let name = p
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match shared.state().index.get(&name) {
                Some(lines) => Response {
                    status: 200,
                    content_type: "text/plain",
                    extra_headers: Vec::new(),
                    body: lines
                        .iter()
                        .fold(String::new(), |all, l| all + l + "\n")
                        .into_bytes(),
                },
                None => Response::error(404, "no such crate"),
            }
        }
        ("PUT", "/api/v1/crates/new") => {
            if !authorized {
                return Response::error(403, "invalid or missing API token");
            }
            let token = request.authorization.clone().unwrap_or_default();
            match publish(&request.body, token, shared) {
                Ok(()) => Response::json(
                    200,
                    r#"{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":[]}}"#
                        .to_string(),
                ),
                Err(detail) => Response::error(400, &detail),
            }
        }
        ("GET", p) if p.starts_with("/api/v1/crates/") && p.ends_with("/download") => {
            if shared.auth_required && !authorized {
                return unauthorized();
            }
            let parts: Vec<&str> = p.split('/').collect();
            let key = match parts.as_slice() {
                ["", "api", "v1", "crates", name, vers, "download"] => {
                    (name.to_string(), vers.to_string())
                }
                _ => return Response::error(404, "no such download"),
            };
            match shared.state().files.get(&key) {
                Some(file) => Response {
                    status: 200,
                    content_type: "application/gzip",
                    extra_headers: Vec::new(),
                    body: file.clone(),
                },
                None => Response::error(404, "no such download"),
            }
        }
        _ => Response::error(404, "not found"),
    }
}

/// Splits cargo's publish body and adds the version to the index.
fn publish(body: &[u8], token: String, shared: &Shared) -> Result<(), String> {
    let (json, rest) = length_prefixed(body).ok_or("truncated metadata")?;
    let (crate_file, rest) = length_prefixed(rest).ok_or("truncated .crate")?;
    if !rest.is_empty() {
        return Err("bytes after the .crate".into());
    }
    let meta: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("bad metadata: {e}"))?;
    let text = |key: &str| {
        meta.get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or(format!("metadata without {key}"))
    };
    let name = text("name")?;
    let vers = text("vers")?;
    let deps: Vec<serde_json::Value> = meta
        .get("deps")
        .and_then(|d| d.as_array())
        .map(|deps| deps.iter().map(index_dependency).collect())
        .unwrap_or_default();
    let line = serde_json::json!({
        "name": name,
        "vers": vers,
        "deps": deps,
        "cksum": hex::encode(Sha256::digest(crate_file)),
        "features": meta.get("features").cloned().unwrap_or(serde_json::json!({})),
        "yanked": false,
        "links": meta.get("links").cloned().unwrap_or(serde_json::Value::Null),
    });
    let mut state = shared.state();
    let lines = state.index.entry(name.to_ascii_lowercase()).or_default();
    if lines
        .iter()
        .any(|l| l.contains(&format!("\"vers\":\"{vers}\"")))
    {
        return Err(format!("{name} {vers} already exists"));
    }
    lines.push(line.to_string());
    state
        .files
        .insert((name.clone(), vers.clone()), crate_file.to_vec());
    state.published.push(Published {
        name,
        vers,
        token,
        crate_file: crate_file.to_vec(),
    });
    Ok(())
}

/// A publish-API dependency as an index dependency (the field names differ).
fn index_dependency(dep: &serde_json::Value) -> serde_json::Value {
    let field = |key: &str| dep.get(key).cloned().unwrap_or(serde_json::Value::Null);
    let (name, package) = match dep.get("explicit_name_in_toml").and_then(|v| v.as_str()) {
        Some(alias) => (serde_json::json!(alias), field("name")),
        None => (field("name"), serde_json::Value::Null),
    };
    serde_json::json!({
        "name": name,
        "req": field("version_req"),
        "features": field("features"),
        "optional": field("optional"),
        "default_features": field("default_features"),
        "target": field("target"),
        "kind": field("kind"),
        "registry": field("registry"),
        "package": package,
    })
}

/// A u32 little-endian length and that many bytes; the rest after them.
fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}
