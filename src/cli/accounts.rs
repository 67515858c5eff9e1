//! `relay-topup account …`: people's accounts from the command line, with
//! the coordinator's rights. A new account's or a reset's activation code
//! is printed on the last line, once.

use clap::Subcommand;

use super::err;
use crate::app::accounts::{self, AccountOrder, CodeTerms, WithCode};
use crate::domain::account::{AccountManager, AccountRole};
use crate::storage::Store;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Creates an account; prints its id, then its activation code.
    Add {
        /// coordinator, auditor, structure_manager or structure_staff.
        #[arg(long, value_parser = parse_role)]
        role: AccountRole,
        #[arg(long)]
        login: String,
        /// How the person is named in the history ("Amina B.").
        #[arg(long)]
        name: String,
        /// For structure_manager and structure_staff.
        #[arg(long)]
        structure_id: Option<i64>,
        /// How long the activation code works, in seconds.
        #[arg(long, default_value_t = 7 * 86_400, value_parser = clap::value_parser!(i64).range(60..))]
        activation_ttl_secs: i64,
    },
    /// Lists accounts: id, login, role, structure, state, name.
    List,
    /// Disables an account: its sessions end at once.
    Disable { id: i64 },
    /// Prints a new activation code; the password stops working.
    Reset {
        id: i64,
        #[arg(long, default_value_t = 7 * 86_400, value_parser = clap::value_parser!(i64).range(60..))]
        activation_ttl_secs: i64,
    },
}

fn parse_role(text: &str) -> Result<AccountRole, String> {
    AccountRole::parse(text)
        .ok_or_else(|| "one of coordinator, auditor, structure_manager, structure_staff".to_owned())
}

fn print_code(w: &WithCode) {
    println!("{}", w.account.id);
    println!("{}", w.activation_code);
}

pub async fn run(store: &Store, command: AccountCommand, now: i64) -> Result<(), String> {
    let coordinator = AccountManager::Coordinator;
    match command {
        AccountCommand::Add {
            role,
            login,
            name,
            structure_id,
            activation_ttl_secs,
        } => {
            let order = AccountOrder {
                role,
                login: &login,
                display_name: &name,
                structure_id,
            };
            let terms = CodeTerms {
                ttl_secs: activation_ttl_secs,
                now,
            };
            let w = accounts::create(store, terms, coordinator, "cli", order)
                .await
                .map_err(err)?;
            print_code(&w);
        }
        AccountCommand::List => {
            for a in accounts::list(store, coordinator).await.map_err(err)? {
                let state = match (a.disabled_at, a.active) {
                    (Some(_), _) => "disabled",
                    (None, true) => "active",
                    (None, false) => "pending",
                };
                let structure = a.structure_id.map(|s| s.to_string()).unwrap_or_default();
                let role = a.role.as_str();
                println!(
                    "{}\t{}\t{role}\t{structure}\t{state}\t{}",
                    a.id, a.login, a.display_name
                );
            }
        }
        AccountCommand::Disable { id } => {
            accounts::disable(store, now, coordinator, "cli", id)
                .await
                .map_err(err)?;
        }
        AccountCommand::Reset {
            id,
            activation_ttl_secs,
        } => {
            let terms = CodeTerms {
                ttl_secs: activation_ttl_secs,
                now,
            };
            let w = accounts::reset(store, terms, coordinator, "cli", id)
                .await
                .map_err(err)?;
            print_code(&w);
        }
    }
    Ok(())
}
