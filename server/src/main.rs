//! The `doorstep` command line.

use clap::{Parser, Subcommand};
use doorstep_server::engine::Engine;
use doorstep_server::setup::import::{self, Attribute, CsvMapping, Format, ReadOptions};
use doorstep_server::setup::{SetupError, export, lists, people, stats};
use doorstep_server::storage::organize::Applied;
use doorstep_server::storage::{Dashboard, PgStorage, SqliteStorage, Storage, StorageError};
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
    /// The SQLite database file (created if missing), shared by every command.
    #[arg(long, global = true, default_value = "doorstep.db")]
    db: PathBuf,
    /// A PostgreSQL database instead of the SQLite file, as postgresql://USER@HOST:PORT/DATABASE
    /// (created tables on first use). Several `serve` processes may share one. Over TLS, with
    /// the server's certificate and name checked: add ?sslmode=verify-full, and
    /// &sslrootcert=PATH for an authority of your own.
    #[arg(
        long,
        global = true,
        env = "DOORSTEP_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    postgres: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync server.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Seed an empty database with a demo campaign and print its sign-in tokens.
        #[arg(long)]
        demo: bool,
        /// Fold a document's change chunks into a snapshot after this many (tests use few).
        #[arg(long, default_value_t = 256, hide = true)]
        compact_after: usize,
        /// Mark the dashboard's session cookie Secure on every response: set it when browsers
        /// reach this server over TLS through a proxy that does not send X-Forwarded-Proto.
        #[arg(long)]
        secure_cookies: bool,
        /// How often phones' last sync times are written, in ms (tests use a short time).
        #[arg(long, default_value_t = 60_000, hide = true)]
        seen_flush_ms: u64,
    },
    /// Import a voter file. Re-importing a newer file of the same source updates the rosters
    /// and removes voters it no longer lists; attempts are never lost.
    Import {
        /// The voter file.
        file: PathBuf,
        /// Its layout: ncvoter (NC State Board of Elections), van (VAN export), csv (with --mapping).
        #[arg(long, value_parser = ["ncvoter", "csv", "van"])]
        format: String,
        /// For --format csv: a TOML file naming the columns (see README).
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Attributes phones get besides names and address (the rest of the file is not stored).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "age,gender,party,precinct,phone,tags,location"
        )]
        keep: Vec<String>,
        /// The source this file updates (default: the file's name). Voters of an earlier import
        /// of the same source that this file does not list are removed.
        #[arg(long)]
        source: Option<String>,
        /// Let this file remove more than a tenth of its source's voters (refused otherwise:
        /// a cut-off download or the wrong county's file would empty the turfs).
        #[arg(long)]
        allow_removals: bool,
    },
    /// Campaigns: outcome codes, survey questions, scripts and audiences.
    Campaign {
        #[command(subcommand)]
        action: CampaignAction,
    },
    /// Walk lists (turfs).
    Turfs {
        #[command(subcommand)]
        action: CutAction,
    },
    /// Call lists for phone banks.
    Calllists {
        #[command(subcommand)]
        action: CutAction,
    },
    /// Teams.
    Team {
        #[command(subcommand)]
        action: TeamAction,
    },
    /// Canvassers and captains.
    Canvasser {
        #[command(subcommand)]
        action: CanvasserAction,
    },
    /// Assign a turf or call list to a canvasser.
    Assign {
        /// The turf's id.
        turf: String,
        /// The canvasser's id.
        canvasser: String,
        /// Hand the turf to the canvasser's team if another team holds it.
        #[arg(long = "move")]
        move_team: bool,
    },
    /// Revoke a canvasser: every token stops working at once, their turfs are withdrawn and
    /// they leave their team (a new token brings them back, with no turfs).
    Revoke {
        /// The canvasser's id.
        canvasser: String,
    },
    /// Export results as CSV, keyed by the source file's voter ids.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Progress per turf and team.
    Stats,
    /// Issue or revoke tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum CampaignAction {
    /// Validate a campaign file (TOML) and write it into the campaign document; phones get it
    /// at their next sync.
    Apply {
        /// The campaign file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum CutAction {
    /// Cut lists of about N from the doors (or voters) not yet in one; lists already cut keep
    /// their doors and attempts.
    Cut {
        /// About how many doors (walk lists) or voters (call lists) per list.
        #[arg(long)]
        size: usize,
        /// The campaign (default: the only one).
        #[arg(long)]
        campaign: Option<String>,
    },
}

