//! The Kubernetes manifests that run a built guard in an Istio mesh, written to
//! `DIR/manifests.yaml` next to the OCI layout (see docs/deploy.md).
//!
//! Two variants, each one multi-document file applied with one `kubectl apply` (apply one of them,
//! never both), in this order:
//! 1. for every exact host of a policy, a `ServiceEntry` (port 80 → targetPort 443, DNS) and a
//!    `DestinationRule` (`tls.mode: SIMPLE`, `sni`): apps speak plain HTTP to the host, so the
//!    sidecar sees (and the guard scans) the body, and the sidecar originates TLS upstream;
//! 2. for every judge endpoint outside the cluster domain, a `ServiceEntry` (and a
//!    `DestinationRule` for `https` endpoints) so that Istio creates the cluster
//!    `outbound|PORT||HOST` the filter dispatches the judge call to;
//! 3. the guard, last, so it starts once its judge's cluster exists:
//!    - `manifests.yaml` ([`Variant::Hold`], the default): an `EnvoyFilter` that adds the Wasm
//!      filter through ECDS with `allow_on_headers_stop_iteration: true` and the plugin
//!      configuration's `hold_request_headers: true` (the two together: the request head is held
//!      until the body is decided, so a denied request leaves nothing upstream). Istio's
//!      `WasmPlugin` has no field for the Envoy setting, and an `EnvoyFilter` cannot patch the
//!      extension config a `WasmPlugin` generates (EXTENSION_CONFIG takes only ADD), so this
//!      variant declares the filter itself;
//!    - `manifests-wasmplugin.yaml` ([`Variant::WasmPlugin`]): the `WasmPlugin`, with
//!      `hold_request_headers: false` (the head goes upstream before the verdict; a denied body
//!      never does), for meshes that allow no `EnvoyFilter` for Wasm.
//!
//!    Both raise the outbound port-80 listener's `per_connection_buffer_limit_bytes` to
//!    [`BUFFER_LIMIT`] (an `EnvoyFilter` LISTENER merge): the filter hands an approved body back
//!    to Envoy whole, and Envoy answers its own plain-text 413 for a body over the listener's
//!    limit (1 MiB by default), so without it the limit users get would be Envoy's, not guard's
//!    [`guard_engine::DEFAULT_MAX_BODY_BYTES`].
//!
//! The YAML is written by a small emitter of guardc's own (`manifests/yaml.rs`, which says why),
//! and the documents are built in `manifests/documents.rs`; Kubernetes names are checked and made
//! in `manifests/names.rs`.
//!
//! Secrets: `pluginConfig.secrets` holds a placeholder such as `${GUARD_DASHSCOPE_API_KEY}` for
//! every secret the policies reference, never a value. A WasmPlugin cannot reference a Kubernetes
//! Secret, so the operator substitutes the values when applying (`envsubst` with an explicit
//! variable list, as the header of the file shows). The `GUARD_` prefix keeps a secret named
//! `user` or `home` from being filled from the operator's own `$USER` or `$HOME`.

mod documents;
mod names;
pub mod telemetry;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use guard_engine::ir::Program;

use crate::oci::{self, ImageRef, OciError, OciImage};

use documents::apply_command;
pub use documents::{egress_hosts, render_variant, secret_placeholders, EgressHosts, Variant};
use names::{check_dns_label, check_dns_subdomain, check_label, dns_label};

/// The file `guardc build` writes next to `plugin.wasm` and `oci/`: the holding variant.
pub const FILE_NAME: &str = "manifests.yaml";
/// The alternative for meshes without `EnvoyFilter` for Wasm: a `WasmPlugin`, heads first.
pub const WASMPLUGIN_FILE_NAME: &str = "manifests-wasmplugin.yaml";
/// Istio: the bootstrap override that makes guard's metric names Prometheus labels.
pub const TELEMETRY_FILE_NAME: &str = "telemetry.yaml";
/// The same tags as a plain Envoy bootstrap fragment.
pub const ENVOY_STATS_FILE_NAME: &str = "envoy-stats.yaml";
/// The largest body guard scans and forwards; larger ones get guard's JSON 413.
pub const BODY_LIMIT: usize = guard_engine::DEFAULT_MAX_BODY_BYTES;
/// The listener buffer limit the manifests set: guard's body limit and 1 MiB for the rest of
/// what Envoy buffers for a request.
pub const BUFFER_LIMIT: usize = BODY_LIMIT + (1 << 20);
/// The port apps call the guarded hosts on (the ServiceEntries' port), whose outbound listener
/// gets [`BUFFER_LIMIT`].
pub const APP_PORT: u16 = 80;

