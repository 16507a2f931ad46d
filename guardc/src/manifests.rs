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
//! The YAML is written by a small emitter in this file rather than through a serde YAML crate:
//! the documents have a few fixed shapes, and the file must carry comments (why `FAIL_CLOSE`, why
//! a wildcard host got no ServiceEntry, how to fill the secrets), which serde-based emitters
//! cannot write; `serde_yaml` is deprecated besides. Every string is a JSON-style double-quoted
//! scalar and every key taken from user input is quoted too, so no value can turn into a YAML 1.1
//! boolean (`on`, `yes`), a number or a document marker, whatever the policy says.
//!
//! Secrets: `pluginConfig.secrets` holds a placeholder such as `${GUARD_DASHSCOPE_API_KEY}` for
//! every secret the policies reference, never a value. A WasmPlugin cannot reference a Kubernetes
//! Secret, so the operator substitutes the values when applying (`envsubst` with an explicit
//! variable list, as the header of the file shows). The `GUARD_` prefix keeps a secret named
//! `user` or `home` from being filled from the operator's own `$USER` or `$HOME`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use guard_engine::ir::{HeaderOp, HostPattern, Program};

use crate::oci::{self, ImageRef, OciError, OciImage};

/// The file `guardc build` writes next to `plugin.wasm` and `oci/`: the holding variant.
pub const FILE_NAME: &str = "manifests.yaml";
/// The alternative for meshes without `EnvoyFilter` for Wasm: a `WasmPlugin`, heads first.
pub const WASMPLUGIN_FILE_NAME: &str = "manifests-wasmplugin.yaml";
/// The largest body guard scans and forwards; larger ones get guard's JSON 413.
pub const BODY_LIMIT: usize = guard_engine::DEFAULT_MAX_BODY_BYTES;
/// The listener buffer limit the manifests set: guard's body limit and 1 MiB for the rest of
/// what Envoy buffers for a request.
pub const BUFFER_LIMIT: usize = BODY_LIMIT + (1 << 20);
/// The port apps call the guarded hosts on (the ServiceEntries' port), whose outbound listener
/// gets [`BUFFER_LIMIT`].
pub const APP_PORT: u16 = 80;

/// Which way the guard is put into the sidecars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// An `EnvoyFilter` declaring the Wasm filter with `allow_on_headers_stop_iteration: true`;
    /// the plugin holds request heads until the body is decided.
    Hold,
    /// A `WasmPlugin`; the plugin sends request heads before the body verdict.
    WasmPlugin,
}

impl Variant {
    pub fn file_name(self) -> &'static str {
        match self {
            Variant::Hold => FILE_NAME,
            Variant::WasmPlugin => WASMPLUGIN_FILE_NAME,
        }
    }
}
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

/// The hosts the policies select, split into what can get a ServiceEntry and what cannot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressHosts {
    /// Exact hosts, first-seen order, no duplicates.
    pub exact: Vec<String>,
    /// Wildcard suffixes as stored (`.example.com` for `*.example.com`).
    pub wildcards: Vec<String>,
}

pub fn egress_hosts(program: &Program) -> EgressHosts {
    let mut hosts = EgressHosts::default();
    for pattern in program.policies.iter().flat_map(|p| &p.hosts) {
        let (list, host) = match pattern {
            HostPattern::Exact(h) => (&mut hosts.exact, h),
            HostPattern::Subdomains(suffix) => (&mut hosts.wildcards, suffix),
        };
        if !list.contains(host) {
            list.push(host.clone());
        }
    }
    hosts
}

