//! The filter module as an OCI image that Istio's `WasmPlugin` can pull (`url: oci://...`).
//!
//! `write_layout` writes an OCI image layout (`DIR/oci/`: `oci-layout`, `index.json`,
//! `blobs/sha256/...`) that `skopeo copy oci:DIR/oci:TAG docker://REGISTRY/REPO:TAG` pushes
//! as it is. The image is Istio's "compat" variant: one `application/vnd.oci.image.layer.v1.tar+gzip`
//! layer holding a tar with the single file `plugin.wasm`, and the manifest annotation
//! `module.wasm.image/variant: compat`. Istio's fetcher (`pkg/wasm/imagefetcher.go`) reads only
//! the manifest and its last layer; it never looks at the image config, which is here for
//! registries and generic tools (skopeo, umoci) that expect a valid one.
//!
//! The same module and tag give the same bytes, and so the same digests, on every machine:
//! the tar header is fixed (mtime 0, uid/gid 0, mode 0644, no user or group name), the gzip
//! header has mtime 0 and a fixed OS byte, the compression level is fixed, the config has no
//! timestamp, and every JSON document is serialised from structs (fixed field order) and
//! `BTreeMap`s (sorted keys), never from `serde_json::Value`, whose key order changes when some
//! crate in the build turns on serde_json's `preserve_order`. The compressed bytes also depend
//! on the deflate implementation (miniz_oxide, pinned by Cargo.lock); the golden digests in
//! `tests/oci.rs` fail when an upgrade changes them.
//!
//! This matters beyond tidiness: for an `oci://` URL, the `sha256` of a `WasmPlugin` is compared
//! with the digest of the image *manifest* that Istio pulls (`PrepareFetch` returns
//! `img.Digest()`), not with the sha256 of `plugin.wasm`. A reproducible manifest lets anyone
//! rebuild a policy and confirm that the image running in the mesh is the one they reviewed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The layout's directory inside the build output directory.
pub const LAYOUT_DIR: &str = "oci";
/// The file name Istio looks for in the layer of a compat image.
pub const WASM_FILE: &str = "plugin.wasm";

pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The manifest annotation that marks a compat image (required with an OCI layer media type).
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";
/// The index annotation that names a manifest's tag in an image layout.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The image config's platform. Istio ignores the config; tools read these two fields. `wasm` is
/// the architecture name Go, Docker and containerd use for WebAssembly. The OS is `linux` because
/// umoci refuses to unpack any other OS (`unsupported OS: wasip1`, tried with umoci 0.4.7), and
/// because the module runs inside Envoy on Linux nodes; compat images built `FROM scratch` with
/// docker or buildah, as the compat spec shows, carry `linux` as well.
const ARCHITECTURE: &str = "wasm";
const OS: &str = "linux";

/// The gzip header's OS byte: 255 is "unknown", what Go's gzip writer (and so docker and buildah)
/// writes; a fixed value keeps the layer digest independent of the building machine.
const GZIP_OS_UNKNOWN: u8 = 255;

/// What `write_layout` wrote. Digests are `sha256:<hex>` except `wasm_sha256`, which is bare hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciImage {
    /// `DIR/oci`.
    pub layout: PathBuf,
    pub tag: String,
    /// The image manifest's digest: what a registry serves for the tag, what `skopeo inspect`
    /// prints as `Digest`, and, as bare hex, what a `WasmPlugin`'s `sha256` must be.
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
    /// The digest of the compressed layer blob.
    pub layer_digest: String,
    pub layer_size: u64,
    /// The digest of the uncompressed layer tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// sha256 of `plugin.wasm`, bare hex.
    pub wasm_sha256: String,
}

impl OciImage {
    /// The manifest digest as bare hex, the form of `WasmPlugin.spec.sha256`.
    pub fn manifest_hex(&self) -> &str {
        self.manifest_digest
            .strip_prefix("sha256:")
            .unwrap_or(&self.manifest_digest)
    }
}

