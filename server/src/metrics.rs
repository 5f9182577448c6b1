//! Prometheus metrics: requests by route and status, latency, rate-limited
//! requests, authentication failures, configuration reloads, and the agent
//! (model calls, tokens, tool calls, turns, iterations).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

/// A model call: which protocol, and how it ended (`ok`, `timeout`, `unreachable`, `bad_response`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmCallLabels {
    pub provider: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

/// A tool call: the tool, and `allowed`, `refused`, `error` (allowed, then failed) or `invalid`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolCallLabels {
    pub tool: String,
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;
type LlmHistogramFamily = Family<LlmCallLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Model calls take from milliseconds (a cached answer) to minutes (a large model on CPU).
fn llm_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 16))
}

/// Model calls per turn, up to well past the default `AI_MAX_ITERATIONS` of 12.
fn iterations_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0])
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: HistogramFamily,
    pub rate_limited: Family<RouteLabels, Counter>,
    pub auth_failures: Family<ReasonLabels, Counter>,
    pub policy_reloads: Counter,
    pub policy_reload_failures: Counter,
    /// The refusals by [`crate::config::ReloadError::reason`].
    pub policy_reload_refusals: Family<ReasonLabels, Counter>,
    pub policy_generation: Gauge,
    /// Failed reads of the Kubernetes API source, by reason.
    pub policy_sync_errors: Family<ReasonLabels, Counter>,
    pub llm_duration: LlmHistogramFamily,
    pub llm_input_tokens: Family<ProviderLabels, Counter>,
    pub llm_output_tokens: Family<ProviderLabels, Counter>,
    pub tool_calls: Family<ToolCallLabels, Counter>,
    pub chat_turns: Family<OutcomeLabels, Counter>,
    pub agent_iterations: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ai_orchestrator");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily =
            Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let rate_limited = Family::<RouteLabels, Counter>::default();
        let auth_failures = Family::<ReasonLabels, Counter>::default();
        let policy_reloads = Counter::default();
        let policy_reload_failures = Counter::default();
        let policy_reload_refusals = Family::<ReasonLabels, Counter>::default();
        let policy_generation = Gauge::default();
        let policy_sync_errors = Family::<ReasonLabels, Counter>::default();
        let llm_duration: LlmHistogramFamily =
            Family::new_with_constructor(llm_histogram as fn() -> Histogram);
        let llm_input_tokens = Family::<ProviderLabels, Counter>::default();
        let llm_output_tokens = Family::<ProviderLabels, Counter>::default();
        let tool_calls = Family::<ToolCallLabels, Counter>::default();
        let chat_turns = Family::<OutcomeLabels, Counter>::default();
        let agent_iterations = iterations_histogram();
        registry.register(
            "llm_request_duration_seconds",
            "Model server calls by provider and outcome (ok, timeout, unreachable, bad_response)",
            llm_duration.clone(),
        );
        registry.register(
            "llm_input_tokens",
            "Prompt tokens the model server reported, by provider",
            llm_input_tokens.clone(),
        );
        registry.register(
            "llm_output_tokens",
            "Answer tokens the model server reported, by provider",
            llm_output_tokens.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls by tool and decision (allowed, refused, error, invalid)",
            tool_calls.clone(),
        );
        registry.register(
            "chat_turns",
            "Chat turns by outcome (ok, iteration_limit, llm_timeout, llm_error, turn_timeout, malformed_tool_call, cancelled)",
            chat_turns.clone(),
        );
        registry.register(
            "agent_iterations",
            "Model calls per chat turn",
            agent_iterations.clone(),
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
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit",
            rate_limited.clone(),
        );
        registry.register(
            "auth_failures",
            "Refused credentials by reason",
            auth_failures.clone(),
        );
        registry.register(
            "policy_reloads",
            "Configuration reloads applied",
            policy_reloads.clone(),
        );
        registry.register(
            "policy_reload_failures",
            "Configuration reloads refused as invalid",
            policy_reload_failures.clone(),
        );
        registry.register(
            "policy_reload_refusals",
            "Configuration reloads refused as invalid, by reason",
            policy_reload_refusals.clone(),
        );
        registry.register(
            "policy_generation",
            "Generation of the configuration in force",
            policy_generation.clone(),
        );
        registry.register(
            "policy_sync_errors",
            "Failed reads of the ConfigMap and Secret through the Kubernetes API, by reason",
            policy_sync_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            auth_failures,
            policy_reloads,
            policy_reload_failures,
            policy_reload_refusals,
            policy_generation,
            policy_sync_errors,
            llm_duration,
            llm_input_tokens,
            llm_output_tokens,
            tool_calls,
            chat_turns,
            agent_iterations,
        }
    }

    /// One model call.
    pub fn llm_call(
        &self,
        provider: &str,
        outcome: &str,
        took: Duration,
        usage: Option<crate::llm::TokenUsage>,
    ) {
        self.llm_duration
            .get_or_create(&LlmCallLabels {
                provider: provider.to_string(),
                outcome: outcome.to_string(),
            })
            .observe(took.as_secs_f64());
        if let Some(usage) = usage {
            let labels = ProviderLabels {
                provider: provider.to_string(),
            };
            self.llm_input_tokens
                .get_or_create(&labels)
                .inc_by(usage.input);
            self.llm_output_tokens
                .get_or_create(&labels)
                .inc_by(usage.output);
        }
    }

    /// One judged (or invalid) tool call.
    pub fn tool_call(&self, tool: &str, decision: &str) {
        self.tool_calls
            .get_or_create(&ToolCallLabels {
                tool: tool.to_string(),
                decision: decision.to_string(),
            })
            .inc();
    }

    /// One chat turn and its model calls.
    pub fn turn(&self, outcome: &str, iterations: u32) {
        self.chat_turns
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
        self.agent_iterations.observe(f64::from(iterations));
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %err, "cannot encode metrics");
        }
        out
    }
}
