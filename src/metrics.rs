//! Prometheus metrics: requests, latencies, codes issued, quota and rate
//! limit refusals. Rendered at `GET /metrics` in the text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

// Every label value comes from a closed set (a standard method or `other`,
// a route template or `unmatched`, a status the service answers), so that
// requests, answered or not, cannot grow the number of series.

/// A request method as a label: the standard ones, everything else `other`
/// (a client can send any token as a method).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: &'static str,
    /// The route template (`/v1/vouchers/{serial}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The service's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: LatencyFamily,
    pub codes_issued: Counter,
    pub quota_exceeded: Counter,
    pub rate_limited: Counter,
    pub invalid_codes: Counter,
    /// Voucher rows read or written for an operator's check or
    /// redemption: only codes and PINs whose tag verified get this far.
    /// Kept in the process and never exported: on the public `/metrics`
    /// it would move for another network's genuine code and not for a
    /// forged one, telling the two apart to anyone who can redeem.
    pub voucher_lookups: Counter,
    /// Subscriber lines barred for failed attempts.
    pub lines_barred: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("relay_topup");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let codes_issued = Counter::default();
        let quota_exceeded = Counter::default();
        let rate_limited = Counter::default();
        let invalid_codes = Counter::default();
        let voucher_lookups = Counter::default();
        let lines_barred = Counter::default();
        registry.register(
            "lines_barred",
            "Subscriber lines barred after too many invalid codes",
            lines_barred.clone(),
        );
        registry.register(
            "invalid_codes",
            "Codes and PINs refused as invalid_code",
            invalid_codes.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register("codes_issued", "Codes issued", codes_issued.clone());
        registry.register(
            "quota_exceeded",
            "Issue requests refused for lack of quota",
            quota_exceeded.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            codes_issued,
            quota_exceeded,
            rate_limited,
            invalid_codes,
            voucher_lookups,
            lines_barred,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