/// Every secret the policies and judges reference, sorted, with its placeholder variable.
pub fn secret_placeholders(program: &Program) -> Vec<(String, String)> {
    let mut names = BTreeSet::new();
    for policy in &program.policies {
        for op in &policy.headers {
            if let HeaderOp::Set { value, .. } = op {
                names.extend(value.secrets().map(str::to_owned));
            }
        }
    }
    for judge in &program.judges {
        names.extend(judge.api_key.secrets().map(str::to_owned));
    }
    let mut used = BTreeSet::new();
    names
        .into_iter()
        .map(|name| {
            let base: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let base = format!("{SECRET_ENV_PREFIX}{base}");
            // Two names that differ only in punctuation or case (`a-b`, `a_b`) would share a
            // variable; number the later ones.
            let mut var = base.clone();
            let mut n = 2;
            while !used.insert(var.clone()) {
                var = format!("{base}_{n}");
                n += 1;
            }
            (name, var)
        })
        .collect()
}

/// The command that fills the placeholders and applies. It names the variables without `${}`,
/// so running envsubst over this very file (where the command appears in a comment) does not copy
/// the secrets into the comment; envsubst with an explicit list touches only these variables
/// (never another `$` in the file); and an unset or empty variable stops it before kubectl runs,
/// rather than applying an empty secret that the plugin would refuse at start-up.
fn apply_command(secrets: &[(String, String)], file: &str) -> String {
    let vars: Vec<&str> = secrets.iter().map(|(_, v)| v.as_str()).collect();
    format!(
        "( vars=\"{}\"; for v in $vars; do [ -n \"$(printenv \"$v\")\" ] || {{ echo \"error: export $v first\" >&2; exit 1; }}; done; envsubst \"$(printf '${{%s}} ' $vars)\" < {file} | kubectl apply -f - )",
        vars.join(" ")
    )
}

