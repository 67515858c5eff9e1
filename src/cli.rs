//! The `relay-topup` command line.
//!
//! A command that creates something prints its id or secret alone on the
//! last line of standard output, so scripts can take it with `tail -n 1`;
//! everything else a command has to say goes to standard error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

mod accounts;
mod audit;
mod demo_env;
mod lines;
mod tree;

use crate::app::grants::{self, GrantOrder};
use crate::app::operators;
use crate::clock::{Clock, SystemClock};
use crate::code::{self, CodeError, KeySet};
use crate::config::Limits;
use crate::domain::{NewOperator, Product, Recurrence, Role};
use crate::keyfile::{self, DEFAULT_KEY_FILE};
use crate::server::{self, DEFAULT_DATABASE_URL, ServerConfig};
use crate::storage::{PoolSettings, Store, TokenScope, TransferKind};

#[derive(Debug, Parser)]
#[command(
    name = "relay-topup",
    version,
    about = "Prepaid mobile top-up codes for social structures"
)]
pub struct Cli {
    /// Database: sqlite://FILE?mode=rwc (the default, a file in the working
    /// directory) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Path of the key file (code keys, signing keys, pepper; mode 0600).
    #[arg(long, global = true, env = "RELAY_TOPUP_KEY_FILE", default_value = DEFAULT_KEY_FILE)]
    key_file: PathBuf,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the service.
    Serve(ServeArgs),
    /// Work with codes without any key.
    #[command(subcommand)]
    Code(CodeCommand),
    /// Manage the key file (code keys, signing keys, pepper).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Register and list structures.
    #[command(subcommand)]
    Structure(StructureCommand),
    /// Register and list operators (networks).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Grant quota to a structure.
    Grant(GrantArgs),
    /// Pass quota from an association to one of its members.
    Allocate(tree::TransferArgs),
    /// Take back from a member quota it has not issued, for its
    /// association.
    Clawback(tree::TransferArgs),
    /// Subscriber lines: lift a bar.
    #[command(subcommand)]
    Line(lines::LineCommand),
    /// People's accounts for the desk.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// Create and revoke API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The product catalogue.
    #[command(subcommand)]
    Product(ProductCommand),
    /// Writes a consistent copy of a live SQLite database to a new file
    /// (PostgreSQL: pg_dump). Back up the key file after it.
    Backup {
        /// The copy to write; it must not exist yet.
        #[arg(long)]
        output: std::path::PathBuf,
    },
    /// Export the audit trail, or verify a database or an export offline.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RELAY_TOPUP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also create a demo structure with quota, and structure, operator and
    /// auditor tokens (printed once).
    #[arg(long)]
    demo: bool,
    /// Database connections in the read pool.
    #[arg(long, env = "RELAY_TOPUP_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// Database connections kept apart for heavy audit reads (reports,
    /// reconciliations, the integrity check), so they never make a
    /// redemption wait.
    #[arg(long, env = "RELAY_TOPUP_AUDIT_CONNECTIONS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    audit_connections: u32,
    /// How long a request waits for a database connection before it is
    /// answered 503 `database_unavailable` (at most the request timeout
    /// less one second, so that an outage is named as such).
    #[arg(long, env = "RELAY_TOPUP_DATABASE_WAIT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..))]
    database_wait_secs: u64,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Debug, Subcommand)]