#[derive(Debug)]
pub enum OciError {
    /// The tag does not match `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`, which registries require.
    InvalidTag(String),
    /// An image reference that cannot name the image we build.
    InvalidImageRef {
        reference: String,
        reason: &'static str,
    },
    /// The caller tried to set an annotation this module owns.
    ReservedAnnotation(String),
    /// The module does not start with the Wasm magic number; Istio would refuse it after pulling.
    NotWasm,
    /// `DIR/oci` (or the staging directory) exists but is not an OCI layout, so it is not ours to
    /// replace.
    NotALayout(PathBuf),
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Json(serde_json::Error),
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciError::InvalidTag(tag) => write!(
                f,
                "invalid image tag {tag:?}: a tag is 1 to 128 of A-Z a-z 0-9 _ . - and does not start with . or -"
            ),
            OciError::InvalidImageRef { reference, reason } => write!(f, "invalid image reference {reference:?}: {reason}"),
            OciError::ReservedAnnotation(key) => write!(f, "annotation {key:?} is set by guardc and cannot be overridden"),
            OciError::NotWasm => f.write_str("the module is not WebAssembly (no \\0asm header); Istio would refuse it"),
            OciError::NotALayout(path) => write!(
                f,
                "`{}` exists and is not an OCI image layout (no `oci-layout` file); move it away or choose another output directory",
                path.display()
            ),
            OciError::Io { path, source } => write!(f, "cannot write `{}`: {source}", path.display()),
            OciError::Json(err) => write!(f, "cannot serialise an OCI document: {err}"),
        }
    }
}

impl std::error::Error for OciError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OciError::Io { source, .. } => Some(source),
            OciError::Json(err) => Some(err),
            _ => None,
        }
    }
}

/// An image reference without transport: `REGISTRY/REPOSITORY[:TAG]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
}

impl ImageRef {
    /// Parses `--image`. An `oci://` prefix is accepted (it is what the WasmPlugin URL shows);
    /// a digest (`@sha256:...`) is refused: the digest of an image is known only once it is built.
    pub fn parse(reference: &str) -> Result<ImageRef, OciError> {
        let invalid = |reason| OciError::InvalidImageRef {
            reference: reference.to_owned(),
            reason,
        };
        let s = reference.strip_prefix("oci://").unwrap_or(reference);
        if s.contains("://") {
            return Err(invalid("give a registry reference such as registry.example.com/guard/NAME:TAG, without a scheme"));
        }
        if s.contains('@') {
            return Err(invalid("a digest reference cannot name an image that is about to be built; give a tag, or none"));
        }
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("empty, or contains whitespace"));
        }
        // A `:` after the last `/` starts the tag; one before it is a registry port.
        let (dir, last) = match s.rsplit_once('/') {
            Some((dir, last)) => (Some(dir), last),
            None => (None, s),
        };
        let (repository, tag) = match (dir, last.split_once(':')) {
            (Some(dir), Some((name, tag))) => (format!("{dir}/{name}"), Some(tag)),
            (None, Some((name, tag))) => (name.to_owned(), Some(tag)),
            (_, None) => (s.to_owned(), None),
        };
        // Registries take lowercase path components of `a-z 0-9 . _ -` that start and end with a
        // letter or digit; the first component may instead be a registry host (it has a `.` or a
        // `:` port, or is `localhost`, as Docker decides), where case does not matter.
        let components: Vec<&str> = repository.split('/').collect();
        let host = match components.as_slice() {
            [first, _, ..]
                if first.contains('.') || first.contains(':') || *first == "localhost" =>
            {
                Some(*first)
            }
            _ => None,
        };
        if let Some(host) = host {
            let (name, port) = host
                .split_once(':')
                .map_or((host, None), |(n, p)| (n, Some(p)));
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            let port_ok =
                port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
            if !name_ok || !port_ok {
                return Err(invalid(
                    "the registry host must be a host name with an optional numeric port",
                ));
            }
        }
        let path_ok = components
            .iter()
            .skip(usize::from(host.is_some()))
            .all(|c| {
                let edge =
                    |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                edge(c.bytes().next())
                    && edge(c.bytes().last())
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || b == b'.'
                            || b == b'_'
                            || b == b'-'
                    })
            });
        if !path_ok {
            return Err(invalid("repository path components are lowercase letters, digits and . _ - (and start and end with a letter or digit)"));
        }
        if let Some(tag) = tag {
            validate_tag(tag)?;
        }
        Ok(ImageRef {
            repository,
            tag: tag.map(str::to_owned),
        })
    }

    /// This reference with the given tag.
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            repository: self.repository.clone(),
            tag: Some(tag.to_owned()),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{tag}", self.repository),
            None => f.write_str(&self.repository),
        }
    }
}

