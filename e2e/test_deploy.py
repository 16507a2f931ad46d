"""`guardc build` output as Istio, skopeo, umoci and Kubernetes read it.

Builds policies/dashscope.guard twice with the real CLI, then checks with real tools:
- skopeo reads the OCI layout, and its digest is the WasmPlugin's `sha256` (for an oci:// URL
  Istio compares `sha256` with the manifest digest it pulls, not with sha256(plugin.wasm));
- umoci unpacks it to exactly `plugin.wasm`, byte for byte the module guardc wrote;
- the layer is what Istio's compat fetcher extracts (last layer, OCI tar+gzip, `plugin.wasm`);
- every document of both variants (manifests.yaml: the guard as an EnvoyFilter that holds request
  heads; manifests-wasmplugin.yaml: a WasmPlugin, heads first) validates against the served
  version of its Istio CRD, with no field the schema does not declare, and no secret value in it;
  EnvoyFilter, whose CRD is not in testdata/schemas, is checked structurally against the
  EnvoyFilter API's fields and enums, and the Wasm config it carries is run in Envoy 1.40;
- two builds are identical byte for byte;
- pushed to a real registry (Debian's docker-registry on 127.0.0.1, when installed), the digest
  a client computes from the served manifest is still the WasmPlugin's `sha256`.

Set GUARDC to a prebuilt guardc to skip `cargo build` (conftest.py's `guardc` fixture).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import jsonschema
import pytest
import yaml

from envoy import GUARD_BUFFER_LIMIT, ROOT
from helpers import REFERENCE_JUDGE, SECRETS, chat, header_values

POLICY = ROOT / "policies" / "dashscope.guard"
CRDS = ROOT / "testdata" / "schemas" / "istio-crds.yaml"
IMAGE = "registry.example.com/guard/dashscope-egress"
BUILD_ARGS = ["--image", IMAGE, "--selector", "app=sleep"]
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TOOL_TIMEOUT = 120


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Build:
    """One `guardc build` output directory."""

    def __init__(self, out: Path, stdout: str) -> None:
        self.out = out
        self.stdout = stdout
        self.layout = out / "oci"
        self.wasm = (out / "plugin.wasm").read_bytes()
        self.index = json.loads((self.layout / "index.json").read_text())
        assert len(self.index["manifests"]) == 1, self.index
        self.descriptor = self.index["manifests"][0]
        self.tag = self.descriptor["annotations"]["org.opencontainers.image.ref.name"]
        self.manifest_digest = self.descriptor["digest"]
        self.manifest = json.loads(self.blob(self.manifest_digest))
        self.hold_docs = self.load("manifests.yaml")
        self.plugin_docs = self.load("manifests-wasmplugin.yaml")
        self.docs = self.hold_docs + self.plugin_docs

    def load(self, name: str) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all((self.out / name).read_text()) if d is not None]

    def blob(self, digest: str) -> bytes:
        algorithm, hex_digest = digest.split(":", 1)
        assert algorithm == "sha256", digest
        data = (self.layout / "blobs" / "sha256" / hex_digest).read_bytes()
        assert sha256(data) == hex_digest, f"blob {digest} does not match its digest"
        return data

    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d.get("kind") == kind]

    def wasm_plugin(self) -> dict[str, Any]:
        plugins = self.of_kind("WasmPlugin")
        assert len(plugins) == 1, [d.get("kind") for d in self.docs]
        assert plugins[0] in self.plugin_docs
        return plugins[0]

    def hold_filter(self) -> dict[str, Any]:
        """The hold variant's EnvoyFilter that declares the guard (the last document)."""
        doc = self.hold_docs[-1]
        assert doc["kind"] == "EnvoyFilter", doc["kind"]
        return doc

    def hold_wasm_config(self) -> dict[str, Any]:
        [patch] = [p for p in self.hold_filter()["spec"]["configPatches"] if p["applyTo"] == "EXTENSION_CONFIG"]
        return patch["patch"]["value"]["typed_config"]["config"]


