//! The denominator for `bench/run`: a bare actix-web handler that reads a form body and
//! answers 202, on the same runtime settings as the relay.

use actix_web::{web, App, HttpResponse, HttpServer};

async fn accept(body: web::Bytes) -> HttpResponse {
    HttpResponse::Accepted().body(format!("{{\"ok\":true,\"bytes\":{}}}", body.len()))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18081);
    HttpServer::new(|| App::new().route("/f/{form}", web::post().to(accept)))
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