/// The manifests of one variant for `program`, built into `image`, as one multi-document YAML
/// stream.
pub fn render_variant(
    program: &Program,
    opts: &ManifestOptions,
    image: &OciImage,
    variant: Variant,
) -> String {
    let file_name = variant.file_name();
    let secrets = secret_placeholders(program);
    let hosts = egress_hosts(program);
    let policy_names: Vec<String> = program.policies.iter().map(|p| quote(&p.name)).collect();

    let mut out = String::new();
    out.push_str(&format!(
        "# Generated by guardc {} for policies {}.\n",
        env!("CARGO_PKG_VERSION"),
        policy_names.join(", ")
    ));
    out.push_str(
        "# Rebuild rather than edit: the sha256 below the image URL pins the image this build wrote.\n",
    );
    out.push_str(&format!("# plugin.wasm sha256: {}\n", image.wasm_sha256));
    // Relative to this file, so the file does not depend on where the build ran.
    out.push_str(&format!("# Push first, from this directory:\n#   skopeo copy --preserve-digests oci:./{LAYOUT}:{} docker://{}\n", image.tag, opts.image, LAYOUT = oci::LAYOUT_DIR));
    if opts.image_is_placeholder {
        out.push_str("# WARNING: the image is a placeholder (no --image given); rebuild with --image before applying.\n");
    }
    match variant {
        Variant::Hold => {
            out.push_str("# Variant: the guard holds each request head until its body is decided, so a denied request\n");
            out.push_str("# leaves nothing upstream (no request line, no header, no key). Needs EnvoyFilter and Envoy 1.35+\n");
            out.push_str(&format!("# (allow_on_headers_stop_iteration). Without EnvoyFilter, apply {WASMPLUGIN_FILE_NAME} instead.\n"));
        }
        Variant::WasmPlugin => {
            out.push_str("# Variant: WasmPlugin. Istio cannot set allow_on_headers_stop_iteration for it, so the guard\n");
            out.push_str("# sends each request head (with the injected key) upstream before the body verdict; a denied\n");
            out.push_str(&format!("# request's body never follows (Envoy resets it). Prefer {FILE_NAME} where EnvoyFilter is allowed.\n"));
        }
    }
    out.push_str(&format!(
        "# Body limit: {BODY_LIMIT} bytes, scanned whole; a larger body gets guard's JSON 413\n"
    ));
    out.push_str(&format!("# (guard.body_too_large). The outbound port-{APP_PORT} listener's buffer limit is raised to {BUFFER_LIMIT}.\n"));
    out.push_str("# Apply one variant, never both.\n");
    if secrets.is_empty() {
        out.push_str(&format!("# Apply:  kubectl apply -f {file_name}\n"));
    } else {
        out.push_str("# The secrets are placeholders. Set the variables, then apply through envsubst (never\n");
        out.push_str("# commit the substituted output):\n");
        out.push_str(&format!("#   {}\n", apply_command(&secrets, file_name)));
    }

    let mut docs: Vec<Doc> = Vec::new();
    for host in &hosts.exact {
        docs.push(Doc::new(
            vec![format!(
                "{} is called over plain HTTP on port 80; the sidecar sends it to 443.",
                quote_comment(host)
            )],
            service_entry(opts, host, &resource_name(&opts.name, host), 80, Some(443)),
        ));
        docs.push(Doc::new(
            vec![
                "The sidecar originates TLS to the host (SNI and certificate name = the host)."
                    .to_owned(),
            ],
            destination_rule(opts, host, &resource_name(&opts.name, host)),
        ));
    }
    let mut skipped = Vec::new();
    for suffix in &hosts.wildcards {
        skipped.push(format!(
            "# No ServiceEntry for wildcard host {}: DNS resolution and TLS origination need one concrete",
            quote_comment(&format!("*{suffix}"))
        ));
        skipped.push("# host per ServiceEntry (the SNI is the host). Register each host your apps call, as above.".to_owned());
    }
    judge_docs(program, opts, &hosts, &mut docs, &mut skipped);
    match variant {
        Variant::Hold => docs.push(Doc::new(
            vec![
                "The guard runs in the sidecars of the selected workloads, on their outbound requests,".to_owned(),
                "holding each request head until the body is decided. It also raises the outbound".to_owned(),
                format!("port-{APP_PORT} listener's buffer limit so that an approved body up to guard's limit is forwarded."),
            ],
            hold_filter(opts, image, &secrets),
        )),
        Variant::WasmPlugin => {
            docs.push(Doc::new(
                vec![
                    "Envoy answers its own plain-text 413 for a body over the listener's buffer limit (1 MiB by".to_owned(),
                    "default) when the guard hands an approved body back; this raises it to cover guard's limit.".to_owned(),
                    "Without it, bodies over 1 MiB are refused by Envoy, not forwarded.".to_owned(),
                ],
                buffer_limit_filter(opts),
            ));
            docs.push(Doc::new(
                vec![
                    "The guard runs in the sidecars of the selected workloads, on their outbound requests."
                        .to_owned(),
                ],
                wasm_plugin(opts, image, &secrets),
            ));
        }
    }

    for line in skipped {
        out.push_str(&line);
        out.push('\n');
    }
    for doc in docs {
        out.push_str("---\n");
        for line in &doc.comments {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        emit_map(&doc.body, 0, &mut out);
    }
    out
}

/// ServiceEntries (and DestinationRules for https) for judge endpoints Istio does not know yet.
fn judge_docs(
    program: &Program,
    opts: &ManifestOptions,
    hosts: &EgressHosts,
    docs: &mut Vec<Doc>,
    skipped: &mut Vec<String>,
) {
    let mut seen: Vec<(String, u16)> = Vec::new();
    for judge in &program.judges {
        let endpoint = &judge.endpoint;
        let host = &endpoint.host;
        let label = quote_comment(&judge.name);
        if judge.cluster != endpoint.istio_cluster() {
            skipped.push(format!(
                "# Judge {label} uses the explicit cluster {}: nothing generated; that cluster must exist.",
                quote_comment(&judge.cluster)
            ));
            continue;
        }
        if host.ends_with(".svc.cluster.local") {
            skipped.push(format!(
                "# Judge {label} is the Kubernetes Service {}: Istio already has its cluster.",
                quote_comment(host)
            ));
            continue;
        }
        if !host.contains('.') || host.ends_with(".svc") {
            skipped.push(format!(
                "# WARNING: judge {label} names {}: Istio names clusters by fully qualified host, so the call",
                quote_comment(host)
            ));
            skipped.push(
                "# would find no cluster. Use NAME.NAMESPACE.svc.cluster.local in the policy."
                    .to_owned(),
            );
            continue;
        }
        if hosts.exact.contains(host) {
            skipped.push(format!(
                "# Judge {label} calls the policy host {}: see its ServiceEntry.",
                quote_comment(host)
            ));
            continue;
        }
        if seen.contains(&(host.clone(), endpoint.port)) {
            continue;
        }
        seen.push((host.clone(), endpoint.port));
        let https = endpoint
            .url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let name = resource_name(&opts.name, &format!("judge-{host}"));
        docs.push(Doc::new(
            vec![
                format!("Judge {label}: the guard calls Envoy cluster {}, which", quote_comment(&endpoint.istio_cluster())),
                "exists only for a host Istio knows. The judge is a private service outside the mesh (no sidecar),".to_owned(),
                "hence MESH_EXTERNAL; only the guard should call it through this entry.".to_owned(),
            ],
            service_entry(opts, host, &name, endpoint.port, None),
        ));
        if https {
            docs.push(Doc::new(
                vec![
                    "The guard sends the judge call as plain HTTP; the sidecar originates TLS."
                        .to_owned(),
                ],
                destination_rule(opts, host, &name),
            ));
        }
    }
}

fn metadata(opts: &ManifestOptions, name: &str) -> Node {
    let mut meta = Map::new().entry("name", Node::str(name));
    if let Some(ns) = &opts.namespace {
        meta = meta.entry("namespace", Node::str(ns));
    }
    // These labels let `kubectl delete ... -l app.kubernetes.io/instance=NAME` remove a guard.
    let labels = Map::new()
        .entry("app.kubernetes.io/name", Node::str("guard"))
        .entry("app.kubernetes.io/instance", Node::str(&opts.name))
        .entry("app.kubernetes.io/managed-by", Node::str("guardc"));
    Node::Map(meta.entry("labels", Node::Map(labels)))
}

fn service_entry(
    opts: &ManifestOptions,
    host: &str,
    name: &str,
    port: u16,
    target_port: Option<u16>,
) -> Map {
    let mut port_map = Map::new()
        .entry("number", Node::Int(u64::from(port)))
        .entry("name", Node::str("http"))
        .entry("protocol", Node::str("HTTP"));
    if let Some(target) = target_port {
        port_map = port_map.entry("targetPort", Node::Int(u64::from(target)));
    }
    Map::new()
        .entry("apiVersion", Node::str("networking.istio.io/v1"))
        .entry("kind", Node::str("ServiceEntry"))
        .entry("metadata", metadata(opts, name))
        .entry(
            "spec",
            Node::Map(
                Map::new()
                    .entry("hosts", Node::List(vec![Node::str(host)]))
                    .entry("location", Node::str("MESH_EXTERNAL"))
                    .entry("resolution", Node::str("DNS"))
                    .entry("ports", Node::List(vec![Node::Map(port_map)])),
            ),
        )
}

fn destination_rule(opts: &ManifestOptions, host: &str, name: &str) -> Map {
    let tls = Map::new()
        .entry("mode", Node::str("SIMPLE"))
        .entry("sni", Node::str(host));
    Map::new()
        .entry("apiVersion", Node::str("networking.istio.io/v1"))
        .entry("kind", Node::str("DestinationRule"))
        .entry("metadata", metadata(opts, name))
        .entry(
            "spec",
            Node::Map(Map::new().entry("host", Node::str(host)).entry(
                "trafficPolicy",
                Node::Map(Map::new().entry("tls", Node::Map(tls))),
            )),
        )
}

fn wasm_plugin(opts: &ManifestOptions, image: &OciImage, secrets: &[(String, String)]) -> Map {
    let mut match_labels = Map::new();
    for (key, value) in &opts.selector {
        match_labels = match_labels.quoted_entry(key, Node::str(value));
    }
    let mut secret_map = Map::new();
    for (name, var) in secrets {
        secret_map = secret_map.quoted_entry(name, Node::str(&format!("${{{var}}}")));
    }
    let mut spec = Map::new()
        .entry(
            "selector",
            Node::Map(Map::new().entry("matchLabels", Node::Map(match_labels))),
        )
        .commented(&[
            "Outbound only: the guard protects what the workload sends. Inbound requests never",
            "reach it, so a guard failure cannot take down the workload's own API.",
        ])
        .entry(
            "match",
            Node::List(vec![Node::Map(
                Map::new().entry("mode", Node::str("CLIENT")),
            )]),
        )
        .entry("url", Node::str(&format!("oci://{}", opts.image)))
        .commented(&[
            "For an oci:// URL Istio compares this with the digest of the image manifest it pulls",
            "(not with the sha256 of plugin.wasm): a re-pushed tag with other content is refused.",
        ])
        .entry("sha256", Node::str(image.manifest_hex()))
        .entry("imagePullPolicy", Node::str("IfNotPresent"));
    if let Some(secret) = &opts.image_pull_secret {
        spec = spec.entry("imagePullSecret", Node::str(secret));
    }
    spec = spec
        .commented(&[
            "Before Istio's authentication and authorization filters, as in the reference setup.",
        ])
        .entry("phase", Node::str("AUTHN"))
        .commented(&[
            "FAIL_CLOSE (Istio's default, stated on purpose): if the module cannot be pulled or",
            "started, or it crashes, requests fail instead of reaching the LLM unscanned and",
            "without a key. FAIL_OPEN would turn every guard failure into a silent bypass.",
        ])
        .entry("failStrategy", Node::str("FAIL_CLOSE"))
        .commented(&["Secret values are filled in when applying; see the top of this file."])
        .entry(
            "pluginConfig",
            Node::Map(
                Map::new()
                    .entry("secrets", Node::Map(secret_map))
                    .commented(&[
                        "A WasmPlugin cannot set Envoy's allow_on_headers_stop_iteration, without which a held",
                        "head would stall: the guard sends heads first (see the top of this file).",
                    ])
                    .entry("hold_request_headers", Node::Bool(false)),
            ),
        );
    Map::new()
        .entry("apiVersion", Node::str("extensions.istio.io/v1alpha1"))
        .entry("kind", Node::str("WasmPlugin"))
        .entry("metadata", metadata(opts, &opts.name))
        .entry("spec", Node::Map(spec))
}

fn workload_selector(opts: &ManifestOptions) -> Node {
    let mut match_labels = Map::new();
    for (key, value) in &opts.selector {
        match_labels = match_labels.quoted_entry(key, Node::str(value));
    }
    Node::Map(Map::new().entry("labels", Node::Map(match_labels)))
}

/// An EnvoyFilter `match` on the sidecar's outbound listeners, narrowed by `listener`.
fn outbound_match(listener: Map) -> Node {
    Node::Map(
        Map::new()
            .entry("context", Node::str("SIDECAR_OUTBOUND"))
            .entry("listener", Node::Map(listener)),
    )
}

/// The LISTENER patch that raises the outbound app port's buffer limit to [`BUFFER_LIMIT`].
fn buffer_limit_patch() -> Node {
    Node::Map(
        Map::new()
            .entry("applyTo", Node::str("LISTENER"))
            .entry(
                "match",
                outbound_match(Map::new().entry("portNumber", Node::Int(u64::from(APP_PORT)))),
            )
            .entry(
                "patch",
                Node::Map(Map::new().entry("operation", Node::str("MERGE")).entry(
                    "value",
                    Node::Map(Map::new().entry(
                        "per_connection_buffer_limit_bytes",
                        Node::Int(BUFFER_LIMIT as u64),
                    )),
                )),
            ),
    )
}

fn envoy_filter(opts: &ManifestOptions, name: &str, patches: Vec<Node>) -> Map {
    Map::new()
        .entry("apiVersion", Node::str("networking.istio.io/v1alpha3"))
        .entry("kind", Node::str("EnvoyFilter"))
        .entry("metadata", metadata(opts, name))
        .entry(
            "spec",
            Node::Map(
                Map::new()
                    .entry("workloadSelector", workload_selector(opts))
                    .entry("configPatches", Node::List(patches)),
            ),
        )
}

/// The buffer limit alone, for the `WasmPlugin` variant.
fn buffer_limit_filter(opts: &ManifestOptions) -> Map {
    envoy_filter(
        opts,
        &resource_name(&opts.name, "buffer-limit"),
        vec![buffer_limit_patch()],
    )
}

/// The guard as an ECDS extension config with `allow_on_headers_stop_iteration: true`, inserted
/// into the selected workloads' outbound HTTP filter chains, and the buffer limit.
fn hold_filter(opts: &ManifestOptions, image: &OciImage, secrets: &[(String, String)]) -> Map {
    let extension = format!("{}.guard", opts.name);
    let mut secret_json = serde_json::Map::new();
    for (name, var) in secrets {
        secret_json.insert(
            name.clone(),
            serde_json::Value::String(format!("${{{var}}}")),
        );
    }
    // The plugin configuration is a JSON string here (what WasmPlugin's pluginConfig becomes).
    let configuration = serde_json::json!({
        "secrets": secret_json,
        "hold_request_headers": true,
    })
    .to_string();
    let code = Map::new().entry(
        "remote",
        Node::Map(
            Map::new()
                .entry(
                    "http_uri",
                    Node::Map(
                        Map::new()
                            .entry("uri", Node::str(&format!("oci://{}", opts.image)))
                            // Envoy's schema wants a cluster and a timeout; istio-agent fetches
                            // the image itself and hands Envoy a local file.
                            .entry("cluster", Node::str("guard-wasm-fetch"))
                            .entry("timeout", Node::str("30s")),
                    ),
                )
                .entry("sha256", Node::str(image.manifest_hex())),
        ),
    );
    let plugin = Map::new()
        .entry("name", Node::str(&opts.name))
        .commented(&[
            "Keeps body callbacks coming while the guard holds the request head (Envoy 1.35+).",
        ])
        .entry("allow_on_headers_stop_iteration", Node::Bool(true))
        .commented(&[
            "Fail closed: a module that cannot be fetched or started fails the requests.",
        ])
        .entry("failure_policy", Node::str("FAIL_CLOSED"))
        .entry(
            "vm_config",
            Node::Map(
                Map::new()
                    .entry("vm_id", Node::str(&opts.name))
                    .entry("runtime", Node::str("envoy.wasm.runtime.v8"))
                    .entry("code", Node::Map(code)),
            ),
        )
        .commented(&[
            "Secret values are filled in when applying; see the top of this file. hold_request_headers",
            "goes with allow_on_headers_stop_iteration above: change neither alone.",
        ])
        .entry(
            "configuration",
            Node::Map(
                Map::new()
                    .quoted_entry(
                        "@type",
                        Node::str("type.googleapis.com/google.protobuf.StringValue"),
                    )
                    .entry("value", Node::Str(configuration)),
            ),
        );
    let wasm_type = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
    let extension_patch = Map::new()
        .entry("applyTo", Node::str("EXTENSION_CONFIG"))
        .entry(
            "patch",
            Node::Map(
                Map::new().entry("operation", Node::str("ADD")).entry(
                    "value",
                    Node::Map(
                        Map::new().entry("name", Node::str(&extension)).entry(
                            "typed_config",
                            Node::Map(
                                Map::new()
                                    .quoted_entry("@type", Node::str(wasm_type))
                                    .entry("config", Node::Map(plugin)),
                            ),
                        ),
                    ),
                ),
            ),
        );
    let filter_patch = Map::new()
        .entry("applyTo", Node::str("HTTP_FILTER"))
        .entry(
            "match",
            outbound_match(
                Map::new().entry(
                    "filterChain",
                    Node::Map(
                        Map::new().entry(
                            "filter",
                            Node::Map(
                                Map::new()
                                    .entry(
                                        "name",
                                        Node::str("envoy.filters.network.http_connection_manager"),
                                    )
                                    .entry(
                                        "subFilter",
                                        Node::Map(
                                            Map::new().entry(
                                                "name",
                                                Node::str("envoy.filters.http.router"),
                                            ),
                                        ),
                                    ),
                            ),
                        ),
                    ),
                ),
            ),
        )
        .entry(
            "patch",
            Node::Map(
                Map::new()
                    .entry("operation", Node::str("INSERT_BEFORE"))
                    .entry(
                        "value",
                        Node::Map(
                            Map::new().entry("name", Node::str(&extension)).entry(
                                "config_discovery",
                                Node::Map(
                                    Map::new()
                                        .entry(
                                            "config_source",
                                            Node::Map(
                                                Map::new()
                                                    .entry("ads", Node::Map(Map::new()))
                                                    .entry(
                                                        "initial_fetch_timeout",
                                                        Node::str("0s"),
                                                    ),
                                            ),
                                        )
                                        .entry("type_urls", Node::List(vec![Node::str(wasm_type)])),
                                ),
                            ),
                        ),
                    ),
            ),
        );
    envoy_filter(
        opts,
        &opts.name,
        vec![
            Node::Map(extension_patch),
            Node::Map(filter_patch),
            buffer_limit_patch(),
        ],
    )
}

/// `PREFIX-REST` as a DNS label (at most 63 characters).
fn resource_name(prefix: &str, rest: &str) -> String {
    dns_label(&format!("{prefix}-{rest}"))
}

/// Lowercase letters, digits and `-`, at most 63, starting and ending alphanumeric. A name that
/// had to be cut keeps a hash of the whole, so two long names do not collide.
fn dns_label(s: &str) -> String {
    let mut label = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            label.push(c);
        } else if !label.ends_with('-') && !label.is_empty() {
            label.push('-');
        }
    }
    let mut label = label.trim_end_matches('-').to_owned();
    if label.len() > 63 {
        let hash = oci::sha256_hex(s.as_bytes());
        label.truncate(54);
        label = format!(
            "{}-{}",
            label.trim_end_matches('-'),
            hash.get(..8).unwrap_or("")
        );
    }
    if label.is_empty() {
        "guard".to_owned()
    } else {
        label
    }
}

