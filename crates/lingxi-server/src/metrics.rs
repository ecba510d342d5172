//! Prometheus metrics, kept as plain atomics and rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency buckets in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    pub inbound_messages: AtomicU64,
    pub inbound_duplicates: AtomicU64,
    pub customers_merged: AtomicU64,
    pub ws_connections: AtomicU64,
    pub routing_assignments: AtomicU64,
    /// Routing decisions the store refused because the conversation changed first (another
    /// node or a person): each one is a race the compare-and-set arbitrated.
    pub routing_conflicts: AtomicU64,
    pub routing_reassigned_unanswered: AtomicU64,
    pub sla_events: AtomicU64,
    /// Bot answers phrased by the LLM, and LLM calls that ended in the plain answer.
    pub llm_answers: AtomicU64,
    pub llm_fallbacks: AtomicU64,
    /// "Did you mean" intros phrased by the LLM, and those that fell back to the plain intro.
    pub llm_intros: AtomicU64,
    pub llm_intro_fallbacks: AtomicU64,
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        {
            let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *m.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP lingxi_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE lingxi_http_requests_total counter\n");
        for ((method, route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "lingxi_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP lingxi_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE lingxi_http_request_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "lingxi_http_request_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "lingxi_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "lingxi_http_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "lingxi_http_request_duration_seconds_count {count}");
        for (name, help, v) in [
            ("lingxi_inbound_messages_total", "Inbound customer messages stored.", &self.inbound_messages),
            ("lingxi_inbound_duplicates_total", "Inbound messages recognised as re-sent.", &self.inbound_duplicates),
            ("lingxi_customers_merged_total", "Customers merged into another.", &self.customers_merged),
            ("lingxi_routing_assignments_total", "Conversations assigned by routing.", &self.routing_assignments),
            (
                "lingxi_routing_conflicts_total",
                "Routing decisions refused by the store (changed concurrently).",
                &self.routing_conflicts,
            ),
            (
                "lingxi_routing_unanswered_total",
                "Conversations taken back from an agent who did not reply in time.",
                &self.routing_reassigned_unanswered,
            ),
            ("lingxi_sla_events_total", "SLA warnings and breaches recorded by this node.", &self.sla_events),
            ("lingxi_llm_answers_total", "Bot answers phrased by the LLM from the knowledge base.", &self.llm_answers),
            (
                "lingxi_llm_fallbacks_total",
                "LLM calls failed, timed out or rejected as ungrounded (the plain answer was sent).",
                &self.llm_fallbacks,
            ),
            ("lingxi_llm_intros_total", "\"Did you mean\" intros phrased by the LLM.", &self.llm_intros),
            (
                "lingxi_llm_intro_fallbacks_total",
                "LLM intro calls failed, timed out or rejected (the plain \"did you mean\" intro was sent).",
                &self.llm_intro_fallbacks,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP lingxi_ws_connections Open WebSocket streams.\n# TYPE lingxi_ws_connections gauge\nlingxi_ws_connections {}",
            self.ws_connections.load(Ordering::Relaxed)
        );
        out
    }
}
