//! The `doorstep` command line.

use clap::{Parser, Subcommand};
use doorstep_server::engine::Engine;
use doorstep_server::storage::{SqliteStorage, Storage};
use doorstep_server::{AppState, auth, demo, handlers::sync::now_ms};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "doorstep",
    version,
    about = "Doorstep: offline-first canvassing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync server.
    Serve {
        /// The SQLite database file (created if missing).
        #[arg(long, default_value = "doorstep.db")]
        db: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Seed an empty database with a demo campaign and print its sign-in tokens.
        #[arg(long)]
        demo: bool,
        /// Fold a document's change chunks into a snapshot after this many (tests use few).
        #[arg(long, default_value_t = 256, hide = true)]
        compact_after: usize,
    },
    /// Issue or revoke tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue a new token for a user; it is shown once.
    Issue {
        /// The user's id.
        #[arg(long)]
        user: String,
        /// The SQLite database file.
        #[arg(long, default_value = "doorstep.db")]
        db: PathBuf,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke {
        /// The token's id (printed when it was issued).
        id: String,
        /// The SQLite database file.
        #[arg(long, default_value = "doorstep.db")]
        db: PathBuf,
    },
}

fn main() -> ExitCode {
    // Automerge logs an expected outcome of checking received changes (they build on changes
    // not included) at error level; it is not an error here.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,automerge=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open(db: &PathBuf) -> Result<SqliteStorage, String> {
    SqliteStorage::open(db).map_err(|e| format!("cannot open {}: {e}", db.display()))
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            db,
            addr,
            demo,
            compact_after,
        } => {
            let storage = open(&db)?;
            if demo {
                seed_demo(&storage, &db)?;
            }
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}; pass another --addr"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                println!("doorstep is serving {} on http://{local}", db.display());
                tracing::info!(%local, "listening");
                doorstep_server::serve(
                    listener,
                    AppState::from_engine(Engine::new(storage).with_compact_after(compact_after)),
                    doorstep_server::shutdown_signal(),
                )
                .await
                .map_err(|e| format!("server failed: {e}"))
            })
        }
        Command::Token { action } => match action {
            TokenAction::Issue { user, db } => {
                let storage = open(&db)?;
                let token =
                    auth::issue_token(&storage, &user, now_ms()).map_err(|e| e.to_string())?;
                println!(
                    "token for {user} (shown once; revoke with `doorstep token revoke {}`):",
                    token.id
                );
                println!("{}", token.secret);
                Ok(())
            }
            TokenAction::Revoke { id, db } => {
                let storage = open(&db)?;
                if storage
                    .revoke_token(&id, now_ms())
                    .map_err(|e| e.to_string())?
                {
                    println!("token {id} revoked");
                    Ok(())
                } else {
                    Err(format!(
                        "no live token has id {id}; `doorstep token issue` prints ids"
                    ))
                }
            }
        },
    }
}

fn seed_demo(storage: &SqliteStorage, db: &std::path::Path) -> Result<(), String> {
    if !storage.is_empty().map_err(|e| e.to_string())? {
        println!(
            "{} already holds a campaign: not seeding. Tokens are shown only when issued; issue a new one with `doorstep token issue --user canvasser-1-1 --db {}`",
            db.display(),
            db.display()
        );
        return Ok(());
    }
    let plan = demo::Plan::default();
    let users = demo::seed(storage, &plan, now_ms()).map_err(|e| e.to_string())?;
    let voters: usize = storage
        .grants(&doorstep_server::storage::Principal {
            user: "organizer".into(),
            role: doorstep_core::sync::Role::Admin,
            team: None,
        })
        .map_err(|e| e.to_string())?
        .turfs
        .keys()
        .filter_map(|t| storage.roster(t).ok().flatten())
        .map(|r| r.voters.len())
        .sum();
    println!(
        "seeded demo campaign '{}': {} teams, {} turfs, {voters} fictional voters",
        demo::CAMPAIGN,
        plan.teams,
        plan.teams * plan.turfs_per_team
    );
    println!("sign-in tokens (shown once):");
    for u in &users {
        println!(
            "  {:<14} {:<10} {}  (turfs: {})",
            u.id,
            u.role.as_str(),
            u.token.secret,
            if u.turfs.is_empty() {
                "all".to_string()
            } else {
                u.turfs.len().to_string()
            }
        );
    }
    Ok(())
}