fn invalid(option: &'static str, value: &str, reason: &'static str) -> DeployError {
    DeployError::InvalidOption {
        option,
        value: value.to_owned(),
        reason,
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn check_dns_label(option: &'static str, s: &str) -> Result<(), DeployError> {
    if is_dns_label(s) {
        Ok(())
    } else {
        Err(invalid(option, s, "must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit"))
    }
}

fn check_dns_subdomain(option: &'static str, s: &str) -> Result<(), DeployError> {
    if s.len() <= 253 && s.split('.').all(is_dns_label) {
        Ok(())
    } else {
        Err(invalid(
            option,
            s,
            "must be a DNS subdomain: dot-separated lowercase labels, at most 253 characters",
        ))
    }
}

/// Kubernetes label syntax: `[PREFIX/]NAME` and a value of at most 63 characters.
fn check_label(option: &'static str, key: &str, value: &str) -> Result<(), DeployError> {
    let name_ok = |s: &str, allow_empty: bool| {
        let b = s.as_bytes();
        (b.is_empty() && allow_empty)
            || (b.len() <= 63
                && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
                && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
                && b.iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.'))
    };
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && p.split('.').all(is_dns_label));
    if !prefix_ok || !name_ok(name, false) {
        return Err(invalid(option, key, "a label key is [DNS-SUBDOMAIN/]NAME, NAME being 1-63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric"));
    }
    if !name_ok(value, true) {
        return Err(invalid(
            option,
            value,
            "a label value is at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric",
        ));
    }
    Ok(())
}

// --- A minimal YAML emitter: block mappings and sequences, double-quoted strings, integers. ---

struct Doc {
    comments: Vec<String>,
    body: Map,
}

impl Doc {
    fn new(comments: Vec<String>, body: Map) -> Self {
        Doc { comments, body }
    }
}

enum Node {
    Str(String),
    Int(u64),
    Bool(bool),
    Map(Map),
    List(Vec<Node>),
}

impl Node {
    fn str(s: &str) -> Node {
        Node::Str(s.to_owned())
    }
}

struct Entry {
    key: String,
    /// Quote the key: it came from user input (labels, secret names).
    quoted: bool,
    value: Node,
    /// Comment lines written above the entry.
    comments: Vec<String>,
}

#[derive(Default)]
struct Map {
    entries: Vec<Entry>,
    pending_comments: Vec<String>,
}

impl Map {
    fn new() -> Self {
        Map::default()
    }

    /// A schema key (`apiVersion`, `spec`): written plain.
    fn entry(mut self, key: &'static str, value: Node) -> Self {
        self.push(key.to_owned(), false, value);
        self
    }

    /// A key from user input: always quoted.
    fn quoted_entry(mut self, key: &str, value: Node) -> Self {
        self.push(key.to_owned(), true, value);
        self
    }

    /// Comment lines for the next entry.
    fn commented(mut self, lines: &[&str]) -> Self {
        self.pending_comments
            .extend(lines.iter().map(|l| (*l).to_owned()));
        self
    }

    fn push(&mut self, key: String, quoted: bool, value: Node) {
        let comments = std::mem::take(&mut self.pending_comments);
        self.entries.push(Entry {
            key,
            quoted,
            value,
            comments,
        });
    }
}

fn emit_map(map: &Map, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for entry in &map.entries {
        for line in &entry.comments {
            out.push_str(&format!("{pad}# {line}\n"));
        }
        let key = if entry.quoted {
            quote(&entry.key)
        } else {
            entry.key.clone()
        };
        match &entry.value {
            Node::Map(m) if m.entries.is_empty() => out.push_str(&format!("{pad}{key}: {{}}\n")),
            Node::List(items) if items.is_empty() => out.push_str(&format!("{pad}{key}: []\n")),
            Node::Map(m) => {
                out.push_str(&format!("{pad}{key}:\n"));
                emit_map(m, indent + 2, out);
            }
            Node::List(items) => {
                out.push_str(&format!("{pad}{key}:\n"));
                emit_list(items, indent + 2, out);
            }
            scalar => out.push_str(&format!("{pad}{key}: {}\n", emit_scalar(scalar))),
        }
    }
}

fn emit_list(items: &[Node], indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for item in items {
        match item {
            Node::Map(m) if !m.entries.is_empty() => {
                // The item's mapping is written at indent + 2; its first line then starts with the
                // dash instead of two spaces. Comments inside list items are not supported (they
                // would come before the dash), and nothing here needs them.
                let mut body = String::new();
                emit_map(m, indent + 2, &mut body);
                let first_pad = " ".repeat(indent + 2);
                let body = body.strip_prefix(&first_pad).unwrap_or(&body);
                out.push_str(&format!("{pad}- {body}"));
            }
            Node::Map(_) => out.push_str(&format!("{pad}- {{}}\n")),
            Node::List(inner) => {
                out.push_str(&format!("{pad}-\n"));
                emit_list(inner, indent + 2, out);
            }
            scalar => out.push_str(&format!("{pad}- {}\n", emit_scalar(scalar))),
        }
    }
}

fn emit_scalar(node: &Node) -> String {
    match node {
        Node::Str(s) => quote(s),
        Node::Int(n) => n.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Map(_) | Node::List(_) => String::new(),
    }
}

/// A YAML double-quoted scalar, valid JSON too. Escapes what YAML does not allow raw in a stream
/// (C0 and C1 controls, DEL, the BOM, U+FFFE/U+FFFF), what YAML 1.1 readers take as line breaks
/// (NEL U+0085, U+2028, U+2029: raw in a comment they would end it), and `"` and `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || ('\u{7f}'..='\u{9f}').contains(&c)
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// User text inside a comment: quoted, so a line break in a name cannot end the comment.
fn quote_comment(s: &str) -> String {
    quote(s)
}
