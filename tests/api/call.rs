//! The one way the tests make an HTTP request: build it, send it, check the status it must
//! answer, and read the whole body. Every request helper in the suite goes through here.

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use awc::{Client, ClientRequest};
use serde_json::Value;

/// What a request must answer.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    Status(u16),
    OneOf(&'static [u16]),
    /// The caller checks the status itself (it varies by design, as in a flood).
    Any,
}

impl From<u16> for Expect {
    fn from(status: u16) -> Self {
        Self::Status(status)
    }
}

impl From<&'static [u16]> for Expect {
    fn from(statuses: &'static [u16]) -> Self {
        Self::OneOf(statuses)
    }
}

/// A request being built.
pub struct Call {
    request: ClientRequest,
    what: String,
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    /// The body's bytes as they came (a file).
    pub bytes: actix_web::web::Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Call {
    pub fn new(client: &Client, method: Method, url: &str) -> Self {
        Self {
            what: format!("{method} {url}"),
            request: client.request(method, url),
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.request = self.request.insert_header((name, value.as_ref()));
        self
    }

    /// Another line of a header the request already has (a sender that repeats it).
    pub fn append_header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.request = self.request.append_header((name, value.as_ref()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A JSON body (serialised now, so the request owns it).
    pub fn json(self, body: &Value, expect: impl Into<Expect>) -> impl std::future::Future<Output = Answer> {
        let bytes = serde_json::to_vec(body).expect("JSON serialises");
        self.header("Content-Type", "application/json")
            .body(bytes, expect)
    }

    pub async fn body(self, body: impl Into<actix_web::web::Bytes>, expect: impl Into<Expect>) -> Answer {
        let sent = self.request.send_body(body.into()).await;
        read(self.what, sent, expect.into()).await
    }

    /// A body sent in chunks, without a Content-Length.
    pub async fn stream<S>(self, body: S, expect: impl Into<Expect>) -> Answer
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, std::io::Error>> + 'static,
    {
        let sent = self.request.send_stream(body).await;
        read(self.what, sent, expect.into()).await
    }

    pub async fn send(self, expect: impl Into<Expect>) -> Answer {
        let sent = self.request.send().await;
        read(self.what, sent, expect.into()).await
    }
}

async fn read<S>(
    what: String,
    sent: Result<awc::ClientResponse<S>, awc::error::SendRequestError>,
    expect: Expect,
) -> Answer
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let mut response = sent.unwrap_or_else(|e| panic!("{what}: not answered: {e}"));
    let status = response.status().as_u16();
    let bytes = response.body().limit(4 << 20).await.expect("the body arrives");
    let answer = Answer {
        status,
        headers: response.headers().clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    };
    let expected = match expect {
        Expect::Status(want) => status == want,
        Expect::OneOf(wanted) => wanted.contains(&status),
        Expect::Any => true,
    };
    assert!(
        expected,
        "{what}: expected {expect:?}, got {status}: {}",
        answer.body
    );
    answer
}