/// The tag used when `--image` names none: guardc's version and the first 12 hex digits of the
/// module's sha256. Every distinct module gets its own tag (so a tag is never moved to other
/// content, and rolling back means naming the previous tag), and rebuilding the same policy with
/// the same guardc gives the same tag.
pub fn default_tag(wasm: &[u8]) -> String {
    let hex = sha256_hex(wasm);
    format!(
        "{}-{}",
        env!("CARGO_PKG_VERSION"),
        hex.get(..12).unwrap_or(&hex)
    )
}

/// Tags as the OCI distribution spec and Docker accept them.
pub fn validate_tag(tag: &str) -> Result<(), OciError> {
    let bytes = tag.as_bytes();
    let valid = (1..=128).contains(&bytes.len())
        && bytes
            .first()
            .is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(OciError::InvalidTag(tag.to_owned()))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// An image in memory: its blobs and the documents that describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBlobs {
    /// `(digest, bytes)`: config, layer, manifest.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// `index.json`.
    pub index: Vec<u8>,
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer_size: u64,
    pub diff_id: String,
    pub wasm_sha256: String,
}

/// Builds the image in memory; `write_layout` writes what this returns. `annotations` go into the
/// manifest next to the variant annotation (prefer `org.opencontainers.image.*` keys, and no
/// timestamp, which would make every build differ).
pub fn build_image(
    wasm: &[u8],
    tag: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<ImageBlobs, OciError> {
    validate_tag(tag)?;
    if wasm.len() < 8 || !wasm.starts_with(b"\0asm") {
        return Err(OciError::NotWasm);
    }
    if annotations.contains_key(VARIANT_ANNOTATION) {
        return Err(OciError::ReservedAnnotation(VARIANT_ANNOTATION.to_owned()));
    }

    let tar = layer_tar(wasm).map_err(|source| OciError::Io {
        path: PathBuf::from(WASM_FILE),
        source,
    })?;
    let layer = gzip(&tar).map_err(|source| OciError::Io {
        path: PathBuf::from(WASM_FILE),
        source,
    })?;
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    let layer_digest = format!("sha256:{}", sha256_hex(&layer));

    let config = serde_json::to_vec(&ImageConfig {
        architecture: ARCHITECTURE,
        os: OS,
        config: Empty {},
        rootfs: RootFs {
            kind: "layers",
            diff_ids: [diff_id.as_str()],
        },
    })
    .map_err(OciError::Json)?;
    let config_digest = format!("sha256:{}", sha256_hex(&config));

    let mut manifest_annotations = annotations.clone();
    manifest_annotations.insert(VARIANT_ANNOTATION.to_owned(), "compat".to_owned());
    let manifest = serde_json::to_vec(&Manifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE,
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE,
            digest: &config_digest,
            size: config.len() as u64,
            annotations: None,
        },
        layers: [Descriptor {
            media_type: LAYER_MEDIA_TYPE,
            digest: &layer_digest,
            size: layer.len() as u64,
            annotations: None,
        }],
        annotations: &manifest_annotations,
    })
    .map_err(OciError::Json)?;
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest));

    let ref_name = BTreeMap::from([(REF_NAME_ANNOTATION.to_owned(), tag.to_owned())]);
    let index = serde_json::to_vec(&Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: [Descriptor {
            media_type: MANIFEST_MEDIA_TYPE,
            digest: &manifest_digest,
            size: manifest.len() as u64,
            annotations: Some(&ref_name),
        }],
    })
    .map_err(OciError::Json)?;

    Ok(ImageBlobs {
        manifest_size: manifest.len() as u64,
        layer_size: layer.len() as u64,
        blobs: vec![
            (config_digest.clone(), config),
            (layer_digest.clone(), layer),
            (manifest_digest.clone(), manifest),
        ],
        index,
        manifest_digest,
        config_digest,
        layer_digest,
        diff_id,
        wasm_sha256: sha256_hex(wasm),
    })
}