#[derive(Subcommand)]
enum TeamAction {
    /// Create a team.
    Add {
        /// Its display name.
        name: String,
        /// Its id (default: from the name).
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum CanvasserAction {
    /// Create a canvasser and print their sign-in token (shown once).
    Add {
        /// Their display name.
        name: String,
        /// Their team's id.
        #[arg(long)]
        team: String,
        /// Make them the team's captain.
        #[arg(long)]
        captain: bool,
        /// Their id (default: from the name).
        #[arg(long)]
        id: Option<String>,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// One row per attempt.
    Attempts {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also export voided attempts, with the void's id.
        #[arg(long)]
        include_voided: bool,
    },
    /// One row per voter with a result: latest status and answers.
    Voters {
        /// The CSV file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Issue a new token for a user; it is shown once.
    Issue {
        /// The user's id.
        #[arg(long)]
        user: String,
    },
    /// Revoke a token by its id; it stops working at once.
    Revoke {
        /// The token's id (printed when it was issued).
        id: String,
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

/// Where the commands keep their data, for messages: which, and the option that selects it
/// again (never a password).
struct Place {
    /// The SQLite file, or the PostgreSQL database's host, port and name.
    shown: String,
    /// The command-line option that selects it.
    option: String,
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.postgres {
        Some(url) => {
            let shown = doorstep_server::storage::postgres::describe_url(&url)
                .map_err(|e| format!("--postgres: {e}"))?;
            let place = Place {
                shown,
                option: "--postgres URL".into(),
            };
            let open = || {
                PgStorage::connect(&url).map_err(|e| match e {
                    // It names the database already.
                    StorageError::Unavailable { .. } => e.to_string(),
                    e => format!("cannot use {}: {e}", place.shown),
                })
            };
            run_on(cli.command, &open, &place)
        }
        None => {
            let db = cli.db;
            let place = Place {
                shown: db.display().to_string(),
                option: format!("--db {}", db.display()),
            };
            let open = || {
                SqliteStorage::open(&db).map_err(|e| format!("cannot open {}: {e}", db.display()))
            };
            run_on(cli.command, &open, &place)
        }
    }
}

/// Runs a command on the storage `open` opens (when the command needs it).
fn run_on<S: Dashboard>(
    command: Command,
    open: &dyn Fn() -> Result<S, String>,
    place: &Place,
) -> Result<(), String> {
    let now = now_ms();
    let err = |e: SetupError| e.to_string();
    match command {
        Command::Serve {
            addr,
            demo,
            compact_after,
            secure_cookies,
            seen_flush_ms,
        } => {
            let storage = open()?;
            if demo {
                seed_demo(&storage, place)?;
            }
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}; pass another --addr"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                println!("doorstep is serving {} on http://{local}", place.shown);
                println!(
                    "dashboard: http://{local}/dashboard (sign in with an organizer's or a field captain's token)"
                );
                tracing::info!(%local, "listening");
                let state = AppState {
                    secure_cookies,
                    ..AppState::from_engine(Engine::new(storage).with_compact_after(compact_after))
                };
                doorstep_server::serve_flushing_every(
                    listener,
                    state,
                    doorstep_server::shutdown_signal(),
                    std::time::Duration::from_millis(seen_flush_ms),
                )
                .await
                .map_err(|e| format!("server failed: {e}"))
            })
        }
        Command::Import {
            file,
            format,
            mapping,
            keep,
            source,
            allow_removals,
        } => {
            let format = Format::parse(&format).ok_or("--format is ncvoter, csv or van")?;
            let keep = keep
                .iter()
                .filter(|k| !k.is_empty())
                .map(|k| {
                    Attribute::parse(k).ok_or_else(|| {
                        format!(
                            "--keep {k}: not an attribute; choose from {}",
                            Attribute::ALL.map(Attribute::as_str).join(", ")
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mapping =
                match mapping {
                    Some(path) => {
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                        Some(toml::from_str::<CsvMapping>(&text).map_err(|e| {
                            format!("the mapping {} is not valid: {e}", path.display())
                        })?)
                    }
                    None => None,
                };
            let source = source.unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| file.display().to_string())
            });
            let input = std::fs::File::open(&file)
                .map_err(|e| format!("cannot open {}: {e}", file.display()))?;
            let size = input.metadata().map(|m| m.len()).unwrap_or(0);
            let storage = open()?;
            let bar = indicatif::ProgressBar::new(size).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} importing [{bar:40}] {bytes}/{total_bytes} ({eta} left)",
                )
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
            );
            let report = import::run_import(
                &storage,
                input,
                &ReadOptions {
                    format,
                    mapping,
                    keep,
                    allow_removals,
                },
                &source,
                now,
                &|bytes| bar.set_position(bytes),
            )
            .map_err(|e| format!("{}: {e}", file.display()))?;
            bar.finish_and_clear();
            println!("imported {} as source '{source}'", file.display());
            print!("{report}");
            if let Some(peak) = import::peak_memory() {
                println!("peak memory:         {:>7.1} MB", peak as f64 / 1e6);
            }
            Ok(())
        }
        Command::Campaign {
            action: CampaignAction::Apply { file },
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let campaign = doorstep_server::setup::campaign_file::parse_campaign(&text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let storage = open()?;
            let applied = storage
                .apply_campaign(&campaign)
                .map_err(|e| e.to_string())?;
            let what = match applied {
                Applied::Created => "created",
                Applied::Updated => "updated; phones get it at their next sync",
                Applied::Unchanged => "unchanged",
            };
            println!(
                "campaign '{}' {what}: {} outcomes, {} questions, {} scripts, {} audiences",
                campaign.id,
                campaign.outcomes.len(),
                campaign.questions.len(),
                campaign.scripts.len(),
                campaign.audiences.len()
            );
            Ok(())
        }
        Command::Turfs {
            action: CutAction::Cut { size, campaign },
        } => {
            let storage = open()?;
            let report = lists::cut_turfs(&storage, campaign.as_deref(), size).map_err(err)?;
            print_cut(&report, "walk lists", "doors");
            Ok(())
        }
        Command::Calllists {
            action: CutAction::Cut { size, campaign },
        } => {
            let storage = open()?;
            let report = lists::cut_call_lists(&storage, campaign.as_deref(), size).map_err(err)?;
            print_cut(&report, "call lists", "voters");
            Ok(())
        }
        Command::Team {
            action: TeamAction::Add { name, id },
        } => {
            let storage = open()?;
            let id = people::add_team(&storage, &name, id.as_deref()).map_err(err)?;
            println!("team '{id}' created");
            Ok(())
        }
        Command::Canvasser {
            action:
                CanvasserAction::Add {
                    name,
                    team,
                    captain,
                    id,
                },
        } => {
            let storage = open()?;
            let added = people::add_canvasser(&storage, &name, &team, captain, id.as_deref(), now)
                .map_err(err)?;
            println!(
                "{} '{}' added to team '{team}'. Sign-in token (shown once; give it to them privately):",
                if captain { "captain" } else { "canvasser" },
                added.id
            );
            println!("{}", added.token.secret);
            Ok(())
        }
        Command::Assign {
            turf,
            canvasser,
            move_team,
        } => {
            let storage = open()?;
            people::assign(&storage, &turf, &canvasser, move_team).map_err(err)?;
            println!(
                "turf '{turf}' assigned to '{canvasser}': their phone gets it at its next sync, and their team's phones learn it"
            );
            Ok(())
        }
        Command::Revoke { canvasser } => {
            let storage = open()?;
            let (tokens, turfs) = people::revoke(&storage, &canvasser, now).map_err(err)?;
            println!(
                "'{canvasser}' revoked: {tokens} token(s) stopped, {turfs} turf assignment(s) withdrawn, off their team; issuing them a token brings them back"
            );
            Ok(())
        }
        Command::Export { what } => {
            let storage = open()?;
            let (out, rows) = match what {
                ExportWhat::Attempts {
                    out,
                    include_voided,
                } => {
                    let rows = write_atomically(&out, |w| {
                        export::export_attempts(&storage, w, include_voided)
                    })?;
                    (out, rows)
                }
                ExportWhat::Voters { out } => {
                    let rows = write_atomically(&out, |w| export::export_voters(&storage, w))?;
                    (out, rows)
                }
            };
            println!("wrote {} rows to {}", rows.rows, out.display());
            Ok(())
        }
        Command::Stats => {
            let storage = open()?;
            print!("{}", stats::stats(&storage).map_err(err)?);
            Ok(())
        }
        Command::Token { action } => match action {
            TokenAction::Issue { user } => {
                let storage = open()?;
                let token = auth::issue_token(&storage, &user, now).map_err(|e| e.to_string())?;
                println!(
                    "token for {user} (shown once; revoke with `doorstep token revoke {}`):",
                    token.id
                );
                println!("{}", token.secret);
                Ok(())
            }
            TokenAction::Revoke { id } => {
                let storage = open()?;
                if storage.revoke_token(&id, now).map_err(|e| e.to_string())? {
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

fn print_cut(report: &lists::CutReport, what: &str, unit: &str) {
    println!(
        "campaign '{}': {} new {what} ({} {unit}){}; {} {unit} were already in a list and stay there",
        report.campaign,
        report.lists.len(),
        report.placed(),
        if report.geographic {
            ", cut by coordinates"
        } else {
            ""
        },
        report.already_placed
    );
    for (id, n) in &report.lists {
        println!("  {id}  {n} {unit}");
    }
}

/// Writes a file through a temporary one beside it, renamed into place only when complete.
fn write_atomically<T>(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T, SetupError>,
) -> Result<T, String> {
    let tmp = path.with_extension("csv.partial");
    let file =
        std::fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let out = write(&mut w).map_err(|e| format!("{}: {e}", path.display()));
    let out = out.and_then(|out| {
        use std::io::Write;
        w.flush()
            .and_then(|()| w.get_ref().sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(out)
    });
    if out.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    out
}

fn seed_demo(storage: &impl Storage, place: &Place) -> Result<(), String> {
    if !storage.is_empty().map_err(|e| e.to_string())? {
        println!(
            "{} already holds a campaign: not seeding. Tokens are shown only when issued; issue a new one with `doorstep token issue --user canvasser-1-1 {}`",
            place.shown, place.option
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
