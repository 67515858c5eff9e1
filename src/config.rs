//! Every limit of the service, named and configurable (flag or environment
//! variable), with its default.

use std::time::Duration;

use clap::Args;

use crate::domain::lockout::LockoutPolicy;
use crate::domain::redemption::BeneficiaryCap;

#[derive(Clone, Debug, Args)]
pub struct Limits {
    /// Most codes one issue request may ask for.
    #[arg(long, env = "RELAY_TOPUP_MAX_ISSUE_COUNT", default_value_t = 100)]
    pub max_issue_count: usize,
    /// Largest page a list request may ask for.
    #[arg(long, env = "RELAY_TOPUP_MAX_PAGE_SIZE", default_value_t = 500)]
    pub max_page_size: usize,
    /// Page size when a list request does not say.
    #[arg(long, env = "RELAY_TOPUP_DEFAULT_PAGE_SIZE", default_value_t = 50)]
    pub default_page_size: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "RELAY_TOPUP_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    pub max_body_bytes: usize,
    /// Codes a structure may issue per hour, sustained.
    #[arg(
        long,
        env = "RELAY_TOPUP_ISSUE_RATE_CODES_PER_HOUR",
        default_value_t = 1000
    )]
    pub issue_rate_codes_per_hour: u32,
    /// Codes a structure may issue at once before the hourly rate applies;
    /// at least `max_issue_count`, or a full request could never pass.
    #[arg(long, env = "RELAY_TOPUP_ISSUE_BURST_CODES", default_value_t = 200)]
    pub issue_burst_codes: u32,
    /// How long Idempotency-Key answers are kept, in seconds (at least 24 h).
    #[arg(long, env = "RELAY_TOPUP_IDEMPOTENCY_RETENTION_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(i64).range(86_400..))]
    pub idempotency_retention_secs: i64,
    /// Longest Idempotency-Key, in characters.
    #[arg(
        long,
        env = "RELAY_TOPUP_MAX_IDEMPOTENCY_KEY_CHARS",
        default_value_t = 255
    )]
    pub max_idempotency_key_chars: usize,
    /// How often the sweeper expires codes, lapses grants and credits
    /// recurring grants, in seconds.
    #[arg(long, env = "RELAY_TOPUP_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,
    /// Longest time a request may take before it is answered 503
    /// `request_timeout`, in seconds (at least 1).
    #[arg(long, env = "RELAY_TOPUP_REQUEST_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Longest wait for a request's headers, in seconds, counted from when
    /// the server starts waiting for it (a new connection, or a kept-alive
    /// one after its last answer): closes idle and half-sent connections.
    #[arg(long, env = "RELAY_TOPUP_HEADER_READ_TIMEOUT_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// A connection on which no byte moves for this long, in seconds, is
    /// closed; longer than the request timeout, so a slow request is
    /// answered rather than cut.
    #[arg(long, env = "RELAY_TOPUP_IDLE_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
    /// Most client connections open at once; more wait until one closes.
    /// Keep it well under the process's file descriptor limit
    /// (`ulimit -n`), which the database and the key file also use.
    #[arg(long, env = "RELAY_TOPUP_MAX_CLIENT_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_client_connections: u64,
    /// Most client connections one address may hold open at once (an IPv6
    /// client: its /64); a new one from an address at its limit is closed at
    /// once, so that no one client takes every `--max-client-connections`
    /// slot. Half of those by default: room for an operator's gateway or an
    /// office behind one NAT, which share an address and keep pools of
    /// connections. Behind a reverse proxy every client shares the proxy's
    /// address: raise it there, up to `--max-client-connections`, and
    /// limit clients at the proxy.
    #[arg(long, env = "RELAY_TOPUP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_address: u64,
    /// How long a token lookup is trusted without asking the database again,
    /// in seconds (0: always ask). A token revoked through another server
    /// or the command line can read for at most this long; its writes are
    /// refused at once. Admin tokens are never cached.
    #[arg(long, env = "RELAY_TOPUP_TOKEN_CACHE_SECS", default_value_t = 2)]
    pub token_cache_secs: u64,
    /// Most token lookups kept at once.
    #[arg(
        long,
        env = "RELAY_TOPUP_TOKEN_CACHE_ENTRIES",
        default_value_t = 10_000
    )]
    pub token_cache_entries: usize,
    /// How long a reserved code is held for its operator, in seconds.
    #[arg(long, env = "RELAY_TOPUP_HOLD_SECS", default_value_t = 300)]
    pub hold_secs: i64,
    /// How long after a redemption the operator may reverse it, in seconds.
    #[arg(
        long,
        env = "RELAY_TOPUP_REVERSAL_WINDOW_SECS",
        default_value_t = 86_400
    )]
    pub reversal_window_secs: i64,
    /// Requests per second one operator token may make on the redemption
    /// endpoints, sustained (per server process).
    #[arg(long, env = "RELAY_TOPUP_OPERATOR_RATE_PER_SEC", default_value_t = 200)]
    pub operator_rate_per_sec: u32,
    /// Requests one operator token may make at once before its rate applies.
    #[arg(long, env = "RELAY_TOPUP_OPERATOR_BURST", default_value_t = 400)]
    pub operator_burst: u32,
    /// Typos (checksum mismatches) one operator token may send per minute:
    /// cheap to answer and revealing nothing, so limited gently.
    #[arg(long, env = "RELAY_TOPUP_TYPOS_PER_MIN", default_value_t = 120)]
    pub typos_per_min: u32,
    /// Failed attempts (invalid codes) one operator token may make per
    /// window before it is locked out. A token is often a gateway serving
    /// thousands of lines, each of which is also barred on its own (see
    /// `--line-failures`), so this is sized for twenty attacking lines a
    /// minute, not for one.
    #[arg(long, env = "RELAY_TOPUP_FAILURES_PER_SOURCE", default_value_t = 100)]
    pub failures_per_source: i64,
    /// Failed attempts the whole deployment accepts per window; beyond it,
    /// any source that fails is locked out.
    #[arg(long, env = "RELAY_TOPUP_FAILURES_GLOBAL", default_value_t = 500)]
    pub failures_global: i64,
    /// Length of the failure-counting window, in seconds.
    #[arg(long, env = "RELAY_TOPUP_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub failure_window_secs: i64,
    /// First lock-out, in seconds; each further one doubles.
    #[arg(long, env = "RELAY_TOPUP_LOCKOUT_SECS", default_value_t = 60)]
    pub lockout_secs: i64,
    /// Longest lock-out, in seconds.
    #[arg(long, env = "RELAY_TOPUP_MAX_LOCKOUT_SECS", default_value_t = 3600)]
    pub max_lockout_secs: i64,
    /// Failed attempts (invalid codes) one subscriber line may make per
    /// line window before it is barred. Lines are told apart by the keyed
    /// hash of the number the operator sends.
    #[arg(long, env = "RELAY_TOPUP_LINE_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub line_failures: i64,
    /// Length of a line's failure-counting window, in seconds (24 h).
    #[arg(long, env = "RELAY_TOPUP_LINE_FAILURE_WINDOW_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub line_failure_window_secs: i64,
    /// First bar of a line, in seconds (24 h); each further one doubles.
    #[arg(long, env = "RELAY_TOPUP_LINE_BAR_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub line_bar_secs: i64,
    /// Longest bar of a line, in seconds (30 days).
    #[arg(long, env = "RELAY_TOPUP_MAX_LINE_BAR_SECS", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub max_line_bar_secs: i64,
    /// A line not barred for this long, in seconds, starts again from the
    /// first bar's length (90 days).
    #[arg(long, env = "RELAY_TOPUP_LINE_FORGIVE_AFTER_SECS", default_value_t = 90 * 86_400,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub line_forgive_after_secs: i64,
    /// Monthly cap per beneficiary and product family, e.g. `data=count:4`,
    /// `voice=amount:30` or `data=count:4,amount:8192`. Repeatable.
    #[arg(long = "beneficiary-cap", env = "RELAY_TOPUP_BENEFICIARY_CAPS", value_delimiter = ';',
          value_parser = parse_cap)]
    pub beneficiary_caps: Vec<BeneficiaryCap>,
    /// Sign a checkpoint of the event chain once this many events follow
    /// the last one…
    #[arg(
        long,
        env = "RELAY_TOPUP_CHECKPOINT_EVERY_EVENTS",
        default_value_t = 1000
    )]
    pub checkpoint_every_events: i64,
    /// …or once this many seconds have passed with new events.
    #[arg(
        long,
        env = "RELAY_TOPUP_CHECKPOINT_INTERVAL_SECS",
        default_value_t = 60
    )]
    pub checkpoint_interval_secs: u64,
    /// How often the service re-checks the audit invariants, in seconds:
    /// the events since its last check and the rows they touch (a full
    /// check when in doubt). On a breach it refuses issuing and redemption
    /// until an admin acknowledges.
    #[arg(long, env = "RELAY_TOPUP_INTEGRITY_CHECK_SECS", default_value_t = 60)]
    pub integrity_check_secs: u64,
    /// How often the periodic check is a full one instead, in seconds:
    /// every event replayed and every row compared, at a cost that grows
    /// with the history. One also runs at start.
    #[arg(
        long,
        env = "RELAY_TOPUP_FULL_INTEGRITY_CHECK_SECS",
        default_value_t = 86_400
    )]
    pub full_integrity_check_secs: u64,
    /// Heavy audit requests (reports, reconciliations) that may run at
    /// once, the periodic integrity check included; more are answered 503
    /// `busy` with `Retry-After`. Each holds a copy of the books in memory,
    /// so this also bounds the memory audits take.
    #[arg(long, env = "RELAY_TOPUP_MAX_CONCURRENT_AUDITS", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_audits: u32,
    /// Password hashes (sign-ins, activations) that may run at once. Each
    /// takes 19 MiB (Argon2id), so this bounds their memory: 8 at once is
    /// 152 MiB. More are refused at once, 429 with `Retry-After`.
    #[arg(long, env = "RELAY_TOPUP_MAX_CONCURRENT_PASSWORD_HASHES", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent_password_hashes: u32,
    /// Most lines in an operator statement sent for reconciliation.
    #[arg(
        long,
        env = "RELAY_TOPUP_MAX_STATEMENT_LINES",
        default_value_t = 100_000
    )]
    pub max_statement_lines: usize,
    /// Largest statement body, in bytes, sent for reconciliation.
    #[arg(long, env = "RELAY_TOPUP_MAX_STATEMENT_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_statement_bytes: usize,
    #[command(flatten)]
    pub desk: DeskOptions,
}

