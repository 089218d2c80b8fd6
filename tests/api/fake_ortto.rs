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
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    seen: Vec<SeenRequest>,
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
            seen: Vec::new(),
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
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let reply = {
        let mut state = state.lock().unwrap();
        state.seen.push(SeenRequest {
            path: req.path().to_owned(),
            api_key: header("x-api-key"),
            content_type: header("content-type"),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        state.script.pop_front().unwrap_or_else(|| state.default.clone())
    };
    if !reply.delay.is_zero() {
        actix_web::rt::time::sleep(reply.delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap())
        .content_type("application/json")
        .body(reply.body)
}
