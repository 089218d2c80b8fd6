//! The `talk-relay` command line.

use crate::config::{Config, ConfigSources};
use crate::startup::Application;
use crate::store::Store;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `println!` that never panics: a reader that went away (`check-config | head -3`) ends
/// the output quietly instead of a broken-pipe panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

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
    /// Release quarantined submissions to delivery: they were not spam (docs/spam.md).
    Release {
        /// Submission ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Confirm quarantined submissions as spam: they stay out of delivery until retention.
    Confirm {
        /// Submission ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Counts by status and source for a window, queue depth and the oldest waiting row.
    Stats {
        /// The window, in hours back from now.
        #[arg(long, default_value_t = 24)]
        hours: i64,
    },
    /// Delete rows received more than DAYS ago (rows still waiting for delivery are kept).
    Purge {
        #[arg(long, value_name = "DAYS")]
        older_than: u32,
    },
    /// Remove every row of one person (a GDPR erasure request) and report how many went.
    Erase {
        #[arg(long)]
        email: String,
    },
    /// Write a starter configuration with one form (to --config, else config/local.toml) and
    /// print the form's HTML, the secrets still to set and the next commands. Never overwrites.
    Init {
        /// The form's name, as in /f/NAME.
        #[arg(long, default_value = "contact")]
        form: String,
        /// The site that posts to it, e.g. https://www.example.com (default: any site).
        #[arg(long)]
        origin: Option<String>,
    },
    /// Print, as JSON, everything held about one person (a GDPR access request), matched as
    /// `erase` matches, with each row's proof of consent.
    ExportPerson {
        /// The person's email address.
        email: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Init { form, origin } = &cli.command {
        // Before any configuration is read: this writes the first one.
        let path = cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from("config/local.toml"));
        let starter = crate::starter::Starter {
            form,
            origin: origin.as_deref(),
        };
        crate::starter::write_new(&path, &crate::starter::render(&starter)?)?;
        say!("{}", crate::starter::next_steps(&path, form));
        return Ok(());
    }
    let sources = ConfigSources {
        file: cli.config,
        overlays: Vec::new(),
        secrets: Default::default(),
        read_env: true,
        // Only `serve` needs every secret; the other commands never authenticate anyone.
        lenient_secrets: !matches!(cli.command, Command::Serve),
    };
    let config = Config::load(&sources)?;
    match cli.command {
        Command::Serve => {
            let telemetry = crate::telemetry::init(&config.log.filter, config.log.json);
            let app = Application::build_reloadable(config, sources.clone()).await?;
            tracing::info!(port = app.port(), "talk-relay listening");
            let served = app.run_until_stopped().await;
            telemetry.shutdown();
            served
        }
        Command::Migrate => {
            crate::store::open_migrated(&config.database).await?;
            say!("database {} is up to date", config.database.describe_target());
            Ok(())
        }
        Command::Replay { ids, status } => replay(&config, &ids, status).await,
        Command::Stats { hours } => stats(&config, hours).await,
        Command::Release { ids } => review(&config, &ids, true).await,
        Command::Confirm { ids } => review(&config, &ids, false).await,
        Command::Purge { older_than } => purge(&config, older_than).await,
        Command::Erase { email } => erase(&config, &email).await,
        Command::ExportPerson { email } => {
            let exported = crate::person::export(&open_store(&config).await?, &email).await?;
            say!("{}", serde_json::to_string_pretty(&exported)?);
            Ok(())
        }
        Command::CheckConfig => check_config(&config),
        Command::Init { .. } => unreachable!("answered before the configuration is read"),
    }
}

async fn replay(config: &Config, ids: &[String], status: Option<String>) -> anyhow::Result<()> {
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
    let requeued = open_store(config).await?.replay(ids, status).await?;
    say!("re-queued {requeued} submission(s); a running relay delivers them within its poll interval");
    Ok(())
}

/// `release` and `confirm`: each id's result on a line; fails when any id was not reviewed.
async fn review(config: &Config, ids: &[String], release: bool) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let mut missed = 0;
    for id in ids {
        let now = chrono::Utc::now();
        let done = match release {
            true => crate::spam::release(&store, id, now).await?,
            false => crate::spam::confirm(&store, id, now).await?,
        };
        let said = match (done, release) {
            (crate::spam::Reviewed::Done, true) => "released: queued for delivery",
            (crate::spam::Reviewed::Done, false) => "confirmed as spam",
            (crate::spam::Reviewed::NotFound, _) => "not found",
            (crate::spam::Reviewed::NotQuarantined, _) => "not in the quarantine",
            (crate::spam::Reviewed::NothingToDeliver, _) => "not released: it has no payload to deliver",
        };
        missed += usize::from(done != crate::spam::Reviewed::Done);
        say!("{id}: {said}");
    }
    anyhow::ensure!(
        missed == 0,
        "{missed} of {} submission(s) were not reviewed",
        ids.len()
    );
    Ok(())
}