fn parse_cap(text: &str) -> Result<BeneficiaryCap, String> {
    BeneficiaryCap::parse(text)
}

impl Limits {
    /// How connections are bounded ([`crate::connections`]).
    pub fn connection_limits(&self) -> crate::connections::ConnectionLimits {
        crate::connections::ConnectionLimits {
            max_connections: usize::try_from(self.max_client_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(self.max_connections_per_address)
                .unwrap_or(usize::MAX),
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
            // Never shorter than a request may take: a request still being
            // worked on moves no byte, and must be answered, not cut.
            idle_timeout: Duration::from_secs(
                self.idle_timeout_secs.max(self.request_timeout_secs + 1),
            ),
        }
    }

    /// The brute-force policy these limits describe.
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            window_secs: self.failure_window_secs,
            per_source: self.failures_per_source,
            global: self.failures_global,
            base_lockout_secs: self.lockout_secs,
            max_lockout_secs: self.max_lockout_secs,
            ..LockoutPolicy::default()
        }
    }

    /// The policy that bars subscriber lines. The deployment-wide budget
    /// is counted once per failure, under the operator's policy, so the
    /// line's `global` is never reached.
    pub fn line_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            window_secs: self.line_failure_window_secs,
            per_source: self.line_failures,
            global: i64::MAX,
            base_lockout_secs: self.line_bar_secs,
            max_lockout_secs: self.max_line_bar_secs,
            forgive_after_secs: self.line_forgive_after_secs,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_issue_count: 100,
            max_page_size: 500,
            default_page_size: 50,
            max_body_bytes: 16 * 1024,
            issue_rate_codes_per_hour: 1000,
            issue_burst_codes: 200,
            idempotency_retention_secs: 86_400,
            max_idempotency_key_chars: 255,
            sweep_interval_secs: 60,
            request_timeout_secs: 30,
            header_read_timeout_secs: 15,
            idle_timeout_secs: 60,
            max_client_connections: 512,
            max_connections_per_address: 256,
            token_cache_secs: 2,
            token_cache_entries: 10_000,
            hold_secs: 300,
            reversal_window_secs: 86_400,
            operator_rate_per_sec: 200,
            operator_burst: 400,
            typos_per_min: 120,
            failures_per_source: 100,
            failures_global: 500,
            failure_window_secs: 60,
            lockout_secs: 60,
            max_lockout_secs: 3600,
            line_failures: 5,
            line_failure_window_secs: 86_400,
            line_bar_secs: 86_400,
            max_line_bar_secs: 30 * 86_400,
            line_forgive_after_secs: 90 * 86_400,
            beneficiary_caps: Vec::new(),
            checkpoint_every_events: 1000,
            checkpoint_interval_secs: 60,
            integrity_check_secs: 60,
            full_integrity_check_secs: 86_400,
            max_concurrent_audits: 2,
            max_concurrent_password_hashes: 8,
            max_statement_lines: 100_000,
            max_statement_bytes: 8 * 1024 * 1024,
            desk: DeskOptions::default(),
        }
    }
}