enum CodeCommand {
    /// Tells whether a code is well formed and, if not, where the typo is.
    /// Needs no key: it cannot say whether the code is genuine.
    Check {
        /// The code as typed; quote it if it contains spaces.
        code: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Creates a new key file (mode 0600); refuses to overwrite one.
    Generate,
    /// Adds a new code key, PIN key and signing key (old keys keep
    /// verifying) and records the rotation in the service's database, which
    /// must exist: both or neither. Running servers reading this key file
    /// pick the new keys up without a restart.
    Rotate,
    /// Prints the public attestation keys and the code key ids.
    Show,
}

#[derive(Debug, Subcommand)]
enum StructureCommand {
    /// Registers a structure; prints its id.
    Add {
        name: String,
        #[arg(long)]
        external_ref: Option<String>,
        /// Its association's id (at most three levels under the
        /// coordinator).
        #[arg(long)]
        parent: Option<i64>,
    },
    /// Puts a structure under another association; without --parent,
    /// directly under the coordinator. Prints its id.
    Move {
        id: i64,
        #[arg(long)]
        parent: Option<i64>,
    },
    /// Lists structures.
    List,
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Registers an operator; prints its id.
    Add {
        name: String,
        /// What to do with a top-up, printed on its slips in French.
        #[arg(long)]
        instructions_fr: Option<String>,
        /// The same, in English.
        #[arg(long)]
        instructions_en: Option<String>,
        /// How a PIN is keyed in: the USSD string with PIN where the
        /// twenty digits go, e.g. '*144*PIN#'.
        #[arg(long)]
        slip_instructions: Option<String>,
    },
    /// Sets the USSD string printed on the operator's PIN slips
    /// ('*144*PIN#'); without one, the slips print the free instructions.
    SlipInstructions { id: i64, pattern: Option<String> },
    /// Lists operators: id, name.
    List,
}

#[derive(Debug, clap::Args)]
struct GrantArgs {
    /// The structure's id.
    structure_id: i64,
    /// The network the quota is for (`operator list`).
    #[arg(long)]
    operator_id: i64,
    /// The quota resource: data_mb, voice, …
    resource: String,
    /// Units of the resource (MB for data_mb, days for voice).
    amount: i64,
    /// RFC 3339 time after which the unused remainder lapses.
    #[arg(long)]
    expires_at: Option<String>,
    /// Credit the amount again each month.
    #[arg(long)]
    monthly: bool,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Creates a token; prints the secret, once, on the last line.
    Create {
        /// admin, structure, operator or auditor.
        role: String,
        /// Required for structure tokens.
        #[arg(long)]
        structure_id: Option<i64>,
        /// Required for operator tokens: the network they redeem for.
        #[arg(long)]
        operator_id: Option<i64>,
        #[arg(long)]
        label: Option<String>,
    },
    /// Revokes a token by id.
    Revoke { id: i64 },
}

#[derive(Debug, Subcommand)]
enum ProductCommand {
    /// Lists the catalogue as JSON lines.
    List,
    /// Adds or replaces a product from its JSON description.
    Save {
        /// The product as JSON, as `GET /v1/products` shows it.
        json: String,
    },
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error: human-readable by default, one JSON object a
/// line with `RELAY_TOPUP_LOG_FORMAT=json`; the level comes from `RUST_LOG`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("RELAY_TOPUP_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve(args) => serve(&cli.database_url, &cli.key_file, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Code(CodeCommand::Check { code }) => Ok(check_code(&code)),
        Command::Audit(cmd) => audit::run(&cli.database_url, &cli.key_file, cmd).await,
        Command::Keys(cmd) => keys(&cli.database_url, &cli.key_file, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Line(cmd) => lines::run(&cli.database_url, &cli.key_file, cmd)
            .await
            .map(|()| ExitCode::SUCCESS),
        other => admin(&cli.database_url, other)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn open_store(url: &str) -> Result<Store, String> {
    Store::open(url, &PoolSettings::default())
        .await
        .map_err(err)
}

async fn serve(database_url: &str, key_file: &Path, args: ServeArgs) -> Result<(), String> {
    let wait_secs = args
        .database_wait_secs
        .min(args.limits.request_timeout_secs.saturating_sub(1))
        .max(1);
    let config = ServerConfig {
        database_url: database_url.to_owned(),
        key_file: key_file.to_owned(),
        listen: args.listen,
        limits: args.limits,
        pool: PoolSettings {
            max_connections: args.max_connections,
            audit_connections: args.audit_connections,
            acquire_timeout_secs: wait_secs,
            ..PoolSettings::default()
        },
        clock: Arc::new(SystemClock),
        demo: args.demo,
    };
    let running = server::start(config).await.map_err(err)?;
    print_first_start(&running.first_start);
    if running.first_start.demo.is_some() {
        print_demo_env(database_url, &running.first_start);
    }
    tracing::info!(addr = %running.addr, "listening");
    let stop = running.shutdown_handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop.send(true);
    });
    running.wait().await.map_err(err)?;
    tracing::info!("stopped");
    Ok(())
}

/// Prints the secrets made at first start, once. Whoever started the
/// service may stop reading its output (a script that only wanted the
/// admin token): a closed output is no reason to stop serving, so write
/// errors are ignored. The admin token comes last.
fn print_first_start(first: &server::FirstStart) {
    use std::io::Write as _;
    let mut lines = Vec::new();
    if let Some(demo) = &first.demo {
        lines.push(format!("demo structure id: {}", demo.structure_id));
        lines.push(format!(
            "demo structure token (shown once): {}",
            demo.structure_token
        ));
        lines.push(format!(
            "demo operator token, first network (shown once): {}",
            demo.operator_token
        ));
        if let Some(token) = &demo.second_operator_token {
            lines.push(format!(
                "demo operator token, second network (shown once): {token}"
            ));
        }
        lines.push(format!(
            "demo auditor token (shown once): {}",
            demo.auditor_token
        ));
        let (login, code) = &demo.manager;
        lines.push(format!(
            "demo structure manager: login {login}, activation code (shown once): {code}"
        ));
    }
    if let Some((login, code)) = &first.coordinator {
        lines.push(format!(
            "first coordinator account: login {login}, activation code (shown once): {code} \
             (choose its password at /desk/activate)"
        ));
    }
    if let Some(token) = &first.admin_token {
        lines.push(format!("first admin token (shown once): {token}"));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// The demo's tokens as shell lines, printed and written beside the
/// database (a write failure is said, and serving goes on).
fn print_demo_env(database_url: &str, first: &server::FirstStart) {
    use std::io::Write as _;
    let lines = demo_env::shell_lines(first);
    let path = demo_env::path_for(database_url);
    let mut out = std::io::stdout().lock();
    let mut said = lines.clone();
    match demo_env::write(&path, &lines) {
        Ok(()) => said.push(format!(
            "demo tokens written to {} (mode 0600): in another terminal, `. {}`",
            path.display(),
            path.display()
        )),
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "demo tokens not written"),
    }
    for line in said {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Rotates the key file and records it in the service's database, both or
/// neither: the database must already exist (a rotation recorded in a new
/// empty one would be lost to the service), it is opened before the file
/// changes, and the file is put back as it was if the record fails.
async fn rotate_keys(database_url: &str, key_file: &Path) -> Result<(u8, u8, u32), String> {
    if let Some(file) = crate::storage::sqlite_file(database_url)
        && !Path::new(file).exists()
    {
        return Err(format!(
            "no database at {file}: a rotation is recorded in the service's own database; \
             give its --database-url (or DATABASE_URL). Nothing was changed."
        ));
    }
    let store = open_store(database_url).await?;
    let before = keyfile::load(key_file).map_err(err)?;
    let material = keyfile::rotate(key_file).map_err(err)?;
    let keys = KeySet::from_material(&material).map_err(err)?;
    let ids = (
        keys.codes.active().get(),
        keys.pins.active(),
        keys.signing_key().id(),
    );
    let recorded = store
        .record_key_rotation("cli", ids.0, ids.1, ids.2, SystemClock.now_secs())
        .await;
    store.close().await;
    if let Err(e) = recorded {
        let restored = keyfile::lock(key_file).and_then(|_lock| keyfile::save(key_file, &before));
        return Err(match restored {
            Ok(()) => {
                format!("the rotation could not be recorded ({e}); the key file is as it was")
            }
            Err(back) => format!(
                "the rotation could not be recorded ({e}), and the key file could not be put \
                 back ({back}): it holds keys the database does not know; rotate again"
            ),
        });
    }
    Ok(ids)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

async fn admin(database_url: &str, command: Command) -> Result<(), String> {
    let store = open_store(database_url).await?;
    let now = SystemClock.now_secs();
    let result = admin_on(&store, command, now).await;
    store.close().await;
    result
}

async fn admin_on(store: &Store, command: Command, now: i64) -> Result<(), String> {
    match command {
        Command::Structure(StructureCommand::Add {
            name,
            external_ref,
            parent,
        }) => {
            let new = crate::app::structures::NewStructure {
                name: &name,
                external_ref: external_ref.as_deref(),
                parent_id: parent,
            };
            let s = crate::app::structures::register(store, "cli", new, now)
                .await
                .map_err(err)?;
            println!("{}", s.id);
        }
        Command::Structure(StructureCommand::Move { id, parent }) => {
            tree::move_under(store, id, parent, now).await?;
        }
        Command::Allocate(args) => {
            tree::transfer(store, TransferKind::Allocation, &args, now).await?;
        }
        Command::Clawback(args) => {
            tree::transfer(store, TransferKind::Clawback, &args, now).await?;
        }
        Command::Structure(StructureCommand::List) => {
            for s in store.list_structures().await.map_err(err)? {
                println!(
                    "{}\t{}\t{}",
                    s.id,
                    s.external_ref.unwrap_or_default(),
                    s.name
                );
            }
        }
        Command::Operator(OperatorCommand::Add {
            name,
            instructions_fr,
            instructions_en,
            slip_instructions,
        }) => {
            let new = NewOperator {
                name,
                instructions_fr,
                instructions_en,
                slip_instructions: slip_instructions
                    .as_deref()
                    .and_then(crate::domain::operator::tidy_dialling),
            };
            let o = operators::register(store, "cli", &new, now)
                .await
                .map_err(err)?;
            println!("{}", o.id);
        }
        Command::Operator(OperatorCommand::SlipInstructions { id, pattern }) => {
            let change = crate::domain::operator::SlipInstructions {
                slip_instructions: pattern
                    .as_deref()
                    .and_then(crate::domain::operator::tidy_dialling),
            };
            let o = operators::set_slip_instructions(store, "cli", id, &change, now)
                .await
                .map_err(err)?;
            println!("{}\t{}", o.id, o.slip_instructions.unwrap_or_default());
        }
        Command::Operator(OperatorCommand::List) => {
            for o in operators::list(store).await.map_err(err)? {
                println!("{}\t{}", o.id, o.name);
            }
        }
        Command::Grant(g) => {
            let order = GrantOrder {
                structure_id: g.structure_id,
                operator_id: g.operator_id,
                resource: &g.resource,
                amount: g.amount,
                expires_at: g.expires_at.as_deref(),
                recurrence: g.monthly.then_some(Recurrence::Monthly),
            };
            let (id, _) = grants::grant(store, "cli", order, now).await.map_err(err)?;
            println!("{id}");
        }
        Command::Token(TokenCommand::Create {
            role,
            structure_id,
            operator_id,
            label,
        }) => {
            let role =
                Role::parse(&role).ok_or("role must be admin, structure, operator or auditor")?;
            let (token, hash) =
                crate::tokens::generate().ok_or("random number generator failed")?;
            let id = store
                .create_token(
                    "cli",
                    &hash,
                    role,
                    TokenScope {
                        structure_id,
                        operator_id,
                    },
                    label.as_deref(),
                    now,
                )
                .await
                .map_err(err)?;
            eprintln!("token {id} created; its secret is shown once, below");
            println!("{token}");
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            if !store.revoke_token("cli", id, now).await.map_err(err)? {
                return Err(format!("no live token {id}"));
            }
            eprintln!("token {id} revoked");
        }
        Command::Product(ProductCommand::List) => {
            for p in store.list_products().await.map_err(err)? {
                println!("{}", serde_json::to_string(&p).map_err(err)?);
            }
        }
        Command::Product(ProductCommand::Save { json }) => {
            let product: Product = serde_json::from_str(&json).map_err(err)?;
            product.check().map_err(err)?;
            store
                .upsert_product("cli", &product, now)
                .await
                .map_err(err)?;
            println!("{}", product.id);
        }
        Command::Account(cmd) => accounts::run(store, cmd, now).await?,
        Command::Backup { output } => {
            store.backup_into(&output).await.map_err(err)?;
            println!("{}", output.display());
        }
        Command::Serve(_)
        | Command::Code(_)
        | Command::Keys(_)
        | Command::Audit(_)
        | Command::Line(_) => {}
    }
    Ok(())
}

/// A hotline's first question: is it a typo? Exit 0 when well formed.
fn check_code(input: &str) -> ExitCode {
    match code::read(input) {
        Ok(typed) => {
            let reference = typed.reference();
            let kind = match reference.format() {
                code::Format::Code => "code",
                code::Format::Pin => "PIN",
            };
            eprintln!("well formed {kind}; authenticity is checked only at redemption");
            println!("{reference}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// Says what is wrong in words a person at a hotline can repeat.
pub fn describe(error: &CodeError) -> String {
    match error {
        CodeError::Malformed { position, found } => {
            let group = (position - 1) / 4 + 1;
            format!(
                "character {position} ({found:?}, group {group}) is not used in codes; \
                 codes use digits and letters except I, L, O and U"
            )
        }
        other => other.to_string(),
    }
}

async fn keys(database_url: &str, key_file: &Path, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate => {
            keyfile::create(key_file).map_err(err)?;
            eprintln!(
                "created key file (mode 0600); back it up: codes cannot be verified without it"
            );
            println!("{}", key_file.display());
        }
        KeysCommand::Rotate => {
            let (code_key_id, pin_key_id, signing_key_id) =
                rotate_keys(database_url, key_file).await?;
            eprintln!(
                "rotated: new codes use code key {code_key_id}, new PINs PIN key {pin_key_id}; \
                 running servers reading this key file use them from their next sweep"
            );
            println!("{signing_key_id}");
        }
        KeysCommand::Show => {
            let material = keyfile::load(key_file).map_err(err)?;
            let keys = KeySet::from_material(&material).map_err(err)?;
            println!("active code key id: {}", keys.codes.active().get());
            println!("active PIN key id: {}", keys.pins.active());
            for (id, public) in keys.verifying_keys().iter() {
                println!("signing key {id}: ed25519 {}", hex::encode(public));
            }
        }
    }
    Ok(())
}