/// Writes the image as an OCI image layout in `dir/oci`, replacing an earlier layout there.
///
/// The layout holds exactly this one image (tagged `tag`), so the directory is the same after
/// every build of the same module, with no blobs of earlier builds left behind. It is written to a
/// staging directory first and renamed into place, so an interrupted build never leaves a layout
/// whose index names missing blobs. Only directories with an `oci-layout` file are ever removed.
pub fn write_layout(
    dir: &Path,
    wasm: &[u8],
    tag: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<OciImage, OciError> {
    let image = build_image(wasm, tag, annotations)?;
    let layout = dir.join(LAYOUT_DIR);
    let staging = dir.join(format!(".{LAYOUT_DIR}.partial"));

    remove_layout(&staging)?;
    let blob_dir = staging.join("blobs").join("sha256");
    std::fs::create_dir_all(&blob_dir).map_err(io_at(&blob_dir))?;
    // `oci-layout` first: a staging directory left by a crash then has it, and the next build
    // may remove it.
    write_file(
        &staging.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    for (digest, bytes) in &image.blobs {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        write_file(&blob_dir.join(hex), bytes)?;
    }
    write_file(&staging.join("index.json"), &image.index)?;

    remove_layout(&layout)?;
    std::fs::rename(&staging, &layout).map_err(io_at(&layout))?;

    Ok(OciImage {
        layout,
        tag: tag.to_owned(),
        manifest_digest: image.manifest_digest,
        manifest_size: image.manifest_size,
        config_digest: image.config_digest,
        layer_digest: image.layer_digest,
        layer_size: image.layer_size,
        diff_id: image.diff_id,
        wasm_sha256: image.wasm_sha256,
    })
}

/// Removes `path` if it is an OCI layout; refuses anything else that exists there.
fn remove_layout(path: &Path) -> Result<(), OciError> {
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(OciError::Io {
            path: path.to_path_buf(),
            source: err,
        }),
        Ok(meta) if meta.is_dir() && path.join("oci-layout").is_file() => {
            std::fs::remove_dir_all(path).map_err(io_at(path))
        }
        Ok(_) => Err(OciError::NotALayout(path.to_path_buf())),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    std::fs::write(path, bytes).map_err(io_at(path))
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
    move |source| OciError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A ustar archive with the single regular file `plugin.wasm`. The header is built by hand from
/// `Header::new_ustar` (which starts all zero: no user or group name, no device numbers) rather
/// than from the file system, so nothing of the building machine gets in.
fn layer_tar(wasm: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_path(WASM_FILE)?;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(wasm.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::with_capacity(wasm.len() + 2048));
    builder.append(&header, wasm)?;
    // `into_inner` writes the two zero blocks that end the archive.
    builder.into_inner()
}

/// gzip with a fixed header (no name, mtime 0, OS unknown) and a fixed level. Level 9: the layer
/// is pulled by every node that runs the plugin, and compressing a module of a few MB at level 9
/// takes well under a second.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(
            Vec::with_capacity(bytes.len() / 2),
            flate2::Compression::best(),
        );
    encoder.write_all(bytes)?;
    encoder.finish()
}

// The documents, in the field order of the OCI image spec's examples. Structs, not
// `serde_json::Value`: their field order is fixed whatever serde_json's features are.

#[derive(Serialize)]
struct ImageConfig<'a> {
    architecture: &'a str,
    os: &'a str,
    /// The runtime config; empty, as the module is never run as a container.
    config: Empty,
    rootfs: RootFs<'a>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    diff_ids: [&'a str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: [Descriptor<'a>; 1],
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    digest: &'a str,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: [Descriptor<'a>; 1],
}
