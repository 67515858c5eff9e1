//! relay-topup: signed, rate-limited prepaid mobile top-up codes.
//!
//! Social structures issue codes within quotas a coordinator grants them;
//! operator systems redeem each code exactly once; auditors reconcile every
//! unit granted, issued and redeemed. The product contract is
//! `docs/contract.md`; the code format is `docs/code-format.md`;
//! `ARCHITECTURE.md` gives the bird's-eye view.
//!
//! # Code map
//!
//! Every module, from the bottom up (ARCHITECTURE.md walks through them):
//!
//! - [`code`] — the code core: the v1 code format (alphabet, Luhn mod 32 check
//!   symbol, 55-bit HMAC tags), voucher attestations (canonical encoding,
//!   Ed25519) and the key set. Pure.
//! - [`domain`] — vouchers, products, quotas, lifecycle and lock-out rules;
//!   knows neither HTTP nor SQL.
//! - [`audit`] — the hash chain over events, signed checkpoints, and the
//!   offline verifier that replays events against every audited table. Pure.
//! - [`clock`] — the service's time (a manual clock for tests); RFC 3339.
//! - [`tokens`] — bearer tokens: generation and SHA-256 hashing.
//! - [`qr`] — QR codes of codes, as SVG.
//! - [`storage`] — the only SQL: SQLite and PostgreSQL, the group-commit
//!   writers, the audit snapshot.
//! - [`keyfile`] — generating, loading, saving and rotating the key file
//!   (mode 0600, outside the database), under a file lock.
//! - [`keyring`] — the running service's key set, swapped at rotation.
//! - [`config`] — every named limit, as flags and environment variables.
//! - [`metrics`] — Prometheus counters and histograms, labels from closed
//!   sets.
//! - [`app`] — the application layer: the shared state (store, keys,
//!   clock, limits and limiters, metrics, the integrity gate) and every use
//!   case the API, the desk and the command line call; `AppError`.
//! - [`integrity`] — checkpoints and the periodic check that fails closed.
//! - [`http`] — the JSON API, an adapter over `app`: routes, extractors,
//!   problems, the OpenAPI document; the only status codes.
//! - [`web`] — the structures' web desk (HTML, French first), an adapter
//!   over `app` like the API.
//! - [`parse_problems`] — requests the HTTP parser refuses (400, 414, 431)
//!   answered as problem+json, at the connection.
//! - [`connections`] — accepting connections: their number, per address
//!   too, the idle ones closed first, header and idle deadlines.
//! - [`server`] — start-up, the sweeper, graceful shutdown.
//! - [`cli`] — the `relay-topup` command line.
//!
//! # Architecture invariants
//!
//! 1. The code core (`src/code/`: format, check symbol, tags, attestations) is
//!    pure: no I/O, no clock, no panics on any input. It is what the fuzzers hit.
//! 2. The domain (lifecycle, quota ledger rules) and the audit know neither
//!    HTTP nor SQL.
//! 3. Only the storage layer writes SQL; only the HTTP layer knows status codes
//!    (and `parse_problems`, for requests hyper refuses before any handler).
//!    The use cases live in `app`; `http` and `web` extract, call and
//!    render. Nothing imports upward, no modules import each other
//!    (`tests/layers.rs`).
//! 4. One error enum per layer, converted at the boundary; internal details are
//!    logged, never sent to a client.
//! 5. A code is a bearer secret: it is never logged whole (log its serial), and
//!    secrets never appear in `Debug` output.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod code;
pub mod config;
pub mod connections;
pub mod domain;
pub mod http;
pub mod integrity;
pub mod keyfile;
pub mod keyring;
pub mod metrics;
pub mod parse_problems;
pub mod passwords;
pub mod qr;
pub mod server;
pub mod storage;
pub mod tokens;
pub mod web;