/// The default repository's parent. `example.com` is reserved (RFC 2606): a manifest built without
/// `--image` can never pull someone else's image, it fails to pull.
pub const PLACEHOLDER_REGISTRY: &str = "registry.example.com/guard";
/// The default selector's label key: workloads opt in with `llm-guard: NAME`.
pub const DEFAULT_SELECTOR_KEY: &str = "llm-guard";
/// Prefix of the environment variables named by the secret placeholders.
pub const SECRET_ENV_PREFIX: &str = "GUARD_";

/// `guardc build`'s deployment options; flatten into the `build` subcommand.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployArgs {
    /// Image to push to and to name in the WasmPlugin, `REGISTRY/REPOSITORY[:TAG]`. Without a tag,
    /// the tag is guardc's version and the module's sha256 prefix. Default:
    /// `registry.example.com/guard/NAME` (a placeholder that never pulls).
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// A label the WasmPlugin selects workloads by, `KEY=VALUE`; repeat for several (all must
    /// match). Default: `llm-guard=NAME`, so only workloads that opt in run the guard.
    #[arg(long = "selector", value_name = "KEY=VALUE", value_parser = parse_selector)]
    pub selector: Vec<(String, String)>,
    /// `metadata.name` of the WasmPlugin, and the prefix of the egress resources' names.
    /// Default: the policy's name (or `guard` when several policies are built together).
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace written into every manifest. Default: none, so `kubectl apply -n NS` decides.
    #[arg(long)]
    pub namespace: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret for pulling the image from a private registry.
    #[arg(long, value_name = "SECRET")]
    pub image_pull_secret: Option<String>,
}

/// What the manifests say, with defaults filled in and everything validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    pub name: String,
    pub namespace: Option<String>,
    /// The image with its tag, without `oci://`.
    pub image: ImageRef,
    /// True when `--image` was not given: the manifests name a registry that does not exist.
    pub image_is_placeholder: bool,
    pub selector: BTreeMap<String, String>,
    pub image_pull_secret: Option<String>,
}

#[derive(Debug)]
pub enum DeployError {
    /// A `--name`, `--namespace`, `--selector` or `--image-pull-secret` Kubernetes would refuse.
    InvalidOption {
        option: &'static str,
        value: String,
        reason: &'static str,
    },
    Oci(OciError),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployError::InvalidOption {
                option,
                value,
                reason,
            } => write!(f, "invalid {option} {value:?}: {reason}"),
            DeployError::Oci(err) => err.fmt(f),
            DeployError::Io { path, source } => {
                write!(f, "cannot write `{}`: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for DeployError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeployError::Oci(err) => Some(err),
            DeployError::Io { source, .. } => Some(source),
            DeployError::InvalidOption { .. } => None,
        }
    }
}

impl From<OciError> for DeployError {
    fn from(err: OciError) -> Self {
        DeployError::Oci(err)
    }
}

/// What `write_deployment` wrote; its `Display` is the summary `guardc build` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub image: OciImage,
    pub options: ManifestOptions,
    /// The holding variant (`manifests.yaml`).
    pub manifests: PathBuf,
    /// The `WasmPlugin` variant (`manifests-wasmplugin.yaml`).
    pub wasmplugin_manifests: PathBuf,
    /// Istio: the ConfigMap that turns guard's metric names into labels (`telemetry.yaml`).
    pub telemetry: PathBuf,
    /// A plain Envoy's bootstrap fragment with the same tags (`envoy-stats.yaml`).
    pub envoy_stats: PathBuf,
    /// Secret name → placeholder variable, sorted by secret name.
    pub secrets: Vec<(String, String)>,
    /// Things the operator must know: placeholder image, skipped hosts.
    pub warnings: Vec<String>,
}