/// The structures' web desk (`/desk/`): its session lifetime, how it is
/// reached, what its printed slips say, and how often one may try to sign
/// in.
#[derive(Clone, Debug, Args)]
pub struct DeskOptions {
    /// How long a desk sign-in lasts, in seconds (a working day by default).
    #[arg(long, env = "RELAY_TOPUP_DESK_SESSION_TTL_SECS", default_value_t = 8 * 3600,
          value_parser = clap::value_parser!(i64).range(60..))]
    pub desk_session_ttl_secs: i64,
    /// Vouchers per page in the desk's list.
    #[arg(long, env = "RELAY_TOPUP_DESK_PAGE_SIZE", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(1..=500))]
    pub desk_page_size: u16,
    /// The address people open the service at, e.g.
    /// `https://topup.example.org`. When it starts with `https://`, desk
    /// cookies are marked `Secure` (with the `__Host-` prefix) and pages
    /// send `Strict-Transport-Security`; set it whenever TLS is terminated
    /// in front of the service.
    #[arg(long, env = "RELAY_TOPUP_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Redemption instructions printed on every slip. Default: a short
    /// French text (English when the desk is used in English).
    #[arg(long, env = "RELAY_TOPUP_SLIP_INSTRUCTIONS")]
    pub slip_instructions: Option<String>,
    /// The operator's own short instructions printed on every PIN slip,
    /// e.g. `Composez *144*, puis le code, puis #`. Default: a short
    /// French text that names no short code.
    #[arg(long, env = "RELAY_TOPUP_SLIP_PIN_INSTRUCTIONS")]
    pub slip_pin_instructions: Option<String>,
    /// Sign-in attempts one client address may make at the desk per
    /// minute, refused or not (per server process). Behind a reverse proxy
    /// every client shares the proxy's address: raise it there.
    #[arg(long, env = "RELAY_TOPUP_DESK_SIGN_IN_ATTEMPTS_PER_MIN", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub desk_sign_in_attempts_per_min: u32,
    /// Failed sign-ins one login may have within
    /// `--sign-in-failure-window-secs` before it is locked (in the
    /// database: every process counts the same failures).
    #[arg(long, env = "RELAY_TOPUP_SIGN_IN_FAILURES_BEFORE_LOCK", default_value_t = 5,
          value_parser = clap::value_parser!(i64).range(1..=1000))]
    pub sign_in_failures_before_lock: i64,
    /// How long failed sign-ins of one login are counted together, in
    /// seconds.
    #[arg(long, env = "RELAY_TOPUP_SIGN_IN_FAILURE_WINDOW_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub sign_in_failure_window_secs: i64,
    /// How long a login stays locked after too many failures, in seconds.
    #[arg(long, env = "RELAY_TOPUP_SIGN_IN_LOCK_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub sign_in_lock_secs: i64,
    /// How long a one-time activation code (new account, password reset)
    /// may be used, in seconds (a week by default).
    #[arg(long, env = "RELAY_TOPUP_ACTIVATION_TTL_SECS", default_value_t = 7 * 86_400,
          value_parser = clap::value_parser!(i64).range(60..))]
    pub activation_ttl_secs: i64,
    /// The time zone people at the desk live in (an IANA name): the
    /// desk's dates and times, its spreadsheets and its date filters read
    /// in it. The API stays in UTC.
    #[arg(long, env = "RELAY_TOPUP_TIME_ZONE", default_value = "Europe/Paris",
          value_parser = crate::clock::Zone::named)]
    pub time_zone: crate::clock::Zone,
}

impl DeskOptions {
    /// Whether people reach the desk over TLS, so cookies must be `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

impl Default for DeskOptions {
    fn default() -> Self {
        Self {
            desk_session_ttl_secs: 8 * 3600,
            desk_page_size: 50,
            public_url: None,
            slip_instructions: None,
            slip_pin_instructions: None,
            desk_sign_in_attempts_per_min: 20,
            sign_in_failures_before_lock: 5,
            sign_in_failure_window_secs: 900,
            sign_in_lock_secs: 900,
            activation_ttl_secs: 7 * 86_400,
            time_zone: crate::clock::Zone::default(),
        }
    }
}

fn parse_public_url(text: &str) -> Result<String, String> {
    if text.starts_with("https://") || text.starts_with("http://") {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err("must start with https:// or http://".to_owned())
    }
}
