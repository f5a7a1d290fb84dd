//! `seatkeeper-local`: the local API server, the table creator and the dev token minter.

use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand};
use seatkeeper::store::table::TableDefinition;
use seatkeeper::store::Store;
use seatkeeper::App;
use seatkeeper_local::{dynamodb_client, mint, router, Claims, LocalServer, DEFAULT_SECRET};

#[derive(Parser)]
#[command(about = "Seatkeeper's local run")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table (from infra/template.yaml) if missing, set it up (the vendor org, the org
    /// ids' case guards), then serve the API.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
        #[arg(long, env = "TABLE_NAME", default_value = "seatkeeper")]
        table: String,
        #[arg(long, env = "SEATKEEPER_DEV_JWT_SECRET", default_value = DEFAULT_SECRET)]
        secret: String,
        /// Do not run the sweeps on the wall clock (tests drive them with /dev/sweeps).
        #[arg(long)]
        no_schedules: bool,
        /// The built console to serve at `/` (default `console/dist` when it exists).
        #[arg(long, env = "SEATKEEPER_CONSOLE_DIR")]
        console: Option<std::path::PathBuf>,
    },
    /// Create the table if missing and set it up (the vendor org, the org ids' case guards).
    CreateTable {
        #[arg(long, env = "TABLE_NAME", default_value = "seatkeeper")]
        table: String,
    },
    /// Print a signed dev token for a role and org.
    Token {
        #[arg(long)]
        role: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        sub: Option<String>,
        #[arg(long, default_value_t = 12)]
        hours: i64,
        #[arg(long, env = "SEATKEEPER_DEV_JWT_SECRET", default_value = DEFAULT_SECRET)]
        secret: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Serve { addr, table, secret, no_schedules, console } => {
            seatkeeper::lambda::init_tracing();
            let client = dynamodb_client().await;
            TableDefinition::from_compiled_template()?.create(&client, &table).await?;
            let store = Store::new(client, table.clone());
            // A table whose ORG#vendor holds another org stops the start here, saying so.
            let done = set_up_or_exit(&store).await;
            tracing::info!(vendor_written = done.vendor_written, guarded = done.guarded, "the table is set up");
            let mut app = App::new(store);
            if let Ok(bucket) = std::env::var("BUCKET_NAME") {
                let config = seatkeeper::app::sdk_config().await;
                let imports = seatkeeper::app::ImportsBucket { client: seatkeeper::app::s3_client(&config), bucket };
                seatkeeper_local::ensure_bucket(&imports).await?;
                app = app.with_imports(imports);
            }
            if !no_schedules {
                tokio::spawn(seatkeeper_local::drive_schedules(app.clone()));
            }
            // E-mail, as the notice bus and the mailer would send it (MAIL_FROM names the sender).
            let (mut mail, mut mailer) = (None, None);
            if let Some(local) = seatkeeper_local::mail::local_mailer(&app).await? {
                tracing::info!(from = %local.from, "notices are e-mailed through the local SES");
                mail = Some(seatkeeper_local::mail::spawn_on_stream(local.clone(), table.clone()));
                mailer = Some(local);
            }
            let default_console = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/dist");
            let console = console.or_else(|| default_console.join("index.html").exists().then_some(default_console));
            let server = Arc::new(LocalServer { app, secret, console, mail, mailer });
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            tracing::info!(%addr, %table, "Seatkeeper local API listening");
            axum::serve(listener, router(server))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
        }
        Command::CreateTable { table } => {
            let client = dynamodb_client().await;
            let created = TableDefinition::from_compiled_template()?.create(&client, &table).await?;
            let done = set_up_or_exit(&Store::new(client, table.clone())).await;
            eprintln!(
                "table {table}: {}; the vendor org {}",
                if created { "created" } else { "exists" },
                if done.vendor_written { "written" } else { "was there" }
            );
        }
        Command::Token { role, org, email, sub, hours, secret } => {
            let now = Utc::now().timestamp();
            let email = email.unwrap_or_else(|| format!("{role}@{org}.example"));
            let claims = Claims {
                sub: sub.unwrap_or_else(|| email.clone()),
                email,
                org_id: org,
                role,
                exp: now + hours * 3600,
                iat: now,
            };
            println!("{}", mint(&secret, &claims));
        }
    }
    Ok(())
}

/// Sets the table up, or says why it cannot be (in words, not as a debug dump) and exits.
async fn set_up_or_exit(store: &Store) -> seatkeeper::store::setup::SetUp {
    match store.set_up(Utc::now()).await {
        Ok(done) => done,
        Err(e) => {
            eprintln!("the table {} cannot be served: {e}", store.table);
            std::process::exit(1);
        }
    }
}
