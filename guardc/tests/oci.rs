//! The OCI image layout of `guardc build`: reproducible bytes, the layer Istio unpacks, and the
//! documents skopeo and registries read.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking, and index what they just built"
)]

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use guardc::oci::{self, build_image, write_layout, ImageRef, OciError};
use serde_json::Value;

/// The smallest valid Wasm module: magic number and version 1, no sections.
const MIN_WASM: &[u8] = b"\0asm\x01\0\0\0";

/// A module of a realistic size whose bytes are not all alike, so compression does real work.
fn big_wasm() -> Vec<u8> {
    let mut wasm = MIN_WASM.to_vec();
    let mut x: u32 = 0x9e37_79b9;
    for i in 0..300_000u32 {
        // xorshift, with a repetitive component so the data is compressible like real code.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        wasm.push(if i % 3 == 0 {
            (x & 0xff) as u8
        } else {
            (i % 251) as u8
        });
    }
    wasm
}

fn no_annotations() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Every file under `root`, relative path → bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn same_module_and_tag_give_identical_layouts() {
    let wasm = big_wasm();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let image_a = write_layout(a.path(), &wasm, "v1", &no_annotations()).unwrap();
    let image_b = write_layout(b.path(), &wasm, "v1", &no_annotations()).unwrap();
    assert_eq!(image_a.manifest_digest, image_b.manifest_digest);
    assert_eq!(image_a.layer_digest, image_b.layer_digest);
    let (tree_a, tree_b) = (tree(&a.path().join("oci")), tree(&b.path().join("oci")));
    assert_eq!(
        tree_a.keys().collect::<Vec<_>>(),
        tree_b.keys().collect::<Vec<_>>()
    );
    assert!(tree_a == tree_b, "the two layouts differ in content");
    // oci-layout, index.json, config, layer, manifest: nothing else.
    assert_eq!(tree_a.len(), 5, "{:?}", tree_a.keys().collect::<Vec<_>>());
}

#[test]
fn rebuilding_in_place_gives_the_same_bytes_and_drops_old_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let other = write_layout(dir.path(), &big_wasm(), "old", &no_annotations()).unwrap();
    let first = write_layout(dir.path(), MIN_WASM, "v1", &no_annotations()).unwrap();
    let before = tree(&dir.path().join("oci"));
    let second = write_layout(dir.path(), MIN_WASM, "v1", &no_annotations()).unwrap();
    assert_eq!(first, second);
    assert!(before == tree(&dir.path().join("oci")));
    let old_blob = dir
        .path()
        .join("oci/blobs/sha256")
        .join(other.manifest_hex());
    assert!(
        !old_blob.exists(),
        "a blob of the previous build was left behind"
    );
    assert!(
        !dir.path().join(".oci.partial").exists(),
        "the staging directory was left behind"
    );
}

/// The exact digests of a fixed input. When this fails after a dependency upgrade (tar, flate2,
/// miniz_oxide, serde_json), the image bytes changed: every published policy would get a new
/// digest on rebuild, so reproducibility across guardc versions is broken. Decide deliberately,
/// then update the values (and say so in the changelog).
#[test]
fn golden_digests_of_the_minimal_module() {
    let image = build_image(MIN_WASM, "v1", &no_annotations()).unwrap();
    assert_eq!(
        image.wasm_sha256,
        "93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476"
    );
    assert_eq!(
        image.diff_id,
        "sha256:69116e29dad538f91c7c5d999dc400570f40455fb24b26d513ee1eae117b0539"
    );
    assert_eq!(
        image.layer_digest,
        "sha256:5f867f5ced35488c9530d0661aec4ece7a83e23877d46827a9d0390e3a2bfe66"
    );
    assert_eq!(
        image.config_digest,
        "sha256:180c5b9acaf270d29b23ed8bbbaeebf0a15de4e17baf4129db25a23427798307"
    );
    assert_eq!(
        image.manifest_digest,
        "sha256:118f2408d8e07ca2fd3777b28518f4788b21e8c4534ee8916bbf6879dd210aba"
    );
}