@pytest.fixture(scope="module")
def builds(guardc: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Build, Build]:
    """Two builds of the reference policy into different directories."""
    out = []
    for _ in range(2):
        directory = tmp_path_factory.mktemp("deploy")
        result = run(str(guardc), "build", str(POLICY), "-o", str(directory), *BUILD_ARGS, cwd=ROOT)
        out.append(Build(directory, result.stdout))
    return out[0], out[1]


@pytest.fixture(scope="module")
def build(builds: tuple[Build, Build]) -> Build:
    return builds[0]


def istio_extract(manifest: dict[str, Any], read_blob: Callable[[str], bytes]) -> bytes:
    """What Istio's fetcher does with a compat image (pkg/wasm/imagefetcher.go,
    extractOCIStandardImage): take the last layer, require the OCI tar+gzip media type, return the
    first tar entry whose base name is plugin.wasm, and refuse it unless it starts like Wasm."""
    layer = manifest["layers"][-1]
    assert layer["mediaType"] == OCI_LAYER
    with tarfile.open(fileobj=io.BytesIO(read_blob(layer["digest"])), mode="r:gz") as archive:
        for member in archive:
            if os.path.basename(member.name) == "plugin.wasm":
                extracted = archive.extractfile(member)
                assert extracted is not None, "plugin.wasm is not a regular file"
                wasm = extracted.read()
                assert len(wasm) >= 8 and wasm[:4] == b"\0asm", "Istio refuses a module without the Wasm header"
                return wasm
    raise AssertionError("no plugin.wasm in the last layer")


def test_skopeo_reads_the_layout_and_its_digest_is_the_wasmplugin_sha256(build: Build) -> None:
    inspect = json.loads(run("skopeo", "inspect", build.ref()).stdout)
    assert inspect["Digest"] == build.manifest_digest
    assert inspect["Layers"] == [build.manifest["layers"][0]["digest"]]
    raw = run("skopeo", "inspect", "--raw", build.ref()).stdout.encode()
    assert "sha256:" + sha256(raw) == build.manifest_digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["schemaVersion"] == 2
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [OCI_LAYER]
    config = json.loads(run("skopeo", "inspect", "--config", "--raw", build.ref()).stdout)
    assert (config["os"], config["architecture"]) == ("linux", "wasm")
    assert "created" not in config, "a timestamp would make builds differ"

    spec = build.wasm_plugin()["spec"]
    assert spec["sha256"] == build.manifest_digest.removeprefix("sha256:")
    assert spec["sha256"] != sha256(build.wasm), "Istio compares the manifest digest, not the module's"
    assert spec["url"] == f"oci://{IMAGE}:{build.tag}"


def test_umoci_unpacks_exactly_plugin_wasm(build: Build, tmp_path: Path) -> None:
    assert build.tag in run("umoci", "ls", "--layout", str(build.layout)).stdout.split()
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{build.layout}:{build.tag}", str(bundle))
    rootfs = bundle / "rootfs"
    assert sorted(p.name for p in rootfs.iterdir()) == ["plugin.wasm"]
    unpacked = rootfs / "plugin.wasm"
    assert unpacked.read_bytes() == build.wasm
    assert unpacked.stat().st_mode & 0o777 == 0o644


