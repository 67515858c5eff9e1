//! Every limit of the service, named and configurable (flag or environment
//! variable), with its default.

use clap::Args;

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
    /// Longest time a request may take before it is answered 503, in seconds.
    #[arg(long, env = "RELAY_TOPUP_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
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
        }
    }
}
