//! The `relay-topup` command line.
//!
//! A command that creates something prints its id or secret alone on the
//! last line of standard output, so scripts can take it with `tail -n 1`;
//! everything else a command has to say goes to standard error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::code::{self, CodeError, KeySet};
use crate::keyfile::{self, DEFAULT_KEY_FILE};

#[derive(Debug, Parser)]
#[command(
    name = "relay-topup",
    version,
    about = "Prepaid mobile top-up codes for social structures"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with codes without any key.
    #[command(subcommand)]
    Code(CodeCommand),
    /// Manage the key file (code keys, signing keys, pepper).
    #[command(subcommand)]
    Keys(KeysCommand),
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

#[derive(Debug, clap::Args)]
struct KeyFileArg {
    /// Path of the key file.
    #[arg(long, env = "RELAY_TOPUP_KEY_FILE", default_value = DEFAULT_KEY_FILE)]
    key_file: PathBuf,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Creates a new key file (mode 0600); refuses to overwrite one.
    Generate(KeyFileArg),
    /// Adds a new code key and signing key; old keys keep verifying.
    Rotate(KeyFileArg),
    /// Prints the public attestation keys and the code key ids.
    Show(KeyFileArg),
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Code(CodeCommand::Check { code }) => Ok(check_code(&code)),
        Command::Keys(cmd) => keys(cmd).map(|()| ExitCode::SUCCESS),
    }
}

/// A hotline's first question: is it a typo? Exit 0 when well formed.
fn check_code(input: &str) -> ExitCode {
    match code::parse(input) {
        Ok(parsed) => {
            eprintln!("well formed; authenticity is checked only at redemption");
            println!("{}", parsed.voucher);
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

fn keys(command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::Generate(arg) => {
            keyfile::create(&arg.key_file).map_err(|e| e.to_string())?;
            eprintln!(
                "created key file (mode 0600); back it up: codes cannot be verified without it"
            );
            println!("{}", arg.key_file.display());
        }
        KeysCommand::Rotate(arg) => {
            let material = keyfile::rotate(&arg.key_file).map_err(|e| e.to_string())?;
            let keys = KeySet::from_material(&material).map_err(|e| e.to_string())?;
            eprintln!(
                "rotated: new codes use code key {}",
                keys.codes.active().get()
            );
            println!("{}", keys.signing_key().id());
        }
        KeysCommand::Show(arg) => {
            let material = keyfile::load(&arg.key_file).map_err(|e| e.to_string())?;
            let keys = KeySet::from_material(&material).map_err(|e| e.to_string())?;
            println!("active code key id: {}", keys.codes.active().get());
            for (id, public) in keys.verifying_keys().iter() {
                println!("signing key {id}: ed25519 {}", hex::encode(public));
            }
        }
    }
    Ok(())
}