async fn stats(config: &Config, hours: i64) -> anyhow::Result<()> {
    let since = crate::domain::utc_timestamp(chrono::Utc::now() - chrono::Duration::hours(hours.max(1)));
    let stats = open_store(config).await?.stats(&since).await?;
    say!("since {since}");
    say!("{:<6} {:<24} {:<10} {:>8}", "kind", "source", "status", "count");
    for row in &stats.counts {
        say!(
            "{:<6} {:<24} {:<10} {:>8}",
            row.source_kind,
            row.source,
            row.status,
            row.count
        );
    }
    say!(
        "queue depth {}; oldest waiting received {}; oldest due for {} s",
        stats.queue_depth,
        stats.oldest_waiting_received_at.as_deref().unwrap_or("-"),
        stats.oldest_due_age_seconds
    );
    Ok(())
}

async fn purge(config: &Config, older_than: u32) -> anyhow::Result<()> {
    let cutoff =
        crate::domain::utc_timestamp(chrono::Utc::now() - chrono::Duration::days(i64::from(older_than)));
    let store = open_store(config).await?;
    let removed = store.purge_before(&cutoff, 500).await?;
    // Their files, once no row names them (docs/files.md, "Operations").
    let files = crate::files::FileStore::open(&config.files)?;
    let swept = crate::files::sweep::sweep(&files, &store, crate::files::sweep::ORPHAN_AGE).await?;
    say!(
        "purged rows received before {cutoff}: {} submissions, {} delivery attempts, {} session logs, {} files",
        removed.submissions,
        removed.delivery_attempts,
        removed.talk_sessions,
        swept.files
    );
    Ok(())
}

async fn erase(config: &Config, email: &str) -> anyhow::Result<()> {
    let erased = open_store(config).await?.erase_email(email).await?;
    // Their files, local or in S3 (docs/files.md, "Operations").
    let files = crate::files::FileStore::open(&config.files)?;
    let mut erased_files = 0;
    for id in &erased.submission_ids {
        erased_files += files.delete_submission(id).await?;
    }
    let removed = erased.removed;
    say!(
        "erased {} submissions, {} delivery attempts, {} session logs, {erased_files} files",
        removed.submissions,
        removed.delivery_attempts,
        removed.talk_sessions
    );
    match erased.residue {
        None => say!("the erased bytes are gone from the database's files"),
        Some(residue) => say!("warning: {residue}"),
    }
    Ok(())
}

fn check_config(config: &Config) -> anyhow::Result<()> {
    let pages = crate::pages::Pages::load(config.pages_dir())?;
    say!("{}", config.describe().trim_end());
    for warning in pages.warnings() {
        eprintln!("warning: {warning}");
    }
    for missing in &config.missing_secrets {
        eprintln!("warning: {missing}; `serve` will refuse to start without it");
    }
    say!("configuration is valid");
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    crate::store::open_migrated(&config.database).await
}