#[test]
fn the_layer_is_a_gzipped_tar_with_exactly_plugin_wasm() {
    let wasm = big_wasm();
    let dir = tempfile::tempdir().unwrap();
    let image = write_layout(dir.path(), &wasm, "v1", &no_annotations()).unwrap();
    let layer = blob(&image.layout, &image.layer_digest);
    assert_eq!(layer.len() as u64, image.layer_size);
    assert!(layer.len() < wasm.len(), "the layer is not compressed");

    // gzip header (RFC 1952): no FNAME or other flags, MTIME 0, OS 255.
    assert_eq!(&layer[..3], &[0x1f, 0x8b, 8], "not gzip/deflate");
    assert_eq!(
        layer[3], 0,
        "FLG must be 0: no file name, comment or extra field"
    );
    assert_eq!(&layer[4..8], &[0, 0, 0, 0], "MTIME must be 0");
    assert_eq!(layer[9], 255, "OS must be 255 (unknown)");

    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(layer.as_slice())
        .read_to_end(&mut tar_bytes)
        .unwrap();
    assert_eq!(
        format!("sha256:{}", oci::sha256_hex(&tar_bytes)),
        image.diff_id
    );

    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        entries.push((header, content));
    }
    assert_eq!(entries.len(), 1, "the layer must hold only plugin.wasm");
    let (header, content) = &entries[0];
    assert_eq!(header.path().unwrap().to_str(), Some("plugin.wasm"));
    assert!(
        content == &wasm,
        "plugin.wasm in the layer differs from the module"
    );
    assert!(header.as_ustar().is_some(), "not a ustar header");
    assert_eq!(header.entry_type(), tar::EntryType::Regular);
    assert_eq!(header.mode().unwrap(), 0o644);
    assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
    assert_eq!(header.mtime().unwrap(), 0);
    assert_eq!(header.username().unwrap(), Some(""));
    assert_eq!(header.groupname().unwrap(), Some(""));
}

#[test]
fn documents_describe_the_blobs_istio_and_skopeo_read() {
    let dir = tempfile::tempdir().unwrap();
    let annotations = BTreeMap::from([(
        "org.opencontainers.image.title".to_owned(),
        "dashscope-egress".to_owned(),
    )]);
    let image = write_layout(dir.path(), MIN_WASM, "0.1.0-abc", &annotations).unwrap();
    let layout = &image.layout;

    assert_eq!(
        std::fs::read(layout.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );

    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(manifests[0]["digest"], image.manifest_digest.as_str());
    assert_eq!(manifests[0]["size"], image.manifest_size);
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
        "0.1.0-abc"
    );

    let manifest_bytes = blob(layout, &image.manifest_digest);
    assert_eq!(manifest_bytes.len() as u64, image.manifest_size);
    let manifest = json(&manifest_bytes);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "dashscope-egress"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["config"]["digest"], image.config_digest.as_str());
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(
        layers.len(),
        1,
        "Istio takes the last layer; the compat variant has exactly one"
    );
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(layers[0]["digest"], image.layer_digest.as_str());
    assert_eq!(layers[0]["size"], image.layer_size);

    let config_bytes = blob(layout, &image.config_digest);
    assert_eq!(manifest["config"]["size"], config_bytes.len());
    let config = json(&config_bytes);
    assert_eq!(config["os"], "linux", "umoci unpacks only linux images");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!([image.diff_id])
    );
    assert!(
        config.get("created").is_none(),
        "a timestamp would make every build differ"
    );

    // Content addressing: every blob is named by its own digest.
    for (path, bytes) in tree(&layout.join("blobs/sha256")) {
        assert_eq!(
            path.to_str().unwrap(),
            oci::sha256_hex(&bytes),
            "blob name is not its digest"
        );
    }
}

