use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = talk_relay::cli::Cli::parse();
    match talk_relay::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("talk-relay: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