/// Writes `out/oci/` (the image) and `out/manifests.yaml` for a module built from `program`.
/// `out/plugin.wasm` is the caller's.
pub fn write_deployment(
    out: &Path,
    wasm: &[u8],
    program: &Program,
    args: &DeployArgs,
) -> Result<Deployment, DeployError> {
    let name = match &args.name {
        Some(name) => {
            check_dns_label("--name", name)?;
            name.clone()
        }
        None => default_name(program),
    };
    if let Some(namespace) = &args.namespace {
        check_dns_label("--namespace", namespace)?;
    }
    if let Some(secret) = &args.image_pull_secret {
        check_dns_subdomain("--image-pull-secret", secret)?;
    }
    let mut selector = BTreeMap::new();
    for (key, value) in &args.selector {
        check_label("--selector", key, value)?;
        selector.insert(key.clone(), value.clone());
    }
    if selector.is_empty() {
        selector.insert(DEFAULT_SELECTOR_KEY.to_owned(), name.clone());
    }
    let (image, image_is_placeholder) = match &args.image {
        Some(reference) => (ImageRef::parse(reference)?, false),
        None => (
            ImageRef::parse(&format!("{PLACEHOLDER_REGISTRY}/{name}"))?,
            true,
        ),
    };
    let tag = image.tag.clone().unwrap_or_else(|| oci::default_tag(wasm));
    let options = ManifestOptions {
        name,
        namespace: args.namespace.clone(),
        image: image.with_tag(&tag),
        image_is_placeholder,
        selector,
        image_pull_secret: args.image_pull_secret.clone(),
    };

    let annotations = BTreeMap::from([(
        "org.opencontainers.image.title".to_owned(),
        options.name.clone(),
    )]);
    let built = oci::write_layout(out, wasm, &tag, &annotations)?;
    let mut written = Vec::new();
    for variant in [Variant::Hold, Variant::WasmPlugin] {
        let yaml = render_variant(program, &options, &built, variant);
        let path = out.join(variant.file_name());
        std::fs::write(&path, yaml).map_err(|source| DeployError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    let wasmplugin_manifests = written.pop().unwrap_or_default();
    let manifests = written.pop().unwrap_or_default();
    let write = |file: &str, text: String| -> Result<PathBuf, DeployError> {
        let path = out.join(file);
        std::fs::write(&path, text).map_err(|source| DeployError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let telemetry = write(
        TELEMETRY_FILE_NAME,
        telemetry::istio_telemetry_yaml(&options),
    )?;
    let envoy_stats = write(ENVOY_STATS_FILE_NAME, telemetry::envoy_stats_yaml())?;

    let mut warnings = Vec::new();
    if options.image_is_placeholder {
        warnings.push(format!(
            "no --image: the manifests name the placeholder {}; rebuild with --image REGISTRY/REPOSITORY before applying",
            options.image
        ));
    }
    let hosts = egress_hosts(program);
    for host in &hosts.wildcards {
        warnings.push(format!("no ServiceEntry for wildcard host *{host}: register the concrete hosts yourself (see {FILE_NAME})"));
    }
    Ok(Deployment {
        image: built,
        options,
        manifests,
        wasmplugin_manifests,
        telemetry,
        envoy_stats,
        secrets: secret_placeholders(program),
        warnings,
    })
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = self.image.layout.display();
        writeln!(
            f,
            "image: oci:{layout}:{} (manifest {})",
            self.image.tag, self.image.manifest_digest
        )?;
        writeln!(
            f,
            "push: skopeo copy --preserve-digests oci:{layout}:{} docker://{}",
            self.image.tag, self.options.image
        )?;
        writeln!(
            f,
            "manifests: {} (request heads held until the body is decided; needs EnvoyFilter)",
            self.manifests.display()
        )?;
        writeln!(
            f,
            "   or: {} (WasmPlugin; request heads go upstream before the verdict)",
            self.wasmplugin_manifests.display()
        )?;
        writeln!(
            f,
            "body limit: {BODY_LIMIT} bytes (the listener buffer limit is raised to {BUFFER_LIMIT})"
        )?;
        let annotations: Vec<String> = telemetry::pod_annotations(&self.options)
            .into_iter()
            .map(|(key, value)| format!("{key}: '{value}'"))
            .collect();
        writeln!(
            f,
            "metrics: apply {} and annotate the selected pods with {} (labels for Prometheus; plain Envoy: {})",
            self.telemetry.display(),
            annotations.join(", "),
            self.envoy_stats.display()
        )?;
        if !self.secrets.is_empty() {
            let vars: Vec<&str> = self.secrets.iter().map(|(_, var)| var.as_str()).collect();
            writeln!(
                f,
                "secrets: set {} and apply with {}",
                vars.join(", "),
                apply_command(&self.secrets, &self.manifests.display().to_string())
            )?;
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        Ok(())
    }
}

/// `--selector` values: `KEY=VALUE`.
pub fn parse_selector(s: &str) -> Result<(String, String), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    check_label("--selector", key, value).map_err(|e| e.to_string())?;
    Ok((key.to_owned(), value.to_owned()))
}

/// The WasmPlugin's default name: the policy's name as a DNS label, or `guard` for several.
pub fn default_name(program: &Program) -> String {
    match program.policies.as_slice() {
        [one] => dns_label(&one.name),
        _ => "guard".to_owned(),
    }
}