#[test]
fn different_modules_or_annotations_give_different_manifests() {
    let a = build_image(MIN_WASM, "v1", &no_annotations()).unwrap();
    let b = build_image(&big_wasm(), "v1", &no_annotations()).unwrap();
    assert_ne!(a.manifest_digest, b.manifest_digest);
    assert_ne!(a.layer_digest, b.layer_digest);
    let annotated = BTreeMap::from([(
        "org.opencontainers.image.version".to_owned(),
        "2".to_owned(),
    )]);
    let c = build_image(MIN_WASM, "v1", &annotated).unwrap();
    assert_ne!(a.manifest_digest, c.manifest_digest);
    assert_eq!(a.layer_digest, c.layer_digest);
    // The tag lives in index.json only: retagging does not change the image.
    let d = build_image(MIN_WASM, "v2", &no_annotations()).unwrap();
    assert_eq!(a.manifest_digest, d.manifest_digest);
    assert_ne!(a.index, d.index);
}

#[test]
fn refuses_what_istio_or_registries_would_refuse() {
    let err = build_image(b"not wasm at all", "v1", &no_annotations()).unwrap_err();
    assert!(matches!(err, OciError::NotWasm), "{err}");
    let reserved = BTreeMap::from([("module.wasm.image/variant".to_owned(), "oci".to_owned())]);
    let err = build_image(MIN_WASM, "v1", &reserved).unwrap_err();
    assert!(matches!(err, OciError::ReservedAnnotation(_)), "{err}");

    let long = "a".repeat(129);
    for tag in ["", ".hidden", "-x", "a:b", "a/b", "ä", long.as_str()] {
        assert!(
            matches!(
                build_image(MIN_WASM, tag, &no_annotations()),
                Err(OciError::InvalidTag(_))
            ),
            "{tag:?} was accepted"
        );
    }
    let longest = "a".repeat(128);
    for tag in [
        "v1",
        "0.1.0-3f2a9c1b7d4e",
        "_x",
        "A.b-c_d",
        longest.as_str(),
    ] {
        assert!(
            build_image(MIN_WASM, tag, &no_annotations()).is_ok(),
            "{tag:?} was refused"
        );
    }
}

#[test]
fn a_directory_that_is_not_a_layout_is_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("oci")).unwrap();
    std::fs::write(dir.path().join("oci/keep.txt"), "mine").unwrap();
    let err = write_layout(dir.path(), MIN_WASM, "v1", &no_annotations()).unwrap_err();
    assert!(matches!(err, OciError::NotALayout(_)), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("oci/keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn default_tag_names_the_module() {
    let tag = oci::default_tag(MIN_WASM);
    assert_eq!(tag, format!("{}-93a44bbb96c7", env!("CARGO_PKG_VERSION")));
    assert!(oci::validate_tag(&tag).is_ok());
    assert_ne!(oci::default_tag(&big_wasm()), tag);
}

#[test]
fn image_references() {
    let ok: &[(&str, &str, Option<&str>)] = &[
        (
            "registry.example.com/guard/dashscope-egress:0.1.0",
            "registry.example.com/guard/dashscope-egress",
            Some("0.1.0"),
        ),
        (
            "registry.example.com/guard/dashscope-egress",
            "registry.example.com/guard/dashscope-egress",
            None,
        ),
        (
            "oci://ghcr.io/acme/guard:v2",
            "ghcr.io/acme/guard",
            Some("v2"),
        ),
        ("localhost:5000/guard", "localhost:5000/guard", None),
        (
            "localhost:5000/guard:v1",
            "localhost:5000/guard",
            Some("v1"),
        ),
        (
            "Registry.Example.com/guard",
            "Registry.Example.com/guard",
            None,
        ),
        ("guard:v1", "guard", Some("v1")),
    ];
    for (input, repository, tag) in ok {
        let parsed = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(parsed.repository, *repository, "{input}");
        assert_eq!(parsed.tag.as_deref(), *tag, "{input}");
    }
    for bad in [
        "",
        "https://registry.example.com/guard",
        "registry.example.com/guard@sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476",
        "registry.example.com/Guard:v1",
        "registry.example.com/guard:",
        "registry.example.com/guard:bad/tag",
        "registry.example.com//guard",
        "/guard:v1",
        "registry.example.com/guard /x",
    ] {
        assert!(ImageRef::parse(bad).is_err(), "{bad:?} was accepted");
    }
    let with_tag = ImageRef::parse("registry.example.com/guard")
        .unwrap()
        .with_tag("v3");
    assert_eq!(with_tag.to_string(), "registry.example.com/guard:v3");
}
