//! `relay-topup line unbar NUMBER --reason R`: lifts a subscriber line's
//! bar with the coordinator's rights, as the desk's "Débloquer une ligne"
//! does. The number is hashed with the key file's pepper, as the service
//! does; only that hash reaches the database and its audit chain.

use std::path::Path;

use clap::Subcommand;

use super::{err, open_store};
use crate::app::lines;
use crate::clock::{Clock, SystemClock};
use crate::code::KeySet;
use crate::keyfile;

#[derive(Debug, Subcommand)]
pub enum LineCommand {
    /// Lifts a line's bar and forgets its failures; prints "unbarred", or
    /// "nothing to lift" for a line that had neither.
    Unbar {
        /// The subscriber's number, E.164 (+33612345678).
        msisdn: String,
        /// Why, in a few words; recorded with the event.
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(database_url: &str, key_file: &Path, command: LineCommand) -> Result<(), String> {
    let LineCommand::Unbar { msisdn, reason } = command;
    // The key file is read before the database is opened: a missing one
    // never leaves an empty database behind.
    let material = keyfile::load(key_file).map_err(err)?;
    let keys = KeySet::from_material(&material).map_err(err)?;
    let store = open_store(database_url).await?;
    let now = SystemClock.now_secs();
    let lifted = lines::unbar(&store, &keys, now, "cli", (&msisdn, &reason)).await;
    store.close().await;
    match lifted.map_err(err)? {
        Some(_) => println!("unbarred"),
        None => println!("nothing to lift"),
    }
    Ok(())
}