def test_the_layer_is_what_istio_extracts(build: Build) -> None:
    assert istio_extract(build.manifest, build.blob) == build.wasm
    with tarfile.open(fileobj=io.BytesIO(build.blob(build.manifest["layers"][0]["digest"])), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [(m.name, m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members] == [
        ("plugin.wasm", 0o644, 0, 0, "", "", 0)
    ]
    # The header comment of manifests.yaml records the module's own digest for auditors.
    assert f"# plugin.wasm sha256: {sha256(build.wasm)}\n" in (build.out / "manifests.yaml").read_text()


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → openAPIV3Schema, for served versions only."""
    schemas = {}
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if not crd:
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def undeclared_fields(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields Kubernetes' strict field validation would reject: keys of an object whose schema
    lists `properties` without allowing others (`additionalProperties` or
    `x-kubernetes-preserve-unknown-fields`)."""
    found = []
    if isinstance(instance, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        for key, value in instance.items():
            if properties is not None and key in properties:
                found += undeclared_fields(value, properties[key], f"{path}.{key}")
            elif isinstance(additional, dict):
                found += undeclared_fields(value, additional, f"{path}.{key}")
            elif properties is not None and not additional and not schema.get("x-kubernetes-preserve-unknown-fields"):
                found.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            found += undeclared_fields(item, schema["items"], f"{path}[{i}]")
    return found


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# The EnvoyFilter API (networking.istio.io/v1alpha3), as far as the manifests use it; its CRD's
# schema declares `patch.value` as free-form, so these are the checks that schema could make.
ENVOY_FILTER_APPLY_TO = {
    "LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER", "ROUTE_CONFIGURATION", "VIRTUAL_HOST",
    "HTTP_ROUTE", "CLUSTER", "EXTENSION_CONFIG", "BOOTSTRAP", "LISTENER_FILTER",
}
ENVOY_FILTER_OPERATIONS = {"MERGE", "ADD", "REMOVE", "INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST", "REPLACE"}
ENVOY_FILTER_CONTEXTS = {"ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"}


def check_envoy_filter(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "networking.istio.io/v1alpha3"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    spec = doc["spec"]
    assert set(spec) <= {"workloadSelector", "targetRefs", "configPatches", "priority"}, spec.keys()
    assert set(spec["workloadSelector"]) == {"labels"}
    assert all(isinstance(v, str) for v in spec["workloadSelector"]["labels"].values())
    for patch in spec["configPatches"]:
        assert set(patch) <= {"applyTo", "match", "patch"}, patch.keys()
        assert patch["applyTo"] in ENVOY_FILTER_APPLY_TO
        assert set(patch["patch"]) <= {"operation", "value", "filterClass"}
        assert patch["patch"]["operation"] in ENVOY_FILTER_OPERATIONS
        if patch["applyTo"] == "EXTENSION_CONFIG":
            # Istio applies only ADD to extension configs.
            assert patch["patch"]["operation"] == "ADD" and "match" not in patch
        else:
            match = patch["match"]
            assert set(match) <= {"context", "proxy", "listener", "routeConfiguration", "cluster"}
            assert match["context"] in ENVOY_FILTER_CONTEXTS
            assert set(match.get("listener", {})) <= {"portNumber", "filterChain", "listenerFilter", "name"}
            assert set(match.get("listener", {}).get("filterChain", {})) <= {"name", "sni", "transportProtocol", "applicationProtocols", "filter", "destinationPort"}
            assert set(match.get("listener", {}).get("filterChain", {}).get("filter", {})) <= {"name", "subFilter"}


def test_every_manifest_validates_against_its_istio_crd(build: Build) -> None:
    schemas = crd_schemas()
    assert build.hold_docs and build.plugin_docs, "a manifests file has no documents"
    for doc in build.docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key == ("networking.istio.io/v1alpha3", "EnvoyFilter"):
            check_envoy_filter(doc)
            assert DNS_LABEL.match(doc["metadata"]["name"]), doc["metadata"]["name"]
            continue
        assert key in schemas, f"{key} is not a served version of the Istio CRDs"
        schema = schemas[key]
        jsonschema.Draft7Validator(schema).validate(doc)
        assert undeclared_fields(doc["spec"], schema["properties"]["spec"], "spec") == [], key
        assert DNS_LABEL.match(doc["metadata"]["name"]), doc["metadata"]["name"]
        # YAML 1.1 readers (Kubernetes' included) turn plain `on`/`yes` keys into booleans.
        def keys_are_strings(node: Any) -> bool:
            if isinstance(node, dict):
                return all(isinstance(k, str) and keys_are_strings(v) for k, v in node.items())
            if isinstance(node, list):
                return all(keys_are_strings(v) for v in node)
            return True

        assert keys_are_strings(doc), doc


def test_the_schema_check_can_fail(build: Build) -> None:
    """The validation above would notice a wrong enum value or a misspelt field."""
    schemas = crd_schemas()
    plugin = json.loads(json.dumps(build.wasm_plugin()))
    schema = schemas[(plugin["apiVersion"], plugin["kind"])]
    plugin["spec"]["failStrategy"] = "FAIL_CLOSED"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(plugin)
    plugin["spec"]["failStrategy"] = "FAIL_CLOSE"
    plugin["spec"]["imagePullPolicies"] = "IfNotPresent"
    assert undeclared_fields(plugin["spec"], schema["properties"]["spec"], "spec") == ["spec.imagePullPolicies"]


def test_manifests_for_the_reference_scenario(build: Build) -> None:
    spec = build.wasm_plugin()["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "sleep"}}
    assert spec["phase"] == "AUTHN"
    assert spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["imagePullPolicy"] == "IfNotPresent"
    assert spec["match"] == [{"mode": "CLIENT"}]
    # Every secret of the policy, each a placeholder; never a value.
    secrets = spec["pluginConfig"]["secrets"]
    assert sorted(secrets) == ["dashscope_api_key", "judge_api_key"]
    for name, value in secrets.items():
        assert re.fullmatch(r"\$\{GUARD_[A-Z0-9_]+\}", value), (name, value)

    entries = {d["spec"]["hosts"][0]: d["spec"] for d in build.of_kind("ServiceEntry")}
    assert sorted(entries) == ["dashscope.aliyuncs.com", "guard-llm.internal"]
    assert entries["dashscope.aliyuncs.com"]["ports"] == [{"number": 80, "name": "http", "protocol": "HTTP", "targetPort": 443}]
    assert entries["dashscope.aliyuncs.com"]["resolution"] == "DNS"
    assert entries["dashscope.aliyuncs.com"]["location"] == "MESH_EXTERNAL"
    # The judge's cluster outbound|80||guard-llm.internal exists only once Istio knows the host.
    assert entries["guard-llm.internal"]["ports"][0]["number"] == 80
    rules = {d["spec"]["host"]: d["spec"] for d in build.of_kind("DestinationRule")}
    assert rules == {
        "dashscope.aliyuncs.com": {
            "host": "dashscope.aliyuncs.com",
            "trafficPolicy": {"tls": {"mode": "SIMPLE", "sni": "dashscope.aliyuncs.com"}},
        }
    }
    # Egress first, the plugin last: its judge's cluster exists when it starts.
    assert build.plugin_docs[-1]["kind"] == "WasmPlugin"
    assert spec["pluginConfig"]["hold_request_headers"] is False
    # Both variants raise the outbound listener's buffer limit to what the e2e Envoy runs with.
    for docs in (build.hold_docs, build.plugin_docs):
        limits = [
            p["patch"]["value"]["per_connection_buffer_limit_bytes"]
            for d in docs
            if d["kind"] == "EnvoyFilter"
            for p in d["spec"]["configPatches"]
            if p["applyTo"] == "LISTENER"
        ]
        assert limits == [GUARD_BUFFER_LIMIT]
    # The two variants differ only in how the guard is put in: the egress documents are the same.
    assert build.hold_docs[:-1] == [d for d in build.plugin_docs if d["kind"] not in ("WasmPlugin", "EnvoyFilter")]


def test_the_hold_variant_sets_the_envoy_flag_and_the_plugin_mode_together(build: Build) -> None:
    envoy_filter = build.hold_filter()
    assert envoy_filter["spec"]["workloadSelector"] == {"labels": {"app": "sleep"}}
    config = build.hold_wasm_config()
    assert config["allow_on_headers_stop_iteration"] is True
    plugin_config = json.loads(config["configuration"]["value"])
    assert plugin_config["hold_request_headers"] is True
    assert sorted(plugin_config["secrets"]) == ["dashscope_api_key", "judge_api_key"]
    remote = config["vm_config"]["code"]["remote"]
    assert remote["http_uri"]["uri"] == f"oci://{IMAGE}:{build.tag}"
    assert remote["sha256"] == build.manifest_digest.removeprefix("sha256:")
    [insert] = [p for p in envoy_filter["spec"]["configPatches"] if p["applyTo"] == "HTTP_FILTER"]
    assert insert["patch"]["value"]["name"] == build.hold_filter()["spec"]["configPatches"][0]["patch"]["value"]["name"]


def test_the_hold_variants_wasm_config_runs_in_envoy(build: Build, start_envoy, judge, mock_upstream, mock_judge) -> None:
    """The PluginConfig exactly as manifests.yaml writes it (fields, enums, the plugin
    configuration), with only the image swapped for the local module istio-agent would fetch and
    the placeholders filled in: Envoy 1.40 takes it, and it holds heads of denied requests."""
    config = json.loads(json.dumps(build.hold_wasm_config()))
    config["vm_config"]["code"] = {"local": {"filename": str(build.out / "plugin.wasm")}}
    value = config["configuration"]["value"]
    for name, secret in SECRETS.items():
        value = value.replace("${GUARD_" + name.upper() + "}", secret)
    config["configuration"]["value"] = value
    envoy = start_envoy(build.out / "plugin.wasm", None, {REFERENCE_JUDGE: judge.port}, wasm_config=config)
    envoy.wait_for_log("request heads held until the body is decided")
    response = chat(envoy, "my QQ 账号 is 1111111")
    assert response.status == 403, response.body
    time.sleep(0.2)
    assert mock_upstream.heads == []
    response = chat(envoy, "Write a haiku about tea.")
    assert response.status == 200, response.body
    [request] = mock_upstream.requests
    assert header_values(request, "authorization") == [f"Bearer {SECRETS['dashscope_api_key']}"]


def test_two_builds_are_identical(builds: tuple[Build, Build]) -> None:
    def tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a, b = (tree(x.out) for x in builds)
    assert sorted(a) == sorted(b)
    different = [name for name in a if a[name] != b[name]]
    assert different == [], f"differ between two builds: {different}"
    # index.json, oci-layout, config, layer, manifest; plugin.wasm; the two manifests files; the
    # metric labels' configuration for Istio and for a plain Envoy.
    assert len(a) == 10, sorted(a)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1, for this test only."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("Debian's docker-registry is not installed (apt-get install docker-registry)")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "data")}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, f"docker-registry exited: {process.stderr.read() if process.stderr else ''}"
            assert time.monotonic() < deadline, "docker-registry did not start within 15 s"
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_pushed_image_keeps_the_digest_istio_checks(build: Build, registry: str) -> None:
    remote = f"{registry}/guard/dashscope-egress:{build.tag}"
    run("skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", build.ref(), f"docker://{remote}")
    inspect = json.loads(run("skopeo", "inspect", "--tls-verify=false", f"docker://{remote}").stdout)
    assert inspect["Digest"] == build.manifest_digest

    # What a registry client (go-containerregistry, in Istio) computes: sha256 of the served bytes.
    request = urllib.request.Request(
        f"http://{registry}/v2/guard/dashscope-egress/manifests/{build.tag}", headers={"Accept": OCI_MANIFEST}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        served = response.read()
        assert response.headers["Docker-Content-Digest"] == build.manifest_digest
    assert sha256(served) == build.wasm_plugin()["spec"]["sha256"]

    def read_remote_blob(digest: str) -> bytes:
        url = f"http://{registry}/v2/guard/dashscope-egress/blobs/{digest}"
        with urllib.request.urlopen(url, timeout=30) as response:
            data = response.read()
        assert "sha256:" + sha256(data) == digest
        return data

    assert istio_extract(json.loads(served), read_remote_blob) == build.wasm
