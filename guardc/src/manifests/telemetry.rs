//! The configuration that turns guard's metric names into Prometheus labels.
//!
//! proxy-wasm metrics carry no labels, so the filter writes them into the name as `.key=value`
//! segments (`guard.rule_matches.policy=pii.rule=card-number.action=deny.mode=enforce`; Envoy
//! prefixes `wasmcustom.`). Envoy's tag extraction (`stats_config.stats_tags`) takes them back
//! out: each specifier's regex has two capture groups, the first is removed from the name, the
//! second is the label's value, so the series above becomes
//! `guard_rule_matches{policy="pii",rule="card-number",action="deny",mode="enforce"}` (Envoy
//! exports a custom namespace's metrics without the namespace and without `envoy_`).
//! Values are the filter's sanitised names (`[A-Za-z0-9_-]`), from the bundle, never a request.
//!
//! Two outputs, one table: `envoy-stats.yaml` (a bootstrap fragment for a plain Envoy, the one the
//! end-to-end suite runs) and `telemetry.yaml` (for Istio: a ConfigMap holding a bootstrap
//! override, plus the pod annotations that mount it and let the metrics through Istio's
//! `proxyStatsMatcher`).

use super::yaml::{emit_documents, Doc, Map, Node};
use super::ManifestOptions;

/// The labels guard encodes, in the order the filter writes them.
pub const LABELS: [&str; 8] = [
    "policy", "rule", "action", "mode", "judge", "outcome", "code", "bundle",
];

/// What Istio's `proxyStatsMatcher` must include: guard's metrics, and Envoy's counters of
/// rejected filter configurations (ECDS), which the config-rejected alert reads.
pub const STATS_INCLUSION_REGEXES: [&str; 2] = [
    r"wasmcustom\.guard\..*",
    r"extension_config_discovery\.http_filter\..*",
];

/// The annotation value that mounts the bootstrap override.
pub const BOOTSTRAP_OVERRIDE_ANNOTATION: &str = "sidecar.istio.io/bootstrapOverride";
/// The annotation that lets guard's metrics through Istio's stats matcher.
pub const PROXY_CONFIG_ANNOTATION: &str = "proxy.istio.io/config";
/// The annotation that sets the sidecar's log level for Wasm filters.
pub const LOG_LEVEL_ANNOTATION: &str = "sidecar.istio.io/componentLogLevel";

/// The tag extraction regex of `label`: the `.label=value` segment anywhere after the metric's
/// name (the first group, removed from the name) and its value (the second group).
pub fn tag_regex(label: &str) -> String {
    format!(
        r"^wasmcustom\.guard\.[a-z_]+(?:\.[a-z_]+=[A-Za-z0-9_-]+)*?(\.{label}=([A-Za-z0-9_-]+))"
    )
}

/// `stats_config` as JSON, for a bootstrap override.
fn stats_config_json() -> serde_json::Value {
    let tags: Vec<serde_json::Value> = LABELS
        .iter()
        .map(|label| serde_json::json!({"tag_name": label, "regex": tag_regex(label)}))
        .collect();
    serde_json::json!({"stats_config": {"stats_tags": tags}})
}

/// `envoy-stats.yaml`: the bootstrap fragment for a plain Envoy (merge it into the bootstrap).
pub fn envoy_stats_yaml() -> String {
    let tags = LABELS
        .iter()
        .map(|label| {
            Node::Map(
                Map::new()
                    .entry("tag_name", Node::str(label))
                    .entry("regex", Node::Str(tag_regex(label))),
            )
        })
        .collect();
    let doc = Doc::new(
        vec![
            "guard's metric labels for a plain Envoy: merge into the bootstrap (top level)."
                .to_owned(),
            "Each regex removes its `.label=value` segment from a `wasmcustom.guard.*` name and"
                .to_owned(),
            "makes it a label; see docs/operations.md.".to_owned(),
        ],
        Map::new().entry(
            "stats_config",
            Node::Map(Map::new().entry("stats_tags", Node::List(tags))),
        ),
    );
    let mut out = String::new();
    emit_documents(&[doc], &mut out);
    out
}

/// The ConfigMap name of the Istio bootstrap override.
pub fn configmap_name(options: &ManifestOptions) -> String {
    format!("{}-stats-tags", options.name)
}

/// The pod annotations that use the override and include guard's metrics.
pub fn pod_annotations(options: &ManifestOptions) -> Vec<(String, String)> {
    let proxy_config = serde_json::json!({
        "proxyStatsMatcher": {"inclusionRegexps": STATS_INCLUSION_REGEXES}
    });
    vec![
        (
            BOOTSTRAP_OVERRIDE_ANNOTATION.to_owned(),
            configmap_name(options),
        ),
        (PROXY_CONFIG_ANNOTATION.to_owned(), proxy_config.to_string()),
        // Istio's sidecars log at `warning`; the guard's denial, monitored and configuration
        // lines are `info` (the audit lines `debug`).
        (LOG_LEVEL_ANNOTATION.to_owned(), "wasm:info".to_owned()),
    ]
}

/// `telemetry.yaml`: the ConfigMap with the bootstrap override, in the guard's namespace.
pub fn istio_telemetry_yaml(options: &ManifestOptions) -> String {
    let mut metadata = Map::new().entry("name", Node::Str(configmap_name(options)));
    if let Some(namespace) = &options.namespace {
        metadata = metadata.entry("namespace", Node::Str(namespace.clone()));
    }
    let bootstrap =
        serde_json::to_string_pretty(&stats_config_json()).unwrap_or_else(|_| "{}".to_owned());
    let mut comments = vec![
        "Prometheus labels for guard's metrics in Istio sidecars. Apply this ConfigMap in each"
            .to_owned(),
        "namespace whose workloads the guard selects, and annotate their pod templates with:"
            .to_owned(),
    ];
    for (key, value) in pod_annotations(options) {
        comments.push(format!("  {key}: '{value}'"));
    }
    comments.push(
        "(mesh-wide instead: meshConfig.defaultConfig.proxyStatsMatcher.inclusionRegexps)."
            .to_owned(),
    );
    let doc = Doc::new(
        comments,
        Map::new()
            .entry("apiVersion", Node::str("v1"))
            .entry("kind", Node::str("ConfigMap"))
            .entry("metadata", Node::Map(metadata))
            .entry(
                "data",
                Node::Map(Map::new().entry("custom_bootstrap.json", Node::Str(bootstrap))),
            ),
    );
    let mut out = String::new();
    emit_documents(&[doc], &mut out);
    out
}
