//! A fake Ortto over real HTTP: records every request and answers from a script.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn ok() -> Self {
        Self::json(
            200,
            r#"{"conversation_id":"conv-1","person_id":"person-1","person_status":"created"}"#,
        )
    }

    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16) -> Self {
        Self::json(status, "{}")
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub path: String,
    pub api_key: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
    pub at: Instant,
    /// Whether this request created a conversation (a 200 answered in time).
    pub created: bool,
    /// The status answered (0: the connection was dropped).
    pub status: u16,
}

/// Shares of requests that fail, each way, when chaos is on (the rest succeed).
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    pub server_error: f64,
    pub rate_limited: f64,
    pub timeout: f64,
    pub dropped: f64,
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    /// Replies for one path, before the default.
    by_path: Vec<(String, Reply)>,
    seen: Vec<SeenRequest>,
    chaos: Option<Chaos>,
    /// Requests being answered right now, and the most there ever were at once.
    open: usize,
    peak_open: usize,
}

/// Counts a request as open until its answer is built (or the client gives up on it).
struct OpenRequest(web::Data<Mutex<State>>);

impl OpenRequest {
    fn new(state: web::Data<Mutex<State>>) -> Self {
        {
            let mut s = state.lock().unwrap();
            s.open += 1;
            s.peak_open = s.peak_open.max(s.open);
        }
        Self(state)
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.lock().unwrap().open -= 1;
    }
}

enum Fate {
    Reply(Reply),
    Timeout(Reply),
    Drop,
}

pub struct FakeOrtto {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    _server: actix_web::dev::ServerHandle,
}

impl FakeOrtto {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            script: VecDeque::new(),
            default: Reply::ok(),
            by_path: Vec::new(),
            seen: Vec::new(),
            chaos: None,
            open: 0,
            peak_open: 0,
        }));
        let shared = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .default_service(web::to(answer))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("fake Ortto binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}"),
            state,
            _server: handle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Queues replies for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.lock().script.extend(replies);
    }

    /// The reply once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = reply;
    }

    /// The reply for every request to `path` (when no script entry is waiting).
    pub fn set_reply_for(&self, path: &str, reply: Reply) {
        self.lock().by_path.push((path.to_owned(), reply));
    }

    /// Fails a share of requests in every way Ortto (or the network) can.
    pub fn set_chaos(&self, chaos: Chaos) {
        self.lock().chaos = Some(chaos);
    }

    /// The most requests that were ever being answered at the same time.
    pub fn peak_concurrency(&self) -> usize {
        self.lock().peak_open
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.lock().seen.clone()
    }

    pub async fn wait_for_requests(&self, count: usize, within: Duration) -> Vec<SeenRequest> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.requests();
            if seen.len() >= count || Instant::now() > deadline {
                return seen;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let _open = OpenRequest::new(state.clone());
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let fate = {
        let mut state = state.lock().unwrap();
        let fate = match state.chaos {
            Some(chaos) => {
                let roll: f64 = rand::random();
                let limits = [
                    chaos.server_error,
                    chaos.rate_limited,
                    chaos.timeout,
                    chaos.dropped,
                ];
                let mut edge = 0.0;
                let pick = limits.iter().position(|share| {
                    edge += share;
                    roll < edge
                });
                match pick {
                    Some(0) => Fate::Reply(Reply::status(503)),
                    Some(1) => Fate::Reply(Reply::json(
                        429,
                        r#"{"error":{"code":"rate-limit","message":"rate limit","try-in-seconds":1}}"#,
                    )),
                    Some(2) => Fate::Timeout(Reply::ok().after(Duration::from_secs(3))),
                    Some(_) => Fate::Drop,
                    None => Fate::Reply(state.default.clone()),
                }
            }
            None => {
                let for_path = state
                    .by_path
                    .iter()
                    .find(|(p, _)| p == req.path())
                    .map(|(_, r)| r.clone());
                Fate::Reply(
                    state
                        .script
                        .pop_front()
                        .or(for_path)
                        .unwrap_or_else(|| state.default.clone()),
                )
            }
        };
        let created =
            matches!(&fate, Fate::Reply(r) if r.status == 200 && r.delay < Duration::from_millis(900));
        let status = match &fate {
            Fate::Reply(r) | Fate::Timeout(r) => r.status,
            Fate::Drop => 0,
        };
        state.seen.push(SeenRequest {
            path: req.path().to_owned(),
            api_key: header("x-api-key"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
            created,
            status,
        });
        fate
    };
    let reply = match fate {
        Fate::Reply(reply) | Fate::Timeout(reply) => reply,
        Fate::Drop => {
            // Headers go out, then the connection breaks mid-body.
            let broken = futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "dropped",
                ))
            });
            return HttpResponse::Ok()
                .content_type("application/json")
                .streaming(broken);
        }
    };
    if !reply.delay.is_zero() {
        actix_web::rt::time::sleep(reply.delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap())
        .content_type("application/json")
        .body(reply.body)
}
