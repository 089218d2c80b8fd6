//! docs/deploy.md, "Behind nginx or Caddy": Debian's nginx and Caddy started on loopback ports
//! with `docs/deploy/nginx.conf` and `docs/deploy/Caddyfile` as shipped, but for the ports, the
//! name and a certificate the test makes, in front of a relay configured as the package's
//! configuration is (`trusted_proxies` the proxy's address). Clients connect from 127.0.0.3,
//! which the snippets count as outside; the machine itself is 127.0.0.1.

use crate::call::{Answer, Call, Expect};
use crate::fake_ortto::FakeOrtto;
use crate::helpers::{spawn_app_with_ortto, TestApp, ADMIN, BROWSER_ACCEPT, TEST_ADMIN_TOKEN, URLENCODED};
use actix_web::http::Method;
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OUTSIDE: &str = "127.0.0.3";
const INSIDE: &str = "127.0.0.1";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

/// A proxy running one of the snippets, stopped when dropped.
struct Proxy {
    child: Child,
    port: u16,
    /// A client per source address: from outside and from the machine itself.
    clients: Vec<(&'static str, awc::Client)>,
    der: Vec<u8>,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let said = std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default();
            eprintln!("the proxy's log:\n{said}");
        }
        // SIGTERM, so nginx's master stops and reaps its workers; then the whole process group,
        // since workers outlive a master that is killed alone.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for 127.0.0.1 (PEM files for the proxy, DER for the client).
fn certificate(dir: &Path) -> Vec<u8> {
    let settings = "[req]\ndistinguished_name = dn\nx509_extensions = ext\nprompt = no\n\
                    [dn]\nCN = relay.test\n[ext]\nbasicConstraints = critical,CA:FALSE\n\
                    subjectAltName = IP:127.0.0.1,DNS:relay.test\nkeyUsage = digitalSignature\n\
                    extendedKeyUsage = serverAuth\n";
    std::fs::write(dir.join("openssl.cnf"), settings).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-config",
        "openssl.cnf",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
    ]);
    run(&["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"]);
    std::fs::read(dir.join("cert.der")).unwrap()
}

/// `text` with each `(from, to)` replaced, every one of which must be there: a snippet that
/// changed so a replacement no longer applies fails here rather than testing something else.
fn adapt(text: &str, swaps: &[(&str, String)]) -> String {
    swaps.iter().fold(text.to_owned(), |text, (from, to)| {
        assert!(text.contains(from), "the snippet no longer holds {from:?}");
        text.replace(from, to)
    })
}

fn installed(program: &str, version_flag: &str) -> bool {
    let there = Command::new(program).arg(version_flag).output().is_ok();
    assert!(
        there || std::env::var_os("TALK_RELAY_REQUIRE_POSTGRES").is_none(),
        "the proxy tests need {program} (apt-get install nginx-light caddy)"
    );
    if !there {
        eprintln!("proxy test skipped: {program} is not installed");
    }
    there
}

impl Proxy {
    fn start(kind: Kind, relay_port: u16) -> Option<Self> {
        let program = match kind {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
        };
        if !installed(program, "-v") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let der = certificate(dir.path());
        let port = crate::commands::free_loopback_port().unwrap();
        let child = match kind {
            Kind::Nginx => start_nginx(dir.path(), port, relay_port),
            Kind::Caddy => start_caddy(dir.path(), port, relay_port),
        };
        let clients = vec![
            (OUTSIDE, Self::client(&der, OUTSIDE)),
            (INSIDE, Self::client(&der, INSIDE)),
        ];
        let proxy = Self {
            child,
            port,
            clients,
            der,
            dir,
        };
        proxy.wait_until_listening(kind);
        Some(proxy)
    }

