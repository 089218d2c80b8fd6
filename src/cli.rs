//! The `talk-relay` command line.

use crate::config::{Config, ConfigSources};
use crate::startup::Application;
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "talk-relay",
    version,
    about = "Website forms and webhooks into Ortto Talk, durably."
)]
pub struct Cli {
    /// A TOML file layered over the shipped defaults (default: config/local.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and the delivery worker (creates and migrates the database).
    Serve,
    /// Create or migrate the database, then exit.
    Migrate,
    /// Check the configuration and print the effective forms.
    CheckConfig,
    /// Re-queue submissions for delivery, by id or by status (dead, dry_run).
    Replay {
        /// Submission ids.
        ids: Vec<String>,
        /// Every row with this status: `dead` or `dry_run`.
        #[arg(long)]
        status: Option<String>,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let sources = ConfigSources {
        file: cli.config,
        overlays: Vec::new(),
        secrets: Default::default(),
        read_env: true,
    };
    let config = Config::load(&sources)?;
    match cli.command {
        Command::Serve => {
            crate::telemetry::init(&config.log.filter, config.log.json);
            let app = Application::build(config).await?;
            tracing::info!(port = app.port(), "talk-relay listening");
            app.run_until_stopped().await
        }
        Command::Migrate => {
            let store = Store::open(&config.database.path).await?;
            store.migrate().await?;
            println!("database {} is up to date", config.database.path.display());
            Ok(())
        }
        Command::Replay { ids, status } => {
            let status = status
                .map(|s| {
                    crate::domain::Status::parse(&s)
                        .ok_or_else(|| anyhow::anyhow!("--status: `{s}` is not a status (dead or dry_run)"))
                })
                .transpose()?;
            anyhow::ensure!(
                !ids.is_empty() || status.is_some(),
                "name submission ids or --status dead|dry_run"
            );
            let store = Store::open(&config.database.path).await?;
            store.migrate().await?;
            let requeued = store.replay(&ids, status).await?;
            println!(
                "re-queued {requeued} submission(s); a running relay delivers them within its poll interval"
            );
            Ok(())
        }
        Command::CheckConfig => {
            print!("{}", config.describe());
            println!("configuration is valid");
            Ok(())
        }
    }
}
