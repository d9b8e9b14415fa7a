//! A git server over HTTP/1.1 with basic authentication, for the git
//! credential helper's tests: a tiny server on 127.0.0.1 (a thread per
//! connection, one request per connection) that answers 401 with
//! `WWW-Authenticate: Basic realm=...` unless the request carries the
//! expected user and password, and otherwise runs `git http-backend` as a
//! CGI program (RFC 3875) over the bare repositories in its root.
//!
//! Every `Authorization: Basic` header it receives is recorded (decoded),
//! so tests can check what git sent.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The realm of the server's challenge.
pub const REALM: &str = "TokenRing test git server";

/// How long a connection may stay silent before the server gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The most a request head or body may weigh.
const MAX_BODY: usize = 64 << 20;

/// The credentials the server saw in one request's `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCredentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

struct Shared {
    root: PathBuf,
    user: String,
    password: String,
    seen: Mutex<Vec<SeenCredentials>>,
    requests: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// The running server; stopped on drop.
pub struct GitHttpServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl GitHttpServer {
    /// Serves the bare repositories under `root` to `user` with `password`.
    pub fn start(root: &Path, user: &str, password: &str) -> GitHttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            user: user.to_string(),
            password: password.to_string(),
            seen: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    let _ = serve_connection(stream, &shared);
                });
            }
        });
        GitHttpServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// `127.0.0.1:PORT`, the `host` git gives credential helpers.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every `Authorization: Basic` header received so far, decoded.
    pub fn seen_credentials(&self) -> Vec<SeenCredentials> {
        self.shared.seen.lock().expect("seen lock").clone()
    }

    /// "STATUS METHOD PATH" of every request answered so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Creates a bare repository `root/NAME` with one commit holding
/// `README` = `content`, using `git` with an isolated configuration.
pub fn create_bare_repo(root: &Path, name: &str, content: &str) -> PathBuf {
    let work = root.join(format!("{name}.work"));
    let bare = root.join(name);
    std::fs::create_dir_all(&work).expect("work tree");
    let git = |dir: &Path, args: &[&str]| {
        let output = isolated_git(root)
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README"), content).expect("README");
    git(&work, &["add", "README"]);
    git(
        &work,
        &[
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("UTF-8 path"),
            bare.to_str().expect("UTF-8 path"),
        ],
    );
    bare
}

/// `git` that reads no system or user configuration (HOME is `home`).
pub fn isolated_git(home: &Path) -> Command {
    let mut command = Command::new("git");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            command.env_remove(&key);
        }
    }
    command
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    command
}

struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let (path, query) = match request.target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (request.target.clone(), String::new()),
    };
    let credentials = request
        .header("Authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            text.split_once(':').map(|(u, p)| SeenCredentials {
                user: u.to_string(),
                password: p.to_string(),
            })
        });
    if let Some(seen) = &credentials {
        shared.seen.lock().expect("seen lock").push(seen.clone());
    }
    let authorised = credentials
        .as_ref()
        .is_some_and(|c| c.user == shared.user && c.password == shared.password);
    let status = if authorised {
        let (status, headers, body) = run_http_backend(shared, &request, &path, &query)?;
        write_response(&mut writer, status, &headers, &body)?;
        status
    } else {
        let challenge = format!("Basic realm=\"{REALM}\"");
        write_response(
            &mut writer,
            401,
            &[
                ("WWW-Authenticate".to_string(), challenge),
                ("Content-Type".to_string(), "text/plain".to_string()),
            ],
            b"authentication required\n",
        )?;
        401
    };
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(format!("{status} {} {path}", request.method));
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

fn read_line(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(16 * 1024)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&line);
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let Some(request_line) = read_line(reader)? else {
        return Ok(None);
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader)? else {
            return Ok(None);
        };
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        if headers.len() > 200 {
            return Ok(None);
        }
    }
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = request.header("Content-Length") {
        let length: usize = length.parse().map_err(|_| bad("bad Content-Length"))?;
        if length > MAX_BODY {
            return Err(bad("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| bad("truncated chunk"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            while let Some(line) = read_line(reader)? {
                if line.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader)?;
    }
}

fn bad(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// Runs `git http-backend` for one request (RFC 3875 meta-variables) and
/// turns its CGI answer into an HTTP response.
fn run_http_backend(
    shared: &Shared,
    request: &Request,
    path: &str,
    query: &str,
) -> std::io::Result<Response> {
    let mut command = isolated_git(&shared.root);
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_USER", &shared.user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(content_type) = request.header("Content-Type") {
        command.env("CONTENT_TYPE", content_type);
    }
    if let Some(encoding) = request.header("Content-Encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = request.header("Git-Protocol") {
        command.env("HTTP_GIT_PROTOCOL", protocol);
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().ok_or_else(|| bad("no stdin"))?;
    let body = request.body.clone();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output()?;
    let _ = feeder.join();
    let cgi = output.stdout;
    let (head, body) = split_head(&cgi).ok_or_else(|| {
        bad(&format!(
            "http-backend answered no CGI header: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    })?;
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            status = value
                .split(' ')
                .next()
                .and_then(|code| code.parse().ok())
                .unwrap_or(500);
        } else {
            headers.push((name.trim().to_string(), value.to_string()));
        }
    }
    Ok((status, headers, body.to_vec()))
}

/// Splits a CGI answer at the first blank line (`\r\n\r\n` or `\n\n`).
fn split_head(cgi: &[u8]) -> Option<(&[u8], &[u8])> {
    for i in 0..cgi.len() {
        let rest = &cgi[i..];
        if rest.starts_with(b"\r\n\r\n") {
            return Some((&cgi[..i], &cgi[i + 4..]));
        }
        if rest.starts_with(b"\n\n") {
            return Some((&cgi[..i], &cgi[i + 2..]));
        }
    }
    None
}

fn write_response(
    writer: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("Connection") {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}
