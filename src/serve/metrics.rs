//! What an operator watches on `GET /metrics` (Prometheus text format): requests by outcome,
//! payments verified, settled and failed, amounts, inference and settlement latency, and the
//! relayer's gas balance.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};
use std::sync::atomic::AtomicU64;

/// Label of a request counter: how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: &'static str,
}

/// Label of a failed payment: the x402 reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `genim_requests_total{outcome}`: paid (served), replayed, payment_required, rejected,
    /// invalid, failed.
    pub requests: Family<Outcome, Counter>,
    pub payments_verified: Counter,
    pub payments_settled: Counter,
    pub payments_failed: Family<Reason, Counter>,
    /// Smallest units of the token settled (USDC: millionths).
    pub amount_settled: Counter,
    pub inference_seconds: Histogram,
    pub settlement_seconds: Histogram,
    /// The relayer's ETH balance in wei (it pays the settlement gas), as a float gauge.
    pub relayer_balance_wei: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("genim");
        let requests = Family::<Outcome, Counter>::default();
        registry.register("requests", "Image requests by outcome", requests.clone());
        let payments_verified = Counter::default();
        registry.register(
            "payments_verified",
            "Payments that passed verification (signature, balance, simulation)",
            payments_verified.clone(),
        );
        let payments_settled = Counter::default();
        registry.register(
            "payments_settled",
            "Payments settled on chain",
            payments_settled.clone(),
        );
        let payments_failed = Family::<Reason, Counter>::default();
        registry.register(
            "payments_failed",
            "Payments refused or not settled, by x402 reason",
            payments_failed.clone(),
        );
        let amount_settled = Counter::default();
        registry.register(
            "amount_settled",
            "Token amount settled, in its smallest unit",
            amount_settled.clone(),
        );
        // 5 ms .. ~80 s: local generation is milliseconds, remote models up to a minute.
        let inference_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.005, 2.0, 15),
        );
        registry.register(
            "inference_seconds",
            "Time to generate and store images",
            inference_seconds.clone(),
        );
        let settlement_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.002, 2.0, 15),
        );
        registry.register(
            "settlement_seconds",
            "Time from submitting a settlement to its receipt",
            settlement_seconds.clone(),
        );
        let relayer_balance_wei = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "relayer_balance_wei",
            "ETH balance of the key that relays and settles (pays the gas)",
            relayer_balance_wei.clone(),
        );
        Self {
            registry,
            requests,
            payments_verified,
            payments_settled,
            payments_failed,
            amount_settled,
            inference_seconds,
            settlement_seconds,
            relayer_balance_wei,
        }
    }
}

impl Metrics {
    /// Counts a request's outcome.
    pub fn request(&self, outcome: &'static str) {
        self.requests.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a failed payment by reason.
    pub fn payment_failed(&self, reason: &str) {
        self.payments_failed
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.request("paid");
        metrics.payment_failed("invalid_exact_evm_nonce_already_used");
        metrics.inference_seconds.observe(0.02);
        metrics.relayer_balance_wei.set(1e18);
        let text = metrics.render();
        assert!(
            text.contains("genim_requests_total{outcome=\"paid\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "genim_payments_failed_total{reason=\"invalid_exact_evm_nonce_already_used\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("genim_inference_seconds_count 1"), "{text}");
        assert!(text.contains("# EOF"), "{text}");
    }
}
