//! The floor for `bench/run` (README, "Performance"): the least any durable relay must do
//! for the bench's form post, on the same runtime settings as the relay. Parse the form, one
//! keyed governor check, sanitise the HTML with the relay's own ammonia builder, and
//! group-commit one row of the same width (the payload and the fields as JSON) into a table
//! with only a primary key, through one writer, `synchronous = FULL`; answer 202 after the
//! commit. No mapping, no consent, no indexes, no rollups, no idempotency.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite};
use std::net::IpAddr;
use std::num::NonZeroU32;
use talk_relay::clean::HtmlCleaner;
use tokio::sync::{mpsc, oneshot};

struct Row {
    id: String,
    payload: String,
    fields: String,
    done: oneshot::Sender<bool>,
}

struct Floor {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    cleaner: HtmlCleaner,
    rows: mpsc::Sender<Row>,
}

async fn accept(req: HttpRequest, body: web::Bytes, floor: web::Data<Floor>) -> HttpResponse {
    let ip = req.peer_addr().map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if floor.limiter.check_key(&ip).is_err() {
        return HttpResponse::TooManyRequests().finish();
    }
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let html = floor.cleaner.clean(field("message_html"));
    let payload = serde_json::json!({
        "fields": {"str::email": field("email"), "str::first": field("name")},
        "merge_by": ["str::email"],
        "conversation": {"subject": field("subject"), "messages": [
            {"type": "text", "body": field("message")},
            {"type": "html", "body": html.as_str()},
        ]},
    });
    let fields: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let (done, committed) = oneshot::channel();
    let row = Row {
        id: uuid::Uuid::now_v7().to_string(),
        payload: payload.to_string(),
        fields: serde_json::Value::Object(fields).to_string(),
        done,
    };
    if floor.rows.send(row).await.is_err() || !committed.await.unwrap_or(false) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Accepted().body("{\"ok\":true}")
}

/// One writer: whatever is waiting goes in one multi-row INSERT, one transaction.
async fn write(mut rows: mpsc::Receiver<Row>, path: String) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("database");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS floor (id TEXT PRIMARY KEY, payload TEXT NOT NULL, fields TEXT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("table");
    let mut batch = Vec::with_capacity(256);
    while rows.recv_many(&mut batch, 256).await > 0 {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO floor (id, payload, fields) ");
        insert.push_values(&batch, |mut b, row| {
            b.push_bind(&row.id)
                .push_bind(&row.payload)
                .push_bind(&row.fields);
        });
        let ok = async {
            let mut tx = conn.begin().await?;
            insert.build().execute(&mut *tx).await?;
            tx.commit().await
        }
        .await
        .is_ok();
        for row in batch.drain(..) {
            let _ = row.done.send(ok);
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(18083);
    let path = args.next().unwrap_or_else(|| "floor.db".to_owned());
    let (sender, receiver) = mpsc::channel(4096);
    actix_web::rt::spawn(write(receiver, path));
    let quota = Quota::per_minute(NonZeroU32::new(60_000_000).unwrap())
        .allow_burst(NonZeroU32::new(1_000_000).unwrap());
    let floor = web::Data::new(Floor {
        limiter: RateLimiter::keyed(quota),
        cleaner: HtmlCleaner::new(),
        rows: sender,
    });
    HttpServer::new(move || {
        App::new()
            .app_data(floor.clone())
            .route("/f/{form}", web::post().to(accept))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