    fn wait_until_listening(&self, kind: Kind) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect((INSIDE, self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let said = std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default();
        panic!("{kind:?} did not listen within 20 s: {said}");
    }

    /// An HTTPS client that trusts the test certificate and connects from `from`.
    fn client(der: &[u8], from: &str) -> awc::Client {
        let mut tls = trusting(der);
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let connector = awc::Connector::new()
            .rustls_0_23(Arc::new(tls))
            .local_address(from.parse::<IpAddr>().unwrap());
        awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .timeout(Duration::from_secs(30))
            .finish()
    }

    fn call(&self, from: &str, method: Method, path: &str) -> Call {
        Call::new(
            &self
                .clients
                .iter()
                .find(|(at, _)| *at == from)
                .expect("a client from there")
                .1,
            method,
            &format!("https://127.0.0.1:{}{path}", self.port),
        )
    }
}

fn start_nginx(dir: &Path, port: u16, relay_port: u16) -> Child {
    let site = adapt(
        include_str!("../../../docs/deploy/nginx.conf"),
        &[
            ("    listen [::]:80;\n", String::new()),
            ("    listen [::]:443 ssl http2;\n", String::new()),
            (
                "listen 80;",
                format!(
                    "listen 127.0.0.1:{};",
                    crate::commands::free_loopback_port().unwrap()
                ),
            ),
            (
                "listen 443 ssl http2;",
                format!("listen 127.0.0.1:{port} ssl http2;"),
            ),
            (
                "/etc/letsencrypt/live/relay.example.com/fullchain.pem",
                path(dir, "cert.pem"),
            ),
            (
                "/etc/letsencrypt/live/relay.example.com/privkey.pem",
                path(dir, "key.pem"),
            ),
            (
                "server 127.0.0.1:8080;",
                format!("server 127.0.0.1:{relay_port};"),
            ),
        ],
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    // The parts of a main nginx.conf that Debian's own provides, in this directory.
    let temp = |name: &str| format!("{name}_temp_path {};\n", path(dir, name));
    let main = format!(
        "daemon off;\nuser root;\nworker_processes 1;\npid {};\nerror_log {} info;\n\
         events {{ worker_connections 256; }}\nhttp {{\naccess_log off;\n{}{}{}{}{}include {};\n}}\n",
        path(dir, "nginx.pid"),
        path(dir, "proxy.log"),
        temp("client_body"),
        temp("proxy"),
        temp("fastcgi"),
        temp("uwsgi"),
        temp("scgi"),
        path(dir, "site.conf"),
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    Command::new("nginx")
        .process_group(0)
        .args([
            "-e",
            &path(dir, "proxy.log"),
            "-p",
            &path(dir, ""),
            "-c",
            &path(dir, "nginx.conf"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts")
}

fn start_caddy(dir: &Path, port: u16, relay_port: u16) -> Child {
    let caddyfile = adapt(
        include_str!("../../../docs/deploy/Caddyfile"),
        &[
            (
                "{\n\tservers {",
                "{\n\tadmin off\n\tauto_https disable_redirects\n\tservers {".to_owned(),
            ),
            (
                "relay.example.com {",
                format!(
                    "https://127.0.0.1:{port} {{\n\ttls {} {}",
                    path(dir, "cert.pem"),
                    path(dir, "key.pem")
                ),
            ),
            (
                "reverse_proxy 127.0.0.1:8080 {",
                format!("reverse_proxy 127.0.0.1:{relay_port} {{"),
            ),
        ],
    );
    std::fs::write(dir.join("Caddyfile"), caddyfile).unwrap();
    let log = std::fs::File::create(dir.join("proxy.log")).unwrap();
    Command::new("caddy")
        .process_group(0)
        .args([
            "run",
            "--adapter",
            "caddyfile",
            "--config",
            &path(dir, "Caddyfile"),
        ])
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("caddy starts")
}

fn path(dir: &Path, name: &str) -> String {
    let joined: PathBuf = if name.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(name)
    };
    joined.display().to_string()
}

/// A relay as the package configures it, with a fake Ortto, the admin API on, a files form
/// with the shipped limits and a short body timeout; and the proxy in front of it.
async fn relay_behind(kind: Kind) -> Option<(TestApp, FakeOrtto, Proxy)> {
    let ortto = FakeOrtto::start().await;
    let overlay = format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\", \"::1/128\"]\nclient_ip_header = \"x-forwarded-for\"\n\
         body_timeout_ms = 1500\n{ADMIN}{}\
         [forms.upload]\nspam.min_fill_ms = 0\n[forms.upload.files]\nfields = [\"attachment\"]\n",
        crate::helpers::DEMO_ON
    );
    let app = spawn_app_with_ortto(&ortto, &overlay).await;
    let relay_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(kind, relay_port)?;
    Some((app, ortto, proxy))
}

async fn post_json(proxy: &Proxy, from: &str, body: &str, expect: impl Into<Expect>) -> Answer {
    proxy
        .call(from, Method::POST, "/f/demo")
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("X-Forwarded-For", "203.0.113.9")
        .header("X-Real-IP", "203.0.113.10")
        .header("Forwarded", "for=203.0.113.11")
        .body(body.to_owned(), expect)
        .await
}

/// The address the relay recorded is the one the proxy saw; the headers the client made up
/// are not believed.
async fn the_client_ip_is_the_one_the_proxy_saw(app: &TestApp, proxy: &Proxy) {
    let answer = post_json(
        proxy,
        OUTSIDE,
        r#"{"email":"ip@example.com","message":"hi"}"#,
        202,
    )
    .await;
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.submission(&id).await.client_ip.as_deref(), Some(OUTSIDE));
}

/// A response read by [`Proxy::post_raw`]: the status and the whole text after the head.
struct Raw {
    status: u16,
    body: String,
}

/// A TLS client configuration that trusts the test certificate alone.
fn trusting(der: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(der.to_vec().into())
        .expect("the test certificate is a root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// Reads what has arrived into `answer`; true once the connection has ended.
fn read_some(stream: &mut TlsStream, answer: &mut Vec<u8>) -> bool {
    use std::io::{ErrorKind, Read};
    let mut buf = [0u8; 16384];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
}

/// A POST over TLS written in `chunks`, `pause` apart, that reads while it writes, as a
/// browser does: an answer that comes before the body is whole is seen, even when the server
/// then closes the connection under the rest of the body (awc reads only after sending it all).
fn post_raw(port: u16, der: &[u8], request: String, chunks: Vec<Vec<u8>>, pause: Duration) -> Raw {
    use std::io::Write;
    let name = rustls::pki_types::ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let connection = rustls::ClientConnection::new(Arc::new(trusting(der)), name).unwrap();
    let socket = std::net::TcpStream::connect((INSIDE, port)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    let mut answer = Vec::new();
    let mut ended = false;
    for (i, piece) in std::iter::once(request.into_bytes()).chain(chunks).enumerate() {
        if i > 1 {
            std::thread::sleep(pause);
        }
        if stream.write_all(&piece).and_then(|()| stream.flush()).is_err() {
            break;
        }
        ended = read_some(&mut stream, &mut answer);
        if ended || !answer.is_empty() {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ended && Instant::now() < deadline {
        ended = read_some(&mut stream, &mut answer);
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Raw { status, body }
}

impl Proxy {
    /// [`post_raw`] to `path` with the `head` lines, on a blocking thread.
    async fn post_raw(&self, path: &str, head: &str, chunks: Vec<Vec<u8>>, pause: Duration) -> Raw {
        let length: usize = chunks.iter().map(Vec::len).sum();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}Content-Length: {length}\r\n\r\n"
        );
        let (port, der) = (self.port, self.der.clone());
        actix_web::rt::task::spawn_blocking(move || post_raw(port, &der, request, chunks, pause))
            .await
            .unwrap()
    }
}

/// A multipart post of one `size`-byte file to the `upload` form, in 64 KiB pieces.
async fn post_file(proxy: &Proxy, size: usize) -> Raw {
    let mut file = b"%PDF-1.4\n".to_vec();
    file.resize(size, b'a');
    let (content_type, body) = crate::files::Multipart::new()
        .text("email", "upload@example.com")
        .file("attachment", "big.pdf", "application/pdf", &file)
        .finish();
    let head = format!("Content-Type: {content_type}\r\nAccept: application/json\r\n");
    let chunks = body.chunks(64 << 10).map(<[u8]>::to_vec).collect();
    proxy.post_raw("/f/upload", &head, chunks, Duration::ZERO).await
}

/// Over the relay's limits: its own 413 (its JSON answer) through the proxy; over the
/// proxy's backstop too: 413 all the same. Nothing is kept either way.
async fn the_proxy_and_the_relay_agree_on_413(app: &TestApp, proxy: &Proxy) {
    let before = app.submissions().await.len();
    let big = format!(
        r#"{{"email":"big@example.com","message":"{}"}}"#,
        "x".repeat(70_000)
    );
    let relay_said = post_json(proxy, OUTSIDE, &big, 413).await;
    assert_eq!(
        relay_said.json()["errors"][0]["code"],
        "PAYLOAD_TOO_LARGE",
        "{}",
        relay_said.body
    );
    // 12 MB of file, over the form's max_file_mb (10 MB), under the proxy's backstop: the
    // relay's own 413 while the body still streams through the proxy.
    let relay_said = post_file(proxy, 12 << 20).await;
    assert_eq!(relay_said.status, 413, "{}", relay_said.body);
    assert!(relay_said.body.contains("FILE_TOO_LARGE"), "{}", relay_said.body);
    // 27 MB, over every limit: 413 whoever answers (nginx's backstop from the Content-Length;
    // Caddy leaves the limit to the relay, docs/deploy/Caddyfile).
    let said = post_file(proxy, 27 << 20).await;
    assert_eq!(said.status, 413, "{}", said.body);
    assert_eq!(app.submissions().await.len(), before, "nothing kept");
}

/// A body that arrives a byte every 300 ms gets the relay's 408 through the proxy, long
/// before it would have finished; nothing is kept.
async fn a_trickled_body_times_out(app: &TestApp, proxy: &Proxy) {
    let before = app.submissions().await.len();
    let bytes = br#"{"email":"slow@example.com","message":"one byte at a time"}"#;
    let chunks = bytes.iter().map(|byte| vec![*byte]).collect();
    let head = "Content-Type: application/json\r\nAccept: application/json\r\n";
    let started = Instant::now();
    let answer = proxy
        .post_raw("/f/demo", head, chunks, Duration::from_millis(300))
        .await;
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(answer.body.contains("REQUEST_TIMEOUT"), "{}", answer.body);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "the whole body would take 18 s"
    );
    assert_eq!(app.submissions().await.len(), before, "nothing kept");
}

/// `/admin` and `/metrics`: refused by the proxy from outside, passed on from the machine.
async fn operators_pages_are_refused_from_outside(proxy: &Proxy) {
    for path in ["/admin/", "/admin/submissions", "/metrics"] {
        proxy
            .call(OUTSIDE, Method::GET, path)
            .bearer(TEST_ADMIN_TOKEN)
            .send(403)
            .await;
    }
    let metrics = proxy.call(INSIDE, Method::GET, "/metrics").send(200).await;
    assert!(metrics.body.contains("talk_relay_"), "{}", metrics.body);
    proxy
        .call(INSIDE, Method::GET, "/admin/submissions")
        .bearer(TEST_ADMIN_TOKEN)
        .send(200)
        .await;
    proxy
        .call(INSIDE, Method::GET, "/admin/submissions")
        .send(401)
        .await;
}

/// A plain HTML form post through the proxy: the thank-you page, then the delivery.
async fn the_form_flow_works_end_to_end(proxy: &Proxy, ortto: &FakeOrtto) {
    let thanks = proxy
        .call(OUTSIDE, Method::POST, "/f/demo")
        .header("Content-Type", URLENCODED)
        .header("Accept", BROWSER_ACCEPT)
        .body("email=flow%40example.com&message=Through+the+proxy", 303)
        .await;
    let next = thanks.header("location").unwrap().to_owned();
    let page = proxy
        .call(OUTSIDE, Method::GET, &next)
        .header("Accept", BROWSER_ACCEPT)
        .send(200)
        .await;
    assert!(page.body.contains("<html"), "{}", page.body);
    // The client-IP check's post went before it: both are delivered.
    let seen = ortto.wait_for_requests(2, Duration::from_secs(20)).await;
    assert!(
        seen.iter()
            .any(|request| request.body.contains("flow@example.com")),
        "the post reached Ortto"
    );
}

async fn behind(kind: Kind) {
    let Some((app, ortto, proxy)) = relay_behind(kind).await else {
        return;
    };
    a_trickled_body_times_out(&app, &proxy).await;
    the_client_ip_is_the_one_the_proxy_saw(&app, &proxy).await;
    the_proxy_and_the_relay_agree_on_413(&app, &proxy).await;
    operators_pages_are_refused_from_outside(&proxy).await;
    the_form_flow_works_end_to_end(&proxy, &ortto).await;
}

#[actix_web::test]
async fn nginx_with_the_shipped_snippet_in_front_of_the_relay() {
    behind(Kind::Nginx).await;
}

#[actix_web::test]
async fn caddy_with_the_shipped_snippet_in_front_of_the_relay() {
    behind(Kind::Caddy).await;
}
