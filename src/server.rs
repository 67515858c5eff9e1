//! Running the service: first-start set-up, the sweeper, and graceful
//! shutdown.
//!
//! [`start`] is what `relay-topup serve` and the black-box tests both call,
//! so tests run the real server, on port 0, with a database of their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::clock::Clock;
use crate::code::KeySet;
use crate::config::Limits;
use crate::domain::Role;
use crate::domain::catalogue::seed_catalogue;
use crate::http;
use crate::keyfile;
use crate::keyring::Keys;
use crate::storage::{NewGrant, PoolSettings, Store, TokenScope};

/// The default database: a file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://relay-topup.sqlite?mode=rwc";
/// External reference of the structure `--demo` creates.
pub const DEMO_STRUCTURE_REF: &str = "demo";
/// Expired codes handled per sweep round.
const EXPIRY_BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    KeyFile(#[from] keyfile::KeyFileError),
    #[error(transparent)]
    Keys(#[from] crate::code::KeyError),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    #[error("the system random number generator failed")]
    Random,
    #[error("the first coordinator account could not be created: {0}")]
    FirstAccount(String),
    #[error("the demo needs an operator, and the database has none")]
    Demo,
}

/// What the service needs to start.
pub struct ServerConfig {
    pub database_url: String,
    pub key_file: PathBuf,
    pub listen: SocketAddr,
    pub limits: Limits,
    pub pool: PoolSettings,
    pub clock: Arc<dyn Clock>,
    /// Create a demo structure and tokens on first start.
    pub demo: bool,
}

/// Secrets created at start, shown once.
#[derive(Debug, Default)]
pub struct FirstStart {
    pub admin_token: Option<String>,
    /// The first coordinator's login and activation code, when the
    /// database had no account yet.
    pub coordinator: Option<(String, String)>,
    pub demo: Option<DemoTokens>,
}

/// The login of the coordinator account the first start creates.
pub const FIRST_COORDINATOR_LOGIN: &str = "coordination";

#[derive(Debug)]
pub struct DemoTokens {
    pub structure_id: i64,
    pub structure_token: String,
    /// For the first network (`SFR` in the seed).
    pub operator_token: String,
    /// For the second network, if there is one: its codes are not the
    /// first network's.
    pub second_operator_token: Option<String>,
    pub auditor_token: String,
    /// The demo structure's manager: login and activation code.
    pub manager: (String, String),
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub first_start: FirstStart,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
    integrity: JoinHandle<()>,
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, stops the
    /// sweeper and closes the database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let served = self.server.await.unwrap_or(Ok(()));
        let _ = self.sweeper.await;
        let _ = self.integrity.await;
        self.state.store.close().await;
        served
    }

    /// Waits until the server stops by itself (after a shutdown signal).
    pub async fn wait(self) -> std::io::Result<()> {
        let served = self.server.await.unwrap_or(Ok(()));
        let _ = self.shutdown.send(true);
        let _ = self.sweeper.await;
        let _ = self.integrity.await;
        self.state.store.close().await;
        served
    }

    /// A handle that stops the server when sent `true`.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens the database and keys, does first-start set-up, binds, and serves
/// in the background.
pub async fn start(config: ServerConfig) -> Result<Running, ServerError> {
    let store = Store::open(&config.database_url, &config.pool).await?;
    let (material, created) = keyfile::load_or_create(&config.key_file)?;
    if created {
        tracing::info!(path = %config.key_file.display(), "created key file (mode 0600)");
    }
    let keys = Keys::new(
        Some(config.key_file.clone()),
        KeySet::from_material(&material)?,
    );
    let now = config.clock.now_secs();
    seed_networks(&store, now).await?;
    let mut first_start = FirstStart::default();
    if !store.has_admin_token().await? {
        first_start.admin_token = Some(
            create_token(
                &store,
                Role::Admin,
                TokenScope::default(),
                "first admin",
                now,
            )
            .await?,
        );
    }
    if store.list_accounts(None).await?.is_empty() {
        first_start.coordinator = Some(first_coordinator(&store, &config.limits, now).await?);
    }
    if config.demo {
        first_start.demo = create_demo(&store, now).await?;
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(ServerError::Listen)?;
    let addr = listener.local_addr().map_err(ServerError::Listen)?;
    let state = AppState::new(store, keys, config.clock, config.limits);
    let (shutdown, mut stop) = watch::channel(false);
    let app = http::router(state.clone(), crate::web::router(state.clone()));
    let connection_limits = state.limits.connection_limits();
    let server = tokio::spawn(crate::connections::serve(
        listener,
        app,
        connection_limits,
        stop.clone(),
    ));
    let integrity = tokio::spawn(crate::integrity::run_until_stopped(
        state.clone(),
        stop.clone(),
    ));
    let sweeper_state = state.clone();
    let sweeper = tokio::spawn(async move { sweep_until_stopped(sweeper_state, &mut stop).await });
    Ok(Running {
        addr,
        state,
        first_start,
        shutdown,
        server,
        sweeper,
        integrity,
    })
}

/// The two networks a new installation starts with, and the prefix of the
/// second's product ids.
/// Each with the USSD string its PIN slips print, as French networks'
/// prepaid top-ups are keyed in (the coordinator changes them at the desk).
const SEED_NETWORKS: [(&str, &str); 2] = [("SFR", "*144*PIN#"), ("Orange", "#124*PIN#")];
const SECOND_NETWORK_PREFIX: &str = "orange";

/// On an empty database (no operator, no product): two operators and the
/// French catalogue for each. A database that has either keeps what it has.
async fn seed_networks(store: &Store, now: i64) -> Result<(), ServerError> {
    if !store.list_operators().await?.is_empty() || !store.list_products().await?.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    for (name, dialling) in SEED_NETWORKS {
        let new = crate::domain::NewOperator {
            name: name.into(),
            instructions_fr: None,
            instructions_en: None,
            slip_instructions: Some(dialling.into()),
        };
        ids.push(store.create_operator("system", &new, now).await?.id);
    }
    let (Some(&first), Some(&second)) = (ids.first(), ids.get(1)) else {
        return Ok(());
    };
    let catalogue = seed_catalogue(first, (second, SECOND_NETWORK_PREFIX));
    if store.seed_products(&catalogue, now).await? {
        tracing::info!("seeded two networks and their product catalogue");
    }
    Ok(())
}

/// Creates a token and returns its secret.
pub async fn create_token(
    store: &Store,
    role: Role,
    scope: TokenScope,
    label: &str,
    now: i64,
) -> Result<String, ServerError> {
    let (token, hash) = crate::tokens::generate().ok_or(ServerError::Random)?;
    store
        .create_token("system", &hash, role, scope, Some(label), now)
        .await?;
    Ok(token)
}

/// The first coordinator account, so that someone can open the desk:
/// its login and one-time activation code.
async fn first_coordinator(
    store: &Store,
    limits: &Limits,
    now: i64,
) -> Result<(String, String), ServerError> {
    let terms = crate::app::accounts::CodeTerms {
        ttl_secs: limits.desk.activation_ttl_secs,
        now,
    };
    let order = crate::app::accounts::AccountOrder {
        role: crate::domain::account::AccountRole::Coordinator,
        login: FIRST_COORDINATOR_LOGIN,
        display_name: "Coordination",
        structure_id: None,
    };
    let manager = crate::domain::account::AccountManager::Coordinator;
    let made = crate::app::accounts::create(store, terms, manager, "system", order)
        .await
        .map_err(|e| ServerError::FirstAccount(e.to_string()))?;
    Ok((made.account.login, made.activation_code))
}

/// A demo structure with quota and one token per role, once.
async fn create_demo(store: &Store, now: i64) -> Result<Option<DemoTokens>, ServerError> {
    let exists = store
        .list_structures()
        .await?
        .into_iter()
        .any(|s| s.external_ref.as_deref() == Some(DEMO_STRUCTURE_REF));
    if exists {
        return Ok(None);
    }
    let structure = store
        .create_structure(
            "system",
            "Structure de démonstration",
            Some(DEMO_STRUCTURE_REF),
            None,
            now,
        )
        .await?;
    let networks: Vec<i64> = store
        .list_operators()
        .await?
        .iter()
        .map(|o| o.id)
        .take(2)
        .collect();
    let Some(&first) = networks.first() else {
        return Err(ServerError::Demo);
    };
    let second = networks.get(1).copied();
    let mut grants = vec![(first, "data_mb", 100 * 1024), (first, "voice", 365)];
    if let Some(second) = second {
        grants.extend([(second, "data_mb", 50 * 1024), (second, "voice", 180)]);
    }
    for (operator_id, resource, amount) in grants {
        let grant = NewGrant {
            structure_id: structure.id,
            operator_id,
            resource: resource.into(),
            amount,
            starts_at: now,
            ends_at: None,
            recurrence: None,
        };
        store.create_grant("system", &grant, now).await?;
    }
    let terms = crate::app::accounts::CodeTerms {
        ttl_secs: crate::config::DeskOptions::default().activation_ttl_secs,
        now,
    };
    let order = crate::app::accounts::AccountOrder {
        role: crate::domain::account::AccountRole::StructureManager,
        login: "demo.responsable",
        display_name: "Responsable de démonstration",
        structure_id: Some(structure.id),
    };
    let manager = crate::domain::account::AccountManager::Coordinator;
    let made = crate::app::accounts::create(store, terms, manager, "system", order)
        .await
        .map_err(|e| ServerError::FirstAccount(e.to_string()))?;
    Ok(Some(DemoTokens {
        manager: (made.account.login, made.activation_code),
        structure_id: structure.id,
        structure_token: create_token(
            store,
            Role::Structure,
            TokenScope {
                structure_id: Some(structure.id),
                operator_id: None,
            },
            "demo structure",
            now,
        )
        .await?,
        operator_token: create_token(
            store,
            Role::Operator,
            TokenScope {
                structure_id: None,
                operator_id: Some(first),
            },
            "demo operator",
            now,
        )
        .await?,
        second_operator_token: match second {
            Some(id) => Some(
                create_token(
                    store,
                    Role::Operator,
                    TokenScope {
                        structure_id: None,
                        operator_id: Some(id),
                    },
                    "demo operator, second network",
                    now,
                )
                .await?,
            ),
            None => None,
        },
        auditor_token: create_token(
            store,
            Role::Auditor,
            TokenScope::default(),
            "demo auditor",
            now,
        )
        .await?,
    }))
}

/// How often SQLite's write-ahead log is checkpointed in the background.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Every `sweep_interval_secs`: credit monthly grants, lapse ended grants,
/// expire codes, forget old idempotency keys, trim the rate limiter.
/// Also checkpoints SQLite's log every second.
async fn sweep_until_stopped(state: AppState, stop: &mut watch::Receiver<bool>) {
    let sweep_every = Duration::from_secs(state.limits.sweep_interval_secs.max(1));
    let mut next_sweep = tokio::time::Instant::now() + sweep_every;
    loop {
        tokio::select! {
            _ = stop.wait_for(|&s| s) => return,
            () = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
        }
        if let Err(e) = state.store.checkpoint().await {
            tracing::warn!(error = %e, "checkpoint failed; will retry");
        }
        if tokio::time::Instant::now() >= next_sweep {
            next_sweep += sweep_every;
            if let Err(e) = sweep_once(&state).await {
                tracing::error!(error = %e, "sweep failed; will retry");
            }
        }
    }
}

/// One sweep. Public so tests can run it with a controlled clock.
pub async fn sweep_once(state: &AppState) -> Result<(), crate::storage::StorageError> {
    let now = state.now();
    let credited = state.store.credit_due_grants(None, now).await?;
    let lapsed = state.store.lapse_due_buckets(now).await?;
    // Holds first: a code whose hold ran out after its expiry date is then
    // expired (and its quota returned) in the same sweep.
    let holds = time_out_holds(state, now).await?;
    let mut expired = 0;
    loop {
        let n = state.store.expire_due_vouchers(now, EXPIRY_BATCH).await?;
        expired += n;
        if n < EXPIRY_BATCH as u64 {
            break;
        }
    }
    let purged = state
        .store
        .purge_idempotency(now - state.limits.idempotency_retention_secs)
        .await?;
    let lines = state
        .store
        .forget_quiet_lines(now, &state.limits.line_policy())
        .await?;
    reload_keys(state).await;
    state.issue_limiter.retain_recent();
    state.operator_limiter.retain_recent();
    state.typo_limiter.retain_recent();
    state.desk_sign_in_limiter.retain_recent();
    if credited + lapsed + expired + purged + holds + lines > 0 {
        tracing::info!(credited, lapsed, expired, purged, holds, lines, "sweep");
    }
    Ok(())
}

/// Picks up keys another server on the same database rotated in (it wrote
/// the key file this one reads), so new codes here use them too; a code
/// under a key not yet seen also asks for this at once.
async fn reload_keys(state: &AppState) {
    let holder = state.clone();
    let now = state.now();
    match tokio::task::spawn_blocking(move || holder.keys.reload(now)).await {
        Ok(Ok(Some(_))) => tracing::info!("key file read again: rotated keys in use here"),
        Ok(Ok(None)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "key file could not be read again"),
        Err(e) => tracing::warn!(error = %e, "key file reload stopped"),
    }
}

/// Returns codes whose hold ran out to `issued` (they are redeemable again
/// already, whether or not this runs; this makes it explicit).
async fn time_out_holds(state: &AppState, now: i64) -> Result<u64, crate::storage::StorageError> {
    let mut ended = 0;
    for (id, token_id, operator_id) in state.store.due_holds(now, EXPIRY_BATCH).await? {
        let op = crate::storage::write::FollowUp {
            operator_token_id: token_id,
            operator_id,
            redemption_id: id,
            action: crate::storage::Followup::TimeOut,
        };
        state.store.submit(op, now).await?;
        ended += 1;
    }
    Ok(ended)
}
